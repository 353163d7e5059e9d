"""Noisy-label runs, run inline (the worker's code path in this process): validation, the one-open-run rule, who may
start one, the detectors' flags and the combined suspicion, cancel (queued, running, waiting for the gpu queue),
retry, the hand-over to the reward-model task and the reaper."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from annotation.analysis.noise.detect import DETECTORS
from annotation.analysis.noise.suspicion import Suspicion
from annotation.models import Judgment, LabelFlag, Membership, NoiseRun
from annotation.services.label_flags import label_flags_replace
from annotation.services.noise_runs import (
    HEARTBEAT_TIMEOUT,
    MIN_JUDGMENTS,
    PHASE_AWAITING_MODEL,
    noise_run_cancel,
    noise_run_execute,
    noise_run_finish,
    noise_run_retry,
    noise_run_start,
    noise_runs_reap,
)
from tests.annotation.noise_runs_data import comparisons_of, crowd, judge, judgment
from tests.factories import MembershipFactory, ProjectFactory, UserFactory
from workbench.celery import app
from workbench.exceptions import ApplicationError, Conflict, NotFound, PermissionDenied

pytestmark = pytest.mark.django_db
Status = NoiseRun.Status


@pytest.fixture
def built():
    project = ProjectFactory(slug="noisy")
    return crowd(project, prompts=30, annotators=4)


def _start(project, detectors=None, **kwargs) -> NoiseRun:  # noqa: ANN001
    return noise_run_start(project=project, user=None, detectors=list(detectors or DETECTORS), **kwargs)


def test_start_records_the_run_and_queues_it_after_commit(built, django_capture_on_commit_callbacks) -> None:
    researcher = MembershipFactory(project=built.project, role=Membership.Role.RESEARCHER).user
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        run = noise_run_start(project=built.project, user=researcher, detectors=["cycle", "too_fast"], folds=3)
    assert len(callbacks) == 1
    run.refresh_from_db()
    assert (run.status, run.detectors, run.options, run.attempt) == (Status.QUEUED, ["cycle", "too_fast"],
                                                                   {"folds": 3, "seeds": 1}, 1)  # fmt: skip
    assert run.created_by == researcher


@pytest.mark.parametrize(
    ("kwargs", "field", "words"),
    [
        ({"detectors": ["cycle", "astrology"]}, "detectors", "unknown detector 'astrology'"),
        ({"detectors": []}, "detectors", "Choose at least one detector"),
        ({"detectors": ["cycle"], "folds": 1}, "folds", "from 2 to 10"),
        ({"detectors": ["cycle"], "folds": 11}, "folds", "from 2 to 10"),
        ({"detectors": ["cycle"], "seeds": 0}, "seeds", "from 1 to 10"),
        # 30 prompts: 10 folds need 20, so 16 folds would not be allowed anyway; 10 folds of 2 prompts pass, a
        # project of 8 prompts does not (below).
    ],
)
def test_bad_requests_name_their_field(built, kwargs, field, words) -> None:  # noqa: ANN001
    with pytest.raises(ApplicationError) as refused:
        noise_run_start(project=built.project, user=None, **kwargs)
    assert refused.value.extra["field"] == field and words in refused.value.message
    assert not NoiseRun.objects.exists()


def test_too_few_judgments_or_prompts_is_a_clear_error() -> None:
    project = ProjectFactory(slug="tiny")
    who = judge(project, "h")
    for comparison in comparisons_of(project, MIN_JUDGMENTS - 1):
        judgment(comparison, who, [1, 2])
    with pytest.raises(ApplicationError, match=f"has {MIN_JUDGMENTS - 1} active judgments; the detectors need"):
        _start(project)
    small = crowd(ProjectFactory(slug="few-prompts"), prompts=8, annotators=3)  # 32 judgments, 8 prompts
    with pytest.raises(ApplicationError, match="5 folds need at least 10 prompts") as refused:
        _start(small.project, ["reward_model"])
    assert refused.value.extra["field"] == "folds"
    assert _start(small.project, ["reward_model"], folds=4).status == Status.QUEUED


def test_only_researchers_and_admins_start_runs(built) -> None:
    annotator = MembershipFactory(project=built.project, role=Membership.Role.ANNOTATOR).user
    outsider = MembershipFactory(role=Membership.Role.RESEARCHER).user  # a researcher of another project
    with pytest.raises(PermissionDenied):
        noise_run_start(project=built.project, user=annotator, detectors=["cycle"])
    with pytest.raises(NotFound):
        noise_run_start(project=built.project, user=outsider, detectors=["cycle"])
    admin = UserFactory(username="root", is_superuser=True)
    assert noise_run_start(project=built.project, user=admin, detectors=["cycle"]).created_by == admin


def test_a_second_open_run_on_the_project_is_refused(built) -> None:
    first = _start(built.project)
    with pytest.raises(Conflict, match=f"Noise run {first.pk} of this project is still queued"):
        _start(built.project)
    other = crowd(ProjectFactory(slug="elsewhere"), prompts=10, annotators=2)
    assert _start(other.project).status == Status.QUEUED  # other projects are not blocked
    noise_run_cancel(run=first)
    assert _start(built.project).status == Status.QUEUED


def test_a_run_writes_each_detectors_flags_and_the_combined_suspicion(built) -> None:
    run = _start(built.project)
    noise_run_execute(run_id=run.pk)
    run.refresh_from_db()
    assert run.status == Status.SUCCEEDED, run.error
    assert run.phase == "done" and run.finished_at >= run.started_at and run.worker
    judgments = Judgment.objects.filter(project=built.project).count()
    assert run.rows_done == judgments == 150
    report = run.report
    assert report["judgments"] == judgments and report["pairs"] == judgments
    flags = LabelFlag.objects.filter(project=built.project)
    for name in [*DETECTORS, "combined"]:
        assert report["detectors"][name]["flags"] == flags.filter(detector=name).count(), name
        assert report["detectors"][name]["seconds"] >= 0
        above = flags.filter(detector=name, score__gt=0.5).count()
        assert report["detectors"][name]["above_half"] == above
        assert flags.filter(detector=name).exclude(run=run).count() == 0
    assert flags.filter(detector="combined").count() > 0
    # The spammer (always the first shown, in half a second) is what the detectors are for.
    spam = built.judges["spam"]
    combined = {f.judgment_id: f.score for f in flags.filter(detector="combined")}
    by_judge: dict[int, list[float]] = {}
    for j in Judgment.objects.filter(project=built.project):
        by_judge.setdefault(j.judge_id, []).append(combined.get(j.pk, 0.0))
    spam_mean = sum(by_judge[spam.pk]) / len(by_judge[spam.pk])
    careful = [sum(v) / len(v) for k, v in by_judge.items() if k != spam.pk]
    assert spam_mean > max(careful), (spam_mean, careful)


def test_a_rerun_replaces_the_flags_and_the_combined_score_reads_every_detector(built) -> None:
    first = _start(built.project, ["too_fast"])
    noise_run_execute(run_id=first.pk)
    second = _start(built.project, ["cycle"])
    noise_run_execute(run_id=second.pk)
    second.refresh_from_db()
    assert second.status == Status.SUCCEEDED, second.error
    # too_fast's flags (from the first run) still count in the combined score of the second.
    assert second.report["detectors"]["too_fast"]["this_run"] is False
    assert second.report["detectors"]["cycle"]["this_run"] is True
    assert LabelFlag.objects.filter(detector="combined").exclude(run=second).count() == 0
    too_fast = LabelFlag.objects.filter(detector="too_fast", score__gt=0.5).values_list("judgment_id", flat=True)
    assert set(too_fast) <= set(LabelFlag.objects.filter(detector="combined").values_list("judgment_id", flat=True))
    third = _start(built.project, ["too_fast"])
    noise_run_execute(run_id=third.pk)
    assert set(LabelFlag.objects.filter(detector="too_fast").values_list("run_id", flat=True)) == {third.pk}


def test_cancel_a_queued_run_ends_it_and_the_task_does_nothing(built) -> None:
    run = noise_run_cancel(run=_start(built.project))
    assert run.status == Status.CANCELLED and run.finished_at is not None
    noise_run_execute(run_id=run.pk)
    run.refresh_from_db()
    assert run.status == Status.CANCELLED and run.started_at is None
    assert not LabelFlag.objects.exists()
    with pytest.raises(Conflict, match="already finished"):
        noise_run_cancel(run=run)


def test_cancel_of_a_running_run_stops_it_before_its_next_detector(built) -> None:
    run = _start(built.project, ["too_fast", "cycle"])
    # The request arrives once the worker has claimed it (the queued path is above): the flag is all the task sees.
    NoiseRun.objects.filter(pk=run.pk).update(status=Status.RUNNING)
    assert noise_run_cancel(run=run).cancel_requested
    NoiseRun.objects.filter(pk=run.pk).update(status=Status.QUEUED)  # let this process claim it, flag still set
    noise_run_execute(run_id=run.pk)
    run.refresh_from_db()
    assert run.status == Status.CANCELLED and run.phase == "cancelled"
    assert not LabelFlag.objects.exists()


def _purge_gpu_queue() -> None:
    with app.connection_for_write() as connection:
        connection.default_channel.queue_purge("gpu")


def test_the_reward_model_is_handed_to_the_gpu_queue_and_cancel_there_is_immediate(built) -> None:
    run = _start(built.project, ["too_fast", "reward_model", "confident_learning"])
    try:
        noise_run_execute(run_id=run.pk)
        run.refresh_from_db()
        assert (run.status, run.phase, run.heartbeat_at) == (Status.RUNNING, PHASE_AWAITING_MODEL, None)
        assert run.report["flags"] == {"too_fast": LabelFlag.objects.filter(detector="too_fast").count()}
        with app.connection_for_write() as connection:
            _, waiting, _ = connection.default_channel.queue_declare("gpu", passive=True)
        assert waiting >= 1
        assert noise_runs_reap(now=timezone.now() + timedelta(days=1)) == 0  # no heartbeat is due from us
        run = noise_run_cancel(run=run)
        assert run.status == Status.CANCELLED
    finally:
        _purge_gpu_queue()


def test_finish_combines_the_model_flags_the_gpu_task_wrote(built) -> None:
    run = _start(built.project, ["too_fast", "reward_model"])
    NoiseRun.objects.filter(pk=run.pk).update(status=Status.RUNNING, phase=PHASE_AWAITING_MODEL)
    target = built.judgments[0]
    label_flags_replace(run=run, detector="reward_model", suspicions=[Suspicion(target.pk, 0.97, "margin -3.1")])
    run = noise_run_finish(run=run)
    assert run.status == Status.SUCCEEDED
    assert run.report["detectors"]["reward_model"]["above_half"] == 1
    combined = LabelFlag.objects.get(detector="combined", judgment=target)
    assert combined.score >= 0.97 and combined.run_id == run.pk


def test_retry_runs_a_failed_run_again_as_a_new_attempt(built, django_capture_on_commit_callbacks) -> None:
    run = _start(built.project, ["too_fast"])
    NoiseRun.objects.filter(pk=run.pk).update(status=Status.FAILED, error="boom", finished_at=timezone.now())
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        run = noise_run_retry(run=run)
    assert len(callbacks) == 1  # queued after commit; run it here, as a worker would
    assert (run.status, run.attempt, run.error, run.finished_at) == (Status.QUEUED, 2, "", None)
    noise_run_execute(run_id=run.pk)
    run.refresh_from_db()
    assert run.status == Status.SUCCEEDED and run.error == "" and run.attempt == 2
    with pytest.raises(Conflict, match="Only a failed or cancelled run can be retried"):
        noise_run_retry(run=run)


def test_retry_is_refused_while_another_run_of_the_project_is_open(built) -> None:
    old = _start(built.project, ["too_fast"])
    noise_run_cancel(run=old)
    _start(built.project, ["cycle"])
    with pytest.raises(Conflict, match="still queued"):
        noise_run_retry(run=old)


def test_the_reaper_fails_silent_runs_only(built) -> None:
    silent = _start(built.project, ["too_fast"])
    old = timezone.now() - HEARTBEAT_TIMEOUT - timedelta(seconds=5)
    NoiseRun.objects.filter(pk=silent.pk).update(status=Status.RUNNING, heartbeat_at=old, started_at=old)
    other = crowd(ProjectFactory(slug="alive"), prompts=10, annotators=2)
    alive = _start(other.project, ["too_fast"])
    NoiseRun.objects.filter(pk=alive.pk).update(status=Status.RUNNING, heartbeat_at=timezone.now())
    assert noise_runs_reap() == 1
    silent.refresh_from_db()
    alive.refresh_from_db()
    assert silent.status == Status.FAILED and "stopped sending heartbeats" in silent.error
    assert alive.status == Status.RUNNING
    # The lost worker's late write lands nowhere: its attempt is over.
    noise_run_execute(run_id=silent.pk)
    silent.refresh_from_db()
    assert silent.status == Status.FAILED
    assert noise_run_retry(run=silent).status == Status.QUEUED
