"""The model download streams: the response is a streaming response whose zip is written from the files on disk as
it is read, so a large model never sits in the web process's memory (it once took 542 MB for 8 downloads)."""

from __future__ import annotations

import shutil
import tracemalloc
import zipfile
from pathlib import Path

import pytest
from django.conf import settings
from django.http import StreamingHttpResponse
from django.test import Client
from django.urls import reverse

from annotation.models import Membership
from rewards.models import JobStatus, TrainingRun
from rewards.services.runs import config_from, training_run_create
from tests.factories import MembershipFactory, ProjectFactory

pytestmark = pytest.mark.django_db
LARGE = 96 * 1024 * 1024


def test_the_model_download_streams_from_disk_in_little_memory(tmp_path: Path) -> None:
    project = ProjectFactory(slug="dl")
    researcher = MembershipFactory(project=project, role=Membership.Role.RESEARCHER).user
    run = training_run_create(user=None, projects=[project], config=config_from({}), enqueue=False)
    folder = Path(settings.DATA_DIR) / "runs" / str(run.pk) / "attempt-1"
    shutil.rmtree(folder, ignore_errors=True)  # run ids repeat between tests; the data directory does not reset
    (folder / "sub").mkdir(parents=True)
    (folder / "config.json").write_text('{"model_type": "bert"}')
    (folder / "sub" / "notes.txt").write_text("hello")
    with (folder / "model.safetensors").open("wb") as weights:  # sparse: large on read, quick to make
        weights.truncate(LARGE)
        weights.seek(LARGE // 2)
        weights.write(b"middle")
    (folder / "link").symlink_to("/etc/hostname")  # never followed out of the artifact folder
    TrainingRun.objects.filter(pk=run.pk).update(status=JobStatus.SUCCEEDED, artifact_dir=f"runs/{run.pk}/attempt-1")
    client = Client()
    client.force_login(researcher)
    url = reverse("rewards:run_download", kwargs={"run_id": run.pk})
    b"".join(client.get(f"{url}?warm-up").streaming_content)  # imports and first-request set-up are not the download

    tracemalloc.start()
    try:
        response = client.get(url)
        assert isinstance(response, StreamingHttpResponse) and response.status_code == 200
        assert response["Content-Disposition"] == f'attachment; filename="reward-model-run-{run.pk}.zip"'
        target = tmp_path / "model.zip"
        with target.open("wb") as out:
            for chunk in response.streaming_content:
                out.write(chunk)
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 * 1024 * 1024, f"the download held {peak / 2**20:.0f} MB in memory"  # the model is 96 MB
    with zipfile.ZipFile(target) as archive:
        assert archive.testzip() is None
        names = sorted(archive.namelist())
        prefix = f"reward-model-run-{run.pk}"
        assert names == [f"{prefix}/config.json", f"{prefix}/model.safetensors", f"{prefix}/sub/notes.txt"]
        assert archive.getinfo(f"{prefix}/model.safetensors").file_size == LARGE
        with archive.open(f"{prefix}/model.safetensors") as weights:
            weights.seek(LARGE // 2)
            assert weights.read(6) == b"middle"
