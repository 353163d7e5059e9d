"""Noisy-label runs: start the detectors on a project and get a run (202); watch its phase and progress; cancel it;
retry a failed or cancelled one. The project's researchers and admins; annotators get 403, anyone else 404. What
the detectors compute and how they are combined: docs/noise.md."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import generics, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from annotation.models import NoiseRun
from annotation.selectors import project_get
from annotation.selectors.noise_runs import noise_run_get, noise_run_list, noise_run_progress
from annotation.services.noise_runs import (
    FOLDS,
    SEEDS,
    model_free_detectors,
    noise_run_cancel,
    noise_run_retry,
    noise_run_start,
    noise_runs_reap,
)

TAGS = ["noise"]


class NoiseRunProgressSerializer(serializers.Serializer):
    done = serializers.IntegerField(help_text="Steps finished: each detector asked for, then the combined score.")
    total = serializers.IntegerField()
    percent = serializers.IntegerField()


class NoiseRunSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    project = serializers.CharField(source="project.slug")
    status = serializers.ChoiceField(choices=NoiseRun.Status.choices)
    phase = serializers.CharField(help_text="What a running run is doing now.")
    detectors = serializers.ListField(child=serializers.CharField(), help_text="The detectors this run computes.")
    options = serializers.JSONField(help_text="`folds` and `seeds` of the cross-fitted reward model.")
    cancel_requested = serializers.BooleanField()
    attempt = serializers.IntegerField(help_text="1, then one more for each retry.")
    judgments = serializers.IntegerField(source="rows_done", help_text="Active judgments read (0 until read).")
    progress = serializers.SerializerMethodField()
    report = serializers.JSONField(
        help_text="`flags` written and `seconds` taken per detector; once succeeded, `detectors`: per detector its "
        "flags, how many score above 0.5, and its time."
    )
    error = serializers.CharField(help_text="Why it failed.")
    created_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)
    heartbeat_at = serializers.DateTimeField(allow_null=True, help_text="The worker's last sign of life.")

    @extend_schema_field(NoiseRunProgressSerializer)
    def get_progress(self, run: NoiseRun) -> dict[str, int]:
        progress = noise_run_progress(run=run)
        return {"done": progress.done, "total": progress.total, "percent": progress.percent}


class NoiseRunListApi(generics.ListAPIView):
    """A project's noise runs, newest first."""

    serializer_class = NoiseRunSerializer

    def get_queryset(self) -> Any:
        if getattr(self, "swagger_fake_view", False):
            return NoiseRun.objects.none()
        project = project_get(user=self.request.user, slug=self.kwargs["slug"])
        noise_runs_reap(project=project)  # a run whose worker died shows as failed, not running forever
        return noise_run_list(project=project)

    @extend_schema(tags=TAGS, operation_id="noise_runs_list")
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)


class NoiseRunCreateApi(APIView):
    """Start the detectors on the project: 202 with the run, computed by a worker; poll it until `status` is
    succeeded (the flags are written), failed (`error`) or cancelled. 409 while another run of the project is open;
    400 for an unknown detector, folds out of range, or a project with too few judgments."""

    class InputSerializer(serializers.Serializer):
        detectors = serializers.ListField(
            child=serializers.CharField(max_length=64),
            required=False,
            max_length=20,
            help_text="Detector names (docs/noise.md); default: every detector that needs no model. Add "
            "`reward_model` and `confident_learning` for the cross-fitted reward model (a gpu-queue worker).",
        )
        folds = serializers.IntegerField(required=False, default=5, min_value=FOLDS[0], max_value=FOLDS[1])
        seeds = serializers.IntegerField(required=False, default=1, min_value=SEEDS[0], max_value=SEEDS[1])

    @extend_schema(
        tags=TAGS, request=InputSerializer, responses={202: NoiseRunSerializer}, operation_id="noise_runs_create"
    )
    def post(self, request: Request, slug: str) -> Response:
        project = project_get(user=request.user, slug=slug)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        run = noise_run_start(
            project=project,
            user=request.user,
            detectors=list(data.get("detectors") or model_free_detectors()),
            folds=data["folds"],
            seeds=data["seeds"],
        )
        return Response(NoiseRunSerializer(run).data, status=status.HTTP_202_ACCEPTED)


class NoiseRunDetailApi(APIView):
    """A run's status, phase, progress and report."""

    @extend_schema(tags=TAGS, responses=NoiseRunSerializer, operation_id="noise_runs_retrieve")
    def get(self, request: Request, run_id: int) -> Response:
        run = noise_run_get(user=request.user, run_id=run_id)
        if noise_runs_reap(project=run.project):
            run.refresh_from_db()
        return Response(NoiseRunSerializer(run).data)


class NoiseRunCancelApi(APIView):
    """Cancel a run: a queued one (or one waiting for the gpu queue) ends at once, a running one before its next
    detector. 409 when it has already finished."""

    @extend_schema(tags=TAGS, request=None, responses={202: NoiseRunSerializer}, operation_id="noise_runs_cancel")
    def post(self, request: Request, run_id: int) -> Response:
        run = noise_run_cancel(run=noise_run_get(user=request.user, run_id=run_id))
        return Response(NoiseRunSerializer(run).data, status=status.HTTP_202_ACCEPTED)


class NoiseRunRetryApi(APIView):
    """Queue a failed or cancelled run again (its attempt goes up by one), with the same detectors and options. A
    run whose worker died is failed once its heartbeat is 90 s old, and can then be retried. 409 otherwise."""

    @extend_schema(tags=TAGS, request=None, responses={202: NoiseRunSerializer}, operation_id="noise_runs_retry")
    def post(self, request: Request, run_id: int) -> Response:
        run = noise_run_retry(run=noise_run_get(user=request.user, run_id=run_id))
        return Response(NoiseRunSerializer(run).data, status=status.HTTP_202_ACCEPTED)
