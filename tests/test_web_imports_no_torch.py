"""The web process never imports torch or transformers (DESIGN §3): loading every URL's views leaves them out."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

SCRIPT = """
import sys, django
django.setup()
from django.urls import get_resolver
def walk(patterns):
    for p in patterns:
        if hasattr(p, "url_patterns"):
            walk(p.url_patterns)
        else:
            p.callback
walk(get_resolver().url_patterns)
import workbench.wsgi, annotation.tasks, annotation.admin, rewards.tasks, rewards.services.runs, rewards.forms
heavy = sorted(m for m in ("torch", "transformers", "accelerate") if m in sys.modules)
print("HEAVY:" + ",".join(heavy))
"""


def test_web_process_does_not_import_torch() -> None:
    env = dict(os.environ, DJANGO_SETTINGS_MODULE="tests.settings")
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT], cwd=REPO, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert "HEAVY:\n" in result.stdout + "\n", result.stdout
