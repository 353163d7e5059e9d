"""Judgments: list with filters (researchers and admins: annotators never see others' judgments), and create one
or many, idempotent by client token.

A judgment names an external judge (`judge: {name, kind}` with kind imported or llm, created on first use;
researchers and admins only) or none, for the requesting user's own human judge (any member; it is the submission
of the user's lease on that comparison, so overlap and blindness hold).
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import generics, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from annotation.apis.common import JSONObjectField, rows_invalid
from annotation.apis.filters import MAX_ID, JudgmentFilter
from annotation.apis.serializers import JudgmentSerializer
from annotation.models import Judge, Judgment, Project
from annotation.selectors import project_get, project_get_for_annotating
from annotation.selectors.data import judgment_list
from annotation.services.external_judgments import (
    EXTERNAL_KINDS,
    MAX_JUDGMENTS,
    JudgmentInput,
    judgment_create,
    judgment_create_many,
)
from annotation.services.judgments import MAX_DURATION_MS, MAX_RATIONALE
from workbench.pagination import CursorPagination

TAGS = ["judgments"]
RESEARCHER_ROLES = ("admin", "researcher")
EXTERNAL_KIND_CHOICES = [(kind.value, kind.label) for kind in EXTERNAL_KINDS]


class JudgmentInputSerializer(serializers.Serializer):
    class JudgeSerializer(serializers.Serializer):
        name = serializers.CharField(max_length=200)
        kind = serializers.ChoiceField(choices=EXTERNAL_KIND_CHOICES, default=Judge.Kind.IMPORTED)

    comparison = serializers.IntegerField(min_value=1, max_value=MAX_ID)
    ranking = serializers.ListField(
        child=serializers.ListField(child=serializers.IntegerField(min_value=1, max_value=MAX_ID), allow_empty=False),
        allow_empty=False,
        max_length=26,
        help_text="Groups of response ids, best group first; ids in one group are tied. Each of the comparison's "
        "responses exactly once.",
    )
    judge = JudgeSerializer(
        required=False, allow_null=True, help_text="An external judge; omit for your own human judge."
    )
    scores = serializers.DictField(
        child=serializers.FloatField(), required=False, help_text="{response id: score}, external judges only."
    )
    strength = serializers.IntegerField(
        required=False, allow_null=True, min_value=0, max_value=32767, help_text="Index into the strength scale."
    )
    margin = serializers.FloatField(required=False, allow_null=True, help_text="Numeric margin, external judges only.")
    criteria = serializers.DictField(child=serializers.CharField(max_length=100), required=False)
    rationale = serializers.CharField(required=False, allow_blank=True, max_length=MAX_RATIONALE, trim_whitespace=False)
    both_bad = serializers.BooleanField(required=False, default=False)
    duration_ms = serializers.IntegerField(required=False, allow_null=True, min_value=0, max_value=MAX_DURATION_MS)
    client_token = serializers.CharField(
        required=False, allow_null=True, max_length=64, help_text="Retrying with the same token returns the first."
    )
    metadata = JSONObjectField(required=False, help_text="External judges only.")

    def validate_scores(self, scores: dict[str, float]) -> dict[int, float]:
        if not all(key.isdigit() and 0 < len(key) <= 18 for key in scores):
            raise serializers.ValidationError("Keys are response ids.")
        return {int(key): value for key, value in scores.items()}


def _input(data: dict[str, Any]) -> JudgmentInput:
    judge = data.get("judge")
    return JudgmentInput(
        comparison_id=data["comparison"],
        ranking=[list(group) for group in data["ranking"]],
        judge_name=judge["name"] if judge else None,
        judge_kind=judge["kind"] if judge else Judge.Kind.IMPORTED,
        scores=data.get("scores") or {},
        strength=data.get("strength"),
        margin=data.get("margin"),
        criteria=dict(data.get("criteria") or {}),
        rationale=data.get("rationale", ""),
        both_bad=data.get("both_bad", False),
        duration_ms=data.get("duration_ms"),
        client_token=data.get("client_token") or None,
        metadata=data.get("metadata") or {},
    )


def _check_external_role(request: Request, slug: str, items: list[JudgmentInput]) -> None:
    """Members may post their own human judgments; naming an external judge takes a researcher or an admin."""
    if any(item.judge_name is not None for item in items):
        project_get(user=request.user, slug=slug, roles=RESEARCHER_ROLES)


def _output(project: Project, judgments: list[Judgment]) -> list[dict[str, Any]]:
    loaded = {j.pk: j for j in judgment_list(project=project).filter(pk__in=[j.pk for j in judgments])}
    return JudgmentSerializer([loaded[j.pk] for j in judgments], many=True).data


class JudgmentListApi(generics.ListAPIView):
    """A project's judgments in id order, with filters. Researchers and admins."""

    serializer_class = JudgmentSerializer
    pagination_class = CursorPagination
    filterset_class = JudgmentFilter

    def get_queryset(self) -> Any:
        if getattr(self, "swagger_fake_view", False):
            return Judgment.objects.none()
        return judgment_list(project=project_get(user=self.request.user, slug=self.kwargs["slug"]))

    @extend_schema(tags=TAGS, operation_id="judgments_list")
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)


class JudgmentCreateApi(APIView):
    """Store one judgment: 201 when new, 200 with the stored one when its client token was seen before."""

    InputSerializer = JudgmentInputSerializer

    @extend_schema(
        tags=TAGS,
        request=JudgmentInputSerializer,
        responses={201: JudgmentSerializer, 200: JudgmentSerializer},
        operation_id="judgments_create",
    )
    def post(self, request: Request, slug: str) -> Response:
        project = project_get_for_annotating(user=request.user, slug=slug)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        item = _input(serializer.validated_data)
        _check_external_role(request, slug, [item])
        judgment, created = judgment_create(project=project, user=request.user, data=item)
        return Response(
            _output(project, [judgment])[0], status=status.HTTP_201_CREATED if created else status.HTTP_200_OK
        )


class JudgmentBulkCreateApi(APIView):
    """Store up to 1000 judgments, all or nothing: any refusal keeps none and lists each as {row, field, message}
    (row: index in `judgments`; `status` when the refusal is not a 400, e.g. 409)."""

    class InputSerializer(serializers.Serializer):
        judgments = JudgmentInputSerializer(many=True, allow_empty=False, max_length=MAX_JUDGMENTS)

    class OutputSerializer(serializers.Serializer):
        created = serializers.IntegerField(help_text="New judgments.")
        existing = serializers.IntegerField(help_text="Rows whose client token was seen before (returned as stored).")
        judgments = JudgmentSerializer(many=True)

    @extend_schema(
        tags=TAGS,
        request=InputSerializer,
        responses={201: OutputSerializer, 200: OutputSerializer},
        operation_id="judgments_bulk_create",
    )
    def post(self, request: Request, slug: str) -> Response:
        project = project_get_for_annotating(user=request.user, slug=slug)
        serializer = self.InputSerializer(data=request.data)
        if not serializer.is_valid():
            rows = request.data.get("judgments") if isinstance(request.data, dict) else None
            raise rows_invalid(serializer.errors, "judgments", len(rows) if isinstance(rows, list) else 0)
        items = [_input(data) for data in serializer.validated_data["judgments"]]
        _check_external_role(request, slug, items)
        results = judgment_create_many(project=project, user=request.user, items=items)
        created = sum(1 for _, new in results if new)
        body = {
            "created": created,
            "existing": len(results) - created,
            "judgments": _output(project, [judgment for judgment, _ in results]),
        }
        return Response(body, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)
