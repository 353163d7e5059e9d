"""The import page lists every bad row of a refused file, a page of 100 at a time."""

from __future__ import annotations

import json
import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from annotation.models import Judgment, Membership
from tests.annotation.verdict_files import verdict_row
from tests.factories import MembershipFactory, ProjectFactory

pytestmark = pytest.mark.django_db


def test_the_page_shows_all_150_errors_paged(django_capture_on_commit_callbacks) -> None:
    project = ProjectFactory(slug="paged")
    researcher = MembershipFactory(project=project, role=Membership.Role.RESEARCHER).user
    client = Client()
    client.force_login(researcher)
    rows = [verdict_row(f"bad{i}", winner="c") for i in range(150)]
    upload = SimpleUploadedFile("bad.jsonl", "".join(json.dumps(row) + "\n" for row in rows).encode())
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("annotation:import_upload", kwargs={"slug": "paged"}), {"file": upload})
    job_url = response["Location"]

    def rows_on(html: str) -> list[int]:
        return [int(n) for n in re.findall(r'<tr><td class="num">(\d+)</td><td><code>winner</code>', html)]

    first = client.get(job_url).content.decode()
    assert "150 errors" in first and "nothing was written" in first
    assert rows_on(first) == list(range(1, 101))
    assert "errors 1–100 of 150" in first and "?errors_page=2" in first
    second = client.get(job_url, {"errors_page": 2}).content.decode()
    assert rows_on(second) == list(range(101, 151))
    assert "must be a, b, tie or a response id, got &#x27;c&#x27;" in second
    assert not Judgment.objects.filter(project=project).exists()
