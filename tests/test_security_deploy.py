"""Deploying: with the production variables documented in docs/security.md, `manage.py check --deploy` has nothing
to say (HSTS, SSL redirect, secure cookies, proxy header); the data directory is 0700 and the SQLite database (with
its WAL files) 0600, not sqlite's default 0644."""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DOC = REPO / "docs" / "security.md"


def _manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("WORKBENCH_", "DJANGO_"))}
    clean.update(DJANGO_SETTINGS_MODULE="workbench.settings", **env)
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=REPO, env=clean, capture_output=True, text=True, timeout=120
    )


def _production_variables() -> dict[str, str]:
    """The variables from the docs' block, so the test checks what operators are told to set."""
    block = DOC.read_text().split("## Deploying behind TLS", 1)[1]
    block = block.split("```", 2)[1]
    variables = dict(re.findall(r"^(?:export )?(WORKBENCH_[A-Z_]+)=(\S+)", block, re.MULTILINE))
    assert "WORKBENCH_HSTS_SECONDS" in variables and "WORKBENCH_SSL_REDIRECT" in variables, variables
    return variables


def test_check_deploy_is_silent_with_the_documented_production_variables(tmp_path: Path) -> None:
    env = _production_variables()
    env["WORKBENCH_SECRET_KEY"] = "k" * 20 + "Qw8-zXp3_r7TnV2yLm5bHc9sDf4gJa6"  # the docs say: a long random value
    env["WORKBENCH_DATA_DIR"] = str(tmp_path / "data")
    result = _manage("check", "--deploy", "--fail-level", "WARNING", env=env)
    assert result.returncode == 0 and "no issues" in result.stdout, result.stdout + result.stderr
    # Without them, Django warns about HSTS and the redirect: the variables are what silences it.
    bare = {"WORKBENCH_SECRET_KEY": env["WORKBENCH_SECRET_KEY"], "WORKBENCH_DATA_DIR": env["WORKBENCH_DATA_DIR"]}
    warned = _manage("check", "--deploy", env=bare)
    assert "security.W004" in warned.stderr + warned.stdout and "security.W008" in warned.stderr + warned.stdout


def test_the_data_directory_and_sqlite_database_are_private(tmp_path: Path) -> None:
    data = tmp_path / "data"
    result = _manage("migrate", "-v0", env={"WORKBENCH_DATA_DIR": str(data)})
    assert result.returncode == 0, result.stderr[-2000:]
    database = data / "workbench.sqlite3"
    assert database.stat().st_size > 0  # sqlite wrote its tables into the file made 0600
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    for path in [database, *data.glob("workbench.sqlite3-*"), data / "secret_key"]:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    # A database left 0644 by an older version is narrowed at the next start.
    database.chmod(0o644)
    data.chmod(0o755)
    assert _manage("check", env={"WORKBENCH_DATA_DIR": str(data)}).returncode == 0
    assert stat.S_IMODE(database.stat().st_mode) == 0o600 and stat.S_IMODE(data.stat().st_mode) == 0o700
