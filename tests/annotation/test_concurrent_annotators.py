"""Exact overlap under real concurrency: 20 annotator processes claim and submit over HTTP against a real gunicorn
server (several worker processes, several threads each) until the project is done. Every comparison ends with
exactly `overlap` judgments from distinct annotators, no judgment is lost, no request answers 5xx. Runs on
SQLite and, in the test command's second pass, on PostgreSQL (where claims use SKIP LOCKED)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from pathlib import Path

import pytest
from django.db import connection

from annotation.models import Assignment, Comparison, Judgment, Membership
from annotation.services.imports import import_file
from tests.factories import MembershipFactory, ProjectFactory, UserFactory

REPO = Path(__file__).resolve().parents[2]
ANNOTATORS = 20
OVERLAP = 3
COMPARISONS = 30


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(port: int, log: Path) -> subprocess.Popen:
    env = dict(os.environ, DJANGO_SETTINGS_MODULE="tests.settings")
    env["WORKBENCH_TEST_USE_DB_NAME"] = str(connection.settings_dict["NAME"])
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "workbench.wsgi", "-b", f"127.0.0.1:{port}", "-w", "3", "--threads", "4"],
        cwd=REPO,
        env=env,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert process.poll() is None, log.read_text()[-3000:]
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/accounts/login/", timeout=2).close()
            return process
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise AssertionError(f"gunicorn did not start:\n{log.read_text()[-3000:]}")


@pytest.mark.slow
def test_twenty_annotators_fill_overlap_three_exactly(transactional_db, tmp_path: Path) -> None:
    project = ProjectFactory(slug="race", overlap=OVERLAP, queue_order="sequential")
    data = tmp_path / "pairs.jsonl"
    data.write_text(
        "".join(
            json.dumps({"prompt": f"q{i}", "chosen": f"a{i}", "rejected": f"b{i}"}) + "\n" for i in range(COMPARISONS)
        )
    )
    import_file(project=project, path=data)
    users = [UserFactory(username=f"racer{i}") for i in range(ANNOTATORS)]
    for user in users:
        MembershipFactory(project=project, user=user, role=Membership.Role.ANNOTATOR)

    port = free_port()
    server = start_server(port, tmp_path / "gunicorn.log")
    try:
        clients = [
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "tests.annotator_client",
                    f"http://127.0.0.1:{port}",
                    "race",
                    user.username,
                    "pw",
                    str(tmp_path / f"{user.username}.json"),
                    "--skip-rate",
                    "0.05",
                    "--seed",
                    str(i),
                ],
                cwd=REPO,
            )  # fmt: skip
            for i, user in enumerate(users)
        ]
        for client in clients:
            assert client.wait(timeout=300) == 0
    finally:
        server.terminate()
        server.wait(timeout=20)

    reports = [json.loads((tmp_path / f"{user.username}.json").read_text()) for user in users]
    statuses = Counter()
    for report in reports:
        statuses.update(report["statuses"])
        assert not report["errors"], (report["username"], report["errors"][:5])
    assert not [s for s in statuses if s.startswith("5")], statuses

    human = Judgment.objects.filter(project=project, source=Judgment.Source.UI)
    for comparison in Comparison.objects.filter(project=project):
        judges = list(human.filter(comparison=comparison).values_list("judge_id", flat=True))
        assert len(judges) == OVERLAP and len(set(judges)) == OVERLAP, (comparison.pk, judges)
        assert comparison.slots_left == 0
    # No judgment lost: every accepted submission is stored, once, and linked to its assignment.
    accepted = [assignment for report in reports for assignment in report["submitted"]]
    assert len(accepted) == len(set(accepted)) == human.count() == COMPARISONS * OVERLAP
    assert set(Assignment.objects.filter(judgment__in=human).values_list("id", flat=True)) == set(accepted)
    assert sum(len(report["submitted"]) > 0 for report in reports) > 1  # the work really was shared
