"""The API's test world: two projects, a user of every kind with an API token, data imported, an item leased."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from rest_framework.test import APIClient

from annotation.models import Assignment, Comparison, ExportJob, ImportJob, Membership, Project
from annotation.services.assignments import assignment_claim
from annotation.services.exports import export_create, export_run
from annotation.services.imports import import_file
from tests.factories import MembershipFactory, ProjectFactory, UserFactory
from workbench.tokens import api_token_create, api_token_revoke

WHO = ["anonymous", "annotator", "outsider", "researcher", "admin", "revoked"]


@dataclass
class World:
    project: Project
    other: Project
    users: dict[str, Any]
    keys: dict[str, str]
    job: ImportJob
    export: ExportJob
    assignment: Assignment
    comparison: Comparison

    def client(self, who: str) -> APIClient:
        client = APIClient()
        if who != "anonymous":
            client.credentials(HTTP_AUTHORIZATION=f"Token {self.keys[who]}")
        return client


def write_pairs(path: Path, pairs: int, prefix: str = "q") -> Path:
    path.write_text(
        "".join(
            json.dumps({"prompt": f"{prefix}{i}", "chosen": f"good {i}", "rejected": f"bad {i}"}) + "\n"
            for i in range(pairs)
        )
    )
    return path


@pytest.fixture
def world(tmp_path: Path) -> World:
    project = ProjectFactory(slug="demo", overlap=1)
    other = ProjectFactory(slug="other")
    users = {
        "admin": UserFactory(username="admin", is_superuser=True, is_staff=True),
        "researcher": MembershipFactory(project=project, role=Membership.Role.RESEARCHER, user__username="res").user,
        "annotator": MembershipFactory(project=project, role=Membership.Role.ANNOTATOR, user__username="ann").user,
        "outsider": MembershipFactory(project=other, role=Membership.Role.ANNOTATOR, user__username="out").user,
    }
    keys = {who: api_token_create(user=user, name="tests").key for who, user in users.items()}
    revoked = api_token_create(user=users["researcher"], name="old")
    api_token_revoke(user=users["researcher"], token_id=revoked.token.pk)
    keys["revoked"] = revoked.key
    data = write_pairs(tmp_path / "pairs.jsonl", 3)
    import_file(project=project, path=data)
    import_file(project=other, path=data)
    job = ImportJob.objects.create(project=project, path=str(data), original_name="pairs.jsonl", status="succeeded")
    export = export_create(project=project, user=users["researcher"], format="trl-pairwise", file_type="jsonl")
    export_run(job_id=export.pk)  # its on-commit run never fires inside the test's transaction
    export.refresh_from_db()
    assert export.status == ExportJob.Status.SUCCEEDED, export.error
    assignment = assignment_claim(project=project, user=users["annotator"])
    assert assignment is not None
    return World(
        project=project,
        other=other,
        users=users,
        keys=keys,
        job=job,
        export=export,
        assignment=assignment,
        comparison=Comparison.objects.filter(project=project).order_by("id").first(),
    )
