"""A run's base model is a reference the server resolves with the launching user's permission, never a path:
the cross-project weight theft (train from another project's run artifact, download the result) is refused on the
page, the API, the command and again on the worker; a raw path is refused with one message whether or not it exists;
a hub name is loaded offline or refused naming it; the picker lists what the user may use, with sizes; what pages and
the API show of a run carries no server path."""

from __future__ import annotations

import html
import json
import re
import shutil
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from annotation.models import Membership
from annotation.services.imports import import_file
from rewards.models import JobStatus, TrainingRun
from rewards.services.base_models import base_model_choices, human_size, resolve_for_run
from rewards.services.execution import training_run_execute
from rewards.services.runs import config_from, training_run_create
from rewards.training import default_base_model_path
from tests.factories import MembershipFactory, ProjectFactory, UserFactory
from tests.rewards.conftest import keyword_pairs_file

pytestmark = pytest.mark.django_db(transaction=True)
RESEARCHER = Membership.Role.RESEARCHER
SMALL = {"max_length": 64, "batch_size": 8, "epochs": 1, "learning_rate": 2e-3, "eval_fraction": 0.25}


@pytest.fixture
def two_projects(tmp_path: Path, tiny_model: str, tiny_model_ref: str) -> dict:
    """P1 and P2 with judgments; P2's owner has a finished run whose artifact is a loadable model."""
    p1, p2 = ProjectFactory(slug="p1"), ProjectFactory(slug="p2")
    for project in (p1, p2):
        path = keyword_pairs_file(tmp_path / f"{project.slug}.jsonl", 24)
        import_file(project=project, path=path, options={"judge": f"{project.slug}-src"})
    p1_only = MembershipFactory(project=p1, role=RESEARCHER, user=UserFactory(username="p1-only")).user
    owner = MembershipFactory(project=p2, role=RESEARCHER, user=UserFactory(username="p2-owner")).user
    both = MembershipFactory(project=p1, role=RESEARCHER, user=UserFactory(username="both")).user
    MembershipFactory(project=p2, role=RESEARCHER, user=both)
    config = config_from({"base_model": tiny_model_ref})
    secret = training_run_create(user=owner, projects=[p2], config=config, enqueue=False)
    artifact = Path(settings.DATA_DIR) / "runs" / str(secret.pk) / "attempt-1"
    shutil.rmtree(artifact, ignore_errors=True)  # run ids repeat between tests; the data directory does not reset
    shutil.copytree(tiny_model, artifact)
    TrainingRun.objects.filter(pk=secret.pk).update(
        status=JobStatus.SUCCEEDED, artifact_dir=str(artifact.relative_to(settings.DATA_DIR))
    )
    return {"p1": p1, "p2": p2, "p1_only": p1_only, "owner": owner, "both": both, "secret": secret,
            "artifact": artifact}  # fmt: skip


def api_as(user) -> APIClient:  # noqa: ANN001
    client = APIClient()
    client.force_authenticate(user)
    return client


def launch(user, project: str, base_model: str):  # noqa: ANN001, ANN201
    body = {"projects": [project], "base_model": base_model, **SMALL}
    return api_as(user).post("/api/v1/runs/create/", body, format="json")


def form_fields(project, base_model: str) -> dict:  # noqa: ANN001
    return {"projects": [project.pk], "judge_kinds": ["imported"], "loss": "bradley_terry", "base_model": base_model,
            "epochs": "1", "batch_size": "8", "max_length": "64", "learning_rate": "0.002", "truncation_side": "left",
            "warmup_ratio": "0", "weight_decay": "0", "grad_accum": "1", "seed": "0", "precision": "fp32",
            "eval_fraction": "0.25"}  # fmt: skip


def test_a_researcher_of_p1_cannot_train_from_p2s_run(two_projects: dict) -> None:
    w = two_projects
    reference = f"run:{w['secret'].pk}"
    # The attack as reported: the artifact's server path as the base model, then the run reference instead.
    for base_model in (str(w["artifact"]), reference):
        refused = launch(w["p1_only"], "p1", base_model)
        assert refused.status_code == 400, refused.content
        assert refused.json()["error"]["details"]["field"] == "base_model"
    reason = launch(w["p1_only"], "p1", reference).json()["error"]["message"]
    assert "not a finished run you may use" in reason and "researchers of every project" in reason
    # A run id that does not exist answers the same: run ids do not leak.
    assert launch(w["p1_only"], "p1", "run:999999").json()["error"]["message"] == reason.replace(
        reference, "run:999999"
    )
    # The launch page and the command refuse it too.
    client = Client()
    client.force_login(w["p1_only"])
    page = client.post(reverse("rewards:run_new"), form_fields(w["p1"], reference))
    assert page.status_code == 400 and "not a finished run you may use" in page.content.decode()
    with pytest.raises(CommandError, match="not a finished run you may use"):
        call_command("train_reward_model", "--project", "p1", "--base-model", reference, "--user", "p1-only",
                     stdout=StringIO())  # fmt: skip
    with pytest.raises(CommandError, match="pass --user"):
        call_command("train_reward_model", "--project", "p1", "--base-model", reference, stdout=StringIO())
    assert not TrainingRun.objects.filter(created_by=w["p1_only"]).exists()


