"""Settings fail at start-up with a message naming the variable."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def check(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if not k.startswith("WORKBENCH_")}
    full.update({"DJANGO_SETTINGS_MODULE": "workbench.settings", "WORKBENCH_DATA_DIR": str(REPO / "var-test-settings")})
    full.update(env)
    return subprocess.run([sys.executable, "manage.py", "check"], cwd=REPO, env=full, capture_output=True, text=True)


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("WORKBENCH_DEBUG", "maybe", "WORKBENCH_DEBUG='maybe' is not a boolean"),
        ("WORKBENCH_DATABASE_URL", "mysql://x/y", "WORKBENCH_DATABASE_URL='mysql://x/y' has scheme 'mysql'"),
        ("WORKBENCH_BROKER_URL", "kafka://x", "WORKBENCH_BROKER_URL='kafka://x' has scheme 'kafka'"),
        ("WORKBENCH_MAX_UPLOAD_MB", "lots", "WORKBENCH_MAX_UPLOAD_MB='lots' is not an integer"),
    ],
)
def test_bad_value_fails_naming_the_variable(variable: str, value: str, message: str) -> None:
    result = check({variable: value})
    assert result.returncode != 0
    assert message in result.stderr


def test_defaults_pass_the_system_check() -> None:
    result = check({})
    assert result.returncode == 0, result.stderr
