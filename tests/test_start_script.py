"""scripts/start for real, on a fresh data directory (issue 17, "First start"): the first preparation migrates and
loads the demo; a second start with nothing changed skips the install, the migrations, collectstatic and the demo
import, serves the login page, and prints the demo login once, under the URL."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

from tests.conftest import REPO


def _env(data_dir: Path, port: int) -> dict[str, str]:
    # The embedded defaults, as a newcomer gets them: none of the test run's settings or database URLs.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WORKBENCH_", "DJANGO_"))}
    return env | {"WORKBENCH_DATA_DIR": str(data_dir), "WORKBENCH_PORT": str(port), "PYTHONDONTWRITEBYTECODE": "1"}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _prepare(env: dict[str, str]) -> tuple[str, float]:
    started = time.monotonic()
    result = subprocess.run(
        ["scripts/start", "--prepare-only"], cwd=REPO, env=env, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout, time.monotonic() - started


def test_a_second_start_with_nothing_changed_skips_every_step(tmp_path: Path) -> None:
    port = _free_port()
    env = _env(tmp_path / "var", port)

    first, _ = _prepare(env)
    assert "==> migrating the database" in first and "==> collecting static files" in first
    assert "==> loading the demo data" in first
    assert first.count("Log in as") == 1 and "(new demo users)" in first
    password = (tmp_path / "var" / "demo_password").read_text().strip()
    assert f"admin / {password}" in first

    second, prepare_seconds = _prepare(env)
    assert "nothing to install" in second
    assert "==> database: up to date, nothing to migrate" in second
    assert "==> static files: unchanged, not collected again" in second
    assert "==> demo data: already loaded" in second
    assert "loading the demo data" not in second and "migrating" not in second
    assert second.count("Log in as") == 1 and password in second

    # The whole second start, servers included: ready, serving, the login once.
    started = time.monotonic()
    process = subprocess.Popen(
        ["scripts/start"], cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True,
    )  # fmt: skip
    lines: list[str] = []
    try:
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line)
            if line.startswith("Press Ctrl-C"):
                break
        ready_seconds = time.monotonic() - started
        output = "".join(lines)
        assert f"Preference Workbench is running at http://127.0.0.1:{port}/" in output, output
        assert output.count("Log in as") == 1 and password in output
        assert "migrating" not in output and "loading the demo" not in output
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/accounts/login/", timeout=10) as response:
            assert response.status == 200 and b"Log in" in response.read()
    finally:
        os.killpg(process.pid, signal.SIGTERM)  # the script's trap stops the web server and the workers
        process.wait(timeout=60)
    print(f"second start: prepare {prepare_seconds:.1f} s, ready {ready_seconds:.1f} s")