def test_a_member_of_both_projects_continues_from_the_run(two_projects: dict) -> None:
    w = two_projects
    created = launch(w["both"], "p1", f"run:{w['secret'].pk}")
    assert created.status_code == 201, created.content
    assert created.json()["config"]["base_model"] == f"run:{w['secret'].pk}"
    run = training_run_execute(run_id=created.json()["id"])
    assert run.status == JobStatus.SUCCEEDED, run.error
    # The owner of P2's run may use it on P2's data as well.
    assert launch(w["owner"], "p2", f"run:{w['secret'].pk}").status_code == 201


def test_the_worker_checks_again_when_membership_changed(two_projects: dict) -> None:
    w = two_projects
    created = launch(w["both"], "p1", f"run:{w['secret'].pk}")
    assert created.status_code == 201
    Membership.objects.filter(user=w["both"], project=w["p2"]).delete()
    run = training_run_execute(run_id=created.json()["id"])
    assert run.status == JobStatus.FAILED and "not a finished run you may use" in run.error
    assert "Traceback" not in run.error  # a refusal is its reason, not a stack


@pytest.mark.parametrize("launcher", ["api", "page", "command"])
def test_raw_paths_are_refused_alike_whether_they_exist_or_not(two_projects: dict, launcher: str) -> None:
    w = two_projects
    messages = {}
    for path in ("/etc/shadow", "/etc/nonexistent", str(default_base_model_path())):
        if launcher == "api":
            response = launch(w["p1_only"], "p1", path)
            assert response.status_code == 400
            message = response.json()["error"]["message"]
        elif launcher == "page":
            client = Client()
            client.force_login(w["p1_only"])
            response = client.post(reverse("rewards:run_new"), form_fields(w["p1"], path))
            assert response.status_code == 400
            found = re.search(r'<p class="form-error" role="alert">([^<]*)</p>', response.content.decode())
            message = html.unescape(found[1])
        else:
            with pytest.raises(CommandError) as raised:
                call_command("train_reward_model", "--project", "p1", "--base-model", path, stdout=StringIO())
            message = str(raised.value)
        messages[path] = message.replace(path, "PATH")
    assert len(set(messages.values())) == 1, messages  # no existence oracle
    only = next(iter(messages.values()))
    assert "Base model" in only and "shipped:<name>, cache:<repo id>, run:<id> or hub:<name>" in only
    assert not TrainingRun.objects.filter(created_by=w["p1_only"]).exists()


def test_a_hub_name_loads_offline_or_is_refused_naming_it(two_projects: dict) -> None:
    w = two_projects
    missing = launch(w["p1_only"], "p1", "hub:someone/not-downloaded")
    assert missing.status_code == 400
    message = missing.json()["error"]["message"]
    assert "someone/not-downloaded" in message and "offline" in message and "HF_HUB_OFFLINE" in message
    assert launch(w["p1_only"], "p1", "hub:workbench-test/tiny-bert").status_code == 201  # it is in the cache
    client = Client()
    client.force_login(w["p1_only"])
    fields = form_fields(w["p1"], "") | {"hub_model": "someone/not-downloaded"}
    page = client.post(reverse("rewards:run_new"), fields)
    assert page.status_code == 400 and "someone/not-downloaded" in page.content.decode()
    fields["hub_model"] = "workbench-test/tiny-bert"
    assert client.post(reverse("rewards:run_new"), fields).status_code == 302
    assert TrainingRun.objects.latest("id").config["base_model"] == "hub:workbench-test/tiny-bert"


