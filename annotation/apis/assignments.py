"""Assignments for external annotation front ends: claim the next item, submit an ordering, skip. The same
services as the judging page (exact overlap, distinct and blind annotators, leases); submissions are stored with
source `api`. Responses are named by per-assignment tokens, never by id (see selectors/annotate.py)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from annotation.apis.common import MessageSerializer
from annotation.apis.filters import MAX_ID
from annotation.models import Judgment, Project
from annotation.selectors import (
    annotation_item,
    annotator_progress,
    assignment_get_for_annotator,
    project_get_for_annotating,
)
from annotation.selectors.annotate import ranking_from_tokens
from annotation.services.assignments import assignment_claim, assignment_skip
from annotation.services.judgments import MAX_DURATION_MS, MAX_RATIONALE, Verdict, judgment_submit

TAGS = ["assignments"]


class ProgressSerializer(serializers.Serializer):
    done = serializers.IntegerField(help_text="Your judgments in this project.")
    skipped = serializers.IntegerField()
    project_done = serializers.IntegerField(help_text="Human judgments from the queue (cached for a few seconds).")
    project_target = serializers.IntegerField(help_text="Comparisons times overlap.")
    percent = serializers.IntegerField()


def _progress(project: Project, request: Request) -> dict[str, Any]:
    return ProgressSerializer(annotator_progress(project=project, user=request.user)).data


class AssignmentNextApi(APIView):
    """Your next item: a lease you already hold (so a retry or a reload gets the same item), else a newly claimed
    comparison. 204 when nothing is left for you. Any member."""

    class InputSerializer(serializers.Serializer):
        exclude = serializers.ListField(
            child=serializers.IntegerField(min_value=1, max_value=MAX_ID),
            required=False,
            max_length=100,
            help_text="Assignment ids you already show (a prefetch asks for a different one).",
        )

    class OutputSerializer(serializers.Serializer):
        class ShownSerializer(serializers.Serializer):
            token = serializers.CharField(
                help_text="This response's name in this assignment only: it is not its id, carries no order and "
                "differs between assignments. Submit the ordering in these tokens."
            )
            label = serializers.CharField(help_text="A, B for pairs; 1..K for lists.")
            text = serializers.CharField(source="response.text")
            messages = MessageSerializer(
                many=True, allow_null=True, help_text="Earlier turns where they differ from the prompt's."
            )

        assignment = serializers.IntegerField(source="assignment.pk")
        leased_until = serializers.DateTimeField(source="assignment.leased_until")
        project = serializers.CharField(source="project.slug")
        messages = MessageSerializer(many=True, help_text="The prompt's conversation.")
        responses = ShownSerializer(many=True, help_text="In the order to show them (randomised per assignment).")

    @extend_schema(
        tags=TAGS,
        request=InputSerializer,
        responses={200: OutputSerializer, 204: OpenApiResponse(description="Nothing left for you in this project.")},
        operation_id="assignments_next",
    )
    def post(self, request: Request, slug: str) -> Response:
        project = project_get_for_annotating(user=request.user, slug=slug)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        assignment = assignment_claim(
            project=project, user=request.user, exclude_ids=serializer.validated_data.get("exclude", [])
        )
        if assignment is None:
            return Response(status=status.HTTP_204_NO_CONTENT)
        return Response(self.OutputSerializer(annotation_item(assignment=assignment)).data)


class AssignmentSubmitApi(APIView):
    """Submit your ordering for an item you hold. Idempotent by client token. Every project rule is checked (ties,
    "both bad", strength, criteria, rationale); a refusal names the field."""

    class InputSerializer(serializers.Serializer):
        ranking = serializers.ListField(
            child=serializers.ListField(child=serializers.CharField(max_length=64)),
            allow_empty=False,
            max_length=26,
            help_text="Groups of the response tokens from `next`, best group first; tokens in one group are tied.",
        )
        strength = serializers.IntegerField(required=False, allow_null=True, min_value=0, max_value=32767)
        criteria = serializers.DictField(child=serializers.CharField(max_length=100), required=False)
        rationale = serializers.CharField(
            required=False, allow_blank=True, max_length=MAX_RATIONALE, trim_whitespace=False
        )
        both_bad = serializers.BooleanField(required=False, default=False)
        duration_ms = serializers.IntegerField(required=False, allow_null=True, min_value=0, max_value=MAX_DURATION_MS)
        client_token = serializers.CharField(required=False, allow_null=True, max_length=64)

    class OutputSerializer(serializers.Serializer):
        judgment = serializers.IntegerField()
        progress = ProgressSerializer()

    @extend_schema(
        tags=TAGS,
        request=InputSerializer,
        responses={201: OutputSerializer, 200: OutputSerializer},
        operation_id="assignments_submit",
    )
    def post(self, request: Request, assignment_id: int) -> Response:
        assignment = assignment_get_for_annotator(user=request.user, assignment_id=assignment_id)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        token = data.get("client_token") or None
        replay = bool(token) and Judgment.objects.filter(judge__user=request.user, client_token=token).exists()
        verdict = Verdict(
            ranking=ranking_from_tokens(assignment=assignment, ranking=data["ranking"]),
            strength=data.get("strength"),
            criteria=dict(data.get("criteria") or {}),
            rationale=data.get("rationale", ""),
            both_bad=data["both_bad"],
            duration_ms=data.get("duration_ms"),
            client_token=token,
        )
        judgment = judgment_submit(assignment=assignment, verdict=verdict, source=Judgment.Source.API)
        body = {"judgment": judgment.pk, "progress": _progress(assignment.project, request)}
        return Response(
            self.OutputSerializer(body).data, status=status.HTTP_200_OK if replay else status.HTTP_201_CREATED
        )


class AssignmentSkipApi(APIView):
    """Give an item you hold back for others; you will not be offered it again."""

    class OutputSerializer(serializers.Serializer):
        skipped = serializers.IntegerField()
        progress = ProgressSerializer()

    @extend_schema(tags=TAGS, request=None, responses=OutputSerializer, operation_id="assignments_skip")
    def post(self, request: Request, assignment_id: int) -> Response:
        assignment = assignment_get_for_annotator(user=request.user, assignment_id=assignment_id)
        assignment_skip(assignment=assignment)
        body = {"skipped": assignment.pk, "progress": _progress(assignment.project, request)}
        return Response(self.OutputSerializer(body).data)
