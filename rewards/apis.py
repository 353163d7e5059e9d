"""Training runs over the API: list (paged), launch (settings in a nested `config`), status (progress and metrics),
cancel, restart. The same selectors and services as the run pages: a run is visible to admins and to researchers of
every one of its projects."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import generics, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from annotation.models import Judge
from rewards.models import TrainingRun
from rewards.selectors import researcher_projects, run_get, run_queryset_for_user
from rewards.services.base_models import (
    ALLOWED_FORMS,
    DEFAULT_BASE_MODEL,
    base_model_choices,
    base_model_resolve,
    scrub_config,
    scrub_paths,
)
from rewards.services.examples import DataFilters
from rewards.services.runs import (
    DEFAULT_JUDGE_KINDS,
    LAUNCH_DEFAULTS,
    config_from,
    training_run_cancel,
    training_run_create,
    training_run_restart,
    training_runs_reap,
)
from rewards.training import FIELD_CHOICES
from workbench.exceptions import PermissionDenied

TAGS = ["training"]


class RunSerializer(serializers.ModelSerializer):
    projects = serializers.SlugRelatedField(many=True, read_only=True, slug_field="slug")
    judge = serializers.SlugRelatedField(read_only=True, slug_field="name")
    percent = serializers.IntegerField(read_only=True)
    # What users see carries no server path: the base model as its reference, path-free errors.
    config = serializers.SerializerMethodField()
    error = serializers.SerializerMethodField()

    def get_config(self, run: TrainingRun) -> dict[str, Any]:
        return scrub_config(run.config)

    def get_error(self, run: TrainingRun) -> str:
        return scrub_paths(run.error)

    class Meta:
        model = TrainingRun
        fields = [
            "id", "name", "projects", "judge_kinds", "judge_names", "config", "status", "phase", "attempt",
            "percent", "step", "total_steps", "epoch", "loss", "accuracy", "samples_per_s", "tokens_per_s", "eta_s",
            "heartbeat_at", "started_at", "finished_at", "error", "data_stats", "dataset_fingerprint", "metrics",
            "artifact_dir", "judge", "created_at", "data_filters",
        ]  # fmt: skip
        read_only_fields = fields


class RunListApi(generics.ListAPIView):
    """The training runs you may see, newest first, paged like every list (`?page=N&page_size=M`)."""

    serializer_class = RunSerializer

    def get_queryset(self) -> Any:
        if getattr(self, "swagger_fake_view", False):
            return TrainingRun.objects.none()
        return run_queryset_for_user(user=self.request.user)

    @extend_schema(tags=TAGS, operation_id="runs_list")
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        training_runs_reap()
        return super().get(request, *args, **kwargs)


class RunConfigSerializer(serializers.Serializer):
    """The training settings of the launch page. Omitted ones take the page's defaults; unknown ones are a 400."""

    base_model = serializers.CharField(
        required=False, max_length=300, allow_blank=True, help_text=f"A reference: {ALLOWED_FORMS}."
    )
    loss = serializers.ChoiceField(choices=FIELD_CHOICES["loss"], required=False)
    epochs = serializers.FloatField(min_value=0.01, max_value=100, required=False)
    batch_size = serializers.IntegerField(min_value=1, max_value=4096, required=False)
    max_length = serializers.IntegerField(min_value=16, max_value=32768, required=False)
    learning_rate = serializers.FloatField(min_value=1e-8, max_value=1, required=False)
    truncation_side = serializers.ChoiceField(choices=FIELD_CHOICES["truncation_side"], required=False)
    warmup_ratio = serializers.FloatField(min_value=0, max_value=1, required=False)
    weight_decay = serializers.FloatField(min_value=0, max_value=1, required=False)
    grad_accum = serializers.IntegerField(min_value=1, max_value=1024, required=False)
    seed = serializers.IntegerField(min_value=0, max_value=2**31 - 1, required=False)
    epsilon = serializers.FloatField(
        min_value=0, max_value=0.49, required=False, allow_null=True, help_text="Noise-robust losses; null: estimate."
    )
    lora = serializers.BooleanField(required=False)
    precision = serializers.ChoiceField(choices=FIELD_CHOICES["precision"], required=False)
    # The pairwise losses on lists: "together" (a list's pairs in one step) or "shuffled" (TRL's recipe).
    list_pairs = serializers.ChoiceField(choices=FIELD_CHOICES["list_pairs"], required=False)
    eval_fraction = serializers.FloatField(min_value=0, max_value=0.9, required=False)
    max_steps = serializers.IntegerField(min_value=1, required=False, allow_null=True)


# What a run launched with no settings trains with: the API's defaults are the launch page's (LAUNCH_DEFAULTS).
RUN_DEFAULTS: dict[str, Any] = {"base_model": DEFAULT_BASE_MODEL, **LAUNCH_DEFAULTS}