def test_the_picker_lists_what_the_user_may_use_with_sizes(two_projects: dict) -> None:
    w = two_projects
    shipped = Path(default_base_model_path())
    shipped_size = human_size(sum(p.stat().st_size for p in shipped.rglob("*") if p.is_file()))
    client = Client()
    client.force_login(w["p1_only"])
    page = client.get(reverse("rewards:run_new")).content.decode()
    assert re.search(r'value="shipped:all-minilm-l6-v2"[^>]*checked', page)  # the default
    assert shipped_size in page and "22.7 M" in page  # all-MiniLM-L6-v2 has 22.7 M parameters
    assert 'value="cache:workbench-test/tiny-bert"' in page
    assert f'value="run:{w["secret"].pk}"' not in page  # P2's run is not P1's researcher's to use
    assert str(shipped) not in page and settings.DATA_DIR.as_posix() not in page
    for user, sees_run in ((w["both"], True), (w["owner"], True), (w["p1_only"], False)):
        listed = api_as(user).get("/api/v1/runs/base-models/").json()
        references = [row["reference"] for row in listed]
        assert references[0] == "shipped:all-minilm-l6-v2" and listed[0]["size_bytes"] > 80_000_000
        assert (f"run:{w['secret'].pk}" in references) is sees_run, user
    assert [c.reference for c in base_model_choices(user=w["both"]) if c.source == "run"] == [f"run:{w['secret'].pk}"]


def strings(value) -> list[str]:  # noqa: ANN001
    if isinstance(value, dict):
        return [s for v in value.values() for s in strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in strings(v)]
    return [value] if isinstance(value, str) else []


def test_run_detail_api_and_page_show_no_server_path(two_projects: dict, tiny_hf_cache: Path) -> None:
    w = two_projects
    created = launch(w["both"], "p1", "shipped:all-minilm-l6-v2")
    # Train it from the tiny model for speed, as a run from before references would have stored it (a raw path,
    # which is still honoured when it is a run artifact the launcher may see) ...
    legacy = str(w["artifact"])
    TrainingRun.objects.filter(pk=created.json()["id"]).update(config=created.json()["config"] | {"base_model": legacy})
    run = training_run_execute(run_id=created.json()["id"])
    assert run.status == JobStatus.SUCCEEDED, run.error
    detail = api_as(w["both"]).get(f"/api/v1/runs/{run.pk}/").json()
    found = [s for s in strings(detail) if s.startswith("/")]
    assert not found, found
    assert detail["config"]["base_model"] == f"run:{w['secret'].pk}"  # ... and shown as its reference
    listed = api_as(w["both"]).get("/api/v1/runs/").json()
    assert not [s for s in strings(listed) if s.startswith("/")]
    client = Client()
    client.force_login(w["both"])
    page = client.get(reverse("rewards:run_detail", kwargs={"run_id": run.pk})).content.decode()
    roots = {str(settings.DATA_DIR), str(Path(settings.DATA_DIR).resolve()), sys.prefix, str(tiny_hf_cache),
             str(settings.BASE_DIR), "/etc/", "/tmp/"}  # fmt: skip
    assert not [root for root in roots if root in page]
    # The downloaded model's own files name the reference, not the folder it was loaded from.
    artifact = Path(settings.DATA_DIR) / run.artifact_dir
    for name in ("config.json", "workbench.json", "README.md", "tokenizer_config.json"):
        text = (artifact / name).read_text()
        assert str(settings.DATA_DIR) not in text and str(Path(settings.DATA_DIR).resolve()) not in text, name
    assert json.loads((artifact / "workbench.json").read_text())["config"]["base_model"] == f"run:{w['secret'].pk}"


def test_old_runs_with_a_raw_path_resolve_only_when_safe(two_projects: dict) -> None:
    w = two_projects
    base = config_from({"base_model": "shipped:all-minilm-l6-v2", **SMALL}).to_dict()

    def old_run(user, path: str) -> TrainingRun:  # noqa: ANN001
        run = TrainingRun.objects.create(created_by=user, config=base | {"base_model": path})
        run.projects.set([w["p1"]])
        return run

    shipped = ("shipped:all-minilm-l6-v2", Path(default_base_model_path()))
    assert resolve_for_run(old_run(w["p1_only"], default_base_model_path())) == shipped
    continued = (f"run:{w['secret'].pk}", w["artifact"].resolve())
    assert resolve_for_run(old_run(w["both"], str(w["artifact"]))) == continued
    stolen = training_run_execute(run_id=old_run(w["p1_only"], str(w["artifact"])).pk)
    assert stolen.status == JobStatus.FAILED and "not a finished run you may use" in stolen.error
    elsewhere = training_run_execute(run_id=old_run(w["p1_only"], "/etc/shadow").pk)
    assert elsewhere.status == JobStatus.FAILED and "no longer accepted" in elsewhere.error
    shown = api_as(w["p1_only"]).get(f"/api/v1/runs/{elsewhere.pk}/").json()
    assert shown["config"]["base_model"] == "(a path on the server)"