class RunCreateApi(APIView):
    """Launch a run on a gpu-queue worker: 201 with the run; poll it until `status` is finished. The training
    settings go in `config` (as the run shows them); each may also stand at the top level, as before, but not both."""

    class InputSerializer(RunConfigSerializer):
        """The data (projects, judges) and the training settings, in `config` or (as before) at the top level."""

        projects = serializers.ListField(child=serializers.SlugField(), min_length=1, max_length=100)
        name = serializers.CharField(required=False, allow_blank=True, max_length=200, default="")
        judge_kinds = serializers.ListField(
            child=serializers.ChoiceField(choices=Judge.Kind.values), required=False, min_length=1
        )
        judge_names = serializers.ListField(child=serializers.CharField(max_length=200), required=False, default=list)
        config = RunConfigSerializer(required=False, help_text="Training settings; omitted ones take the defaults.")
        # Which judgments are data, as exports choose them (rewards.services.examples.DataFilters).
        active_only = serializers.BooleanField(
            required=False, default=True, help_text="Leave out excluded judgments (excluded by review or superseded)."
        )
        max_suspicion = serializers.FloatField(
            required=False, allow_null=True, min_value=0, max_value=1, help_text="Leave out judgments suspected above."
        )
        suspicion_detector = serializers.CharField(
            required=False, max_length=32, help_text="The detector max_suspicion reads (default: combined)."
        )

    @extend_schema(tags=TAGS, request=InputSerializer, responses={201: RunSerializer}, operation_id="runs_create")
    def post(self, request: Request) -> Response:
        if not researcher_projects(user=request.user).exists():
            raise PermissionDenied("Only researchers of a project (and admins) train reward models.")
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data: dict[str, Any] = serializer.validated_data
        allowed = {p.slug: p for p in researcher_projects(user=request.user)}
        missing = [slug for slug in data["projects"] if slug not in allowed]
        if missing:
            raise PermissionDenied(f"You are not a researcher in: {', '.join(missing)}.")
        values = _config_values(data)
        base_model_resolve(user=request.user, reference=values["base_model"])  # 400 naming the field if refused
        run = training_run_create(
            user=request.user,
            projects=[allowed[slug] for slug in data["projects"]],
            config=config_from(values),
            judge_kinds=data.get("judge_kinds") or list(DEFAULT_JUDGE_KINDS),
            judge_names=data["judge_names"],
            name=data["name"],
            data_filters=DataFilters.from_json(
                {key: data[key] for key in ("active_only", "max_suspicion", "suspicion_detector") if key in data}
            ),
        )
        return Response(RunSerializer(run).data, status=status.HTTP_201_CREATED)


def _config_values(data: dict[str, Any]) -> dict[str, Any]:
    """The defaults, then the settings given at the top level or in `config`; one given in both places is a 400
    (which of two values was meant cannot be guessed)."""
    nested = dict(data.get("config") or {})
    flat = {key: data[key] for key in RunConfigSerializer().fields if key in data}
    twice = sorted(set(flat) & set(nested))
    if twice:
        raise serializers.ValidationError(
            {"config": {key: ["Given both here and at the top level; give it once."] for key in twice}}
        )
    values = RUN_DEFAULTS | flat | nested
    values["base_model"] = values["base_model"] or DEFAULT_BASE_MODEL
    return values


class BaseModelListApi(APIView):
    """The base models you may train from (`base_model` of runs_create): shipped, in this host's Hugging Face
    cache, and the models of finished runs you may see, each with its size on disk and parameter count."""

    class OutputSerializer(serializers.Serializer):
        reference = serializers.CharField()
        label = serializers.CharField()
        source = serializers.ChoiceField(choices=["shipped", "cache", "run"])
        size_bytes = serializers.IntegerField()
        parameters = serializers.IntegerField(allow_null=True)

    @extend_schema(tags=TAGS, responses=OutputSerializer(many=True), operation_id="runs_base_models")
    def get(self, request: Request) -> Response:
        if not researcher_projects(user=request.user).exists():
            raise PermissionDenied("Only researchers of a project (and admins) train reward models.")
        return Response(self.OutputSerializer(base_model_choices(user=request.user), many=True).data)


class RunDetailApi(APIView):
    """One run: progress while it trains; held-out metrics with 95% intervals, provenance and artifact after."""

    @extend_schema(tags=TAGS, responses=RunSerializer, operation_id="runs_retrieve")
    def get(self, request: Request, run_id: int) -> Response:
        training_runs_reap()
        return Response(RunSerializer(run_get(user=request.user, run_id=run_id)).data)


class RunCancelApi(APIView):
    """Cancel: a queued run ends now, a running one before its next optimiser step. 409 when already finished."""

    @extend_schema(tags=TAGS, request=None, responses=RunSerializer, operation_id="runs_cancel")
    def post(self, request: Request, run_id: int) -> Response:
        run = training_run_cancel(run=run_get(user=request.user, run_id=run_id))
        return Response(RunSerializer(run).data)


class RunRestartApi(APIView):
    """Train a failed or cancelled run again, same data and config, as a new attempt. 409 otherwise."""

    @extend_schema(tags=TAGS, request=None, responses=RunSerializer, operation_id="runs_restart")
    def post(self, request: Request, run_id: int) -> Response:
        run = training_run_restart(run=run_get(user=request.user, run_id=run_id))
        return Response(RunSerializer(run).data)
