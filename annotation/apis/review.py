"""Noisy-label review over the API: the flagged judgments of a project (sorted by suspicion, with the page's filters),
a review action on one judgment (keep, correct, exclude, re-queue, with a note) and its undo. The project's
researchers and admins; annotators get 403, everyone else 404. The same selectors and services as the review
screen; actions are recorded with the user who made them."""

from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from annotation.apis.filters import MAX_ID
from annotation.models import Judgment, LabelFlag, ReviewAction
from annotation.selectors import project_get
from annotation.selectors.noise_flags import (
    FILTER_FIELDS,
    MAX_PER_PAGE,
    PER_PAGE,
    flag_filters_from,
    flag_list,
    next_flagged_judgment,
)
from annotation.selectors.noise_review import judgment_get_for_review, review_action_get
from annotation.services.review import MAX_REQUEUE, review_action_create, review_action_undo
from workbench.exceptions import ApplicationError

TAGS = ["review"]
PAGE_FIELDS = ("page", "page_size")


class _Strict(serializers.Serializer):
    """Unknown keys are refused (naming the key), as the export API does."""

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, dict):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                known = ", ".join(sorted(self.fields)) or "none"
                raise serializers.ValidationError({unknown[0]: [f"Unknown; known: {known}."]})
        return super().to_internal_value(data)


class ReviewActionSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    judgment = serializers.IntegerField(source="judgment_id")
    action = serializers.ChoiceField(choices=ReviewAction.Action.choices)
    note = serializers.CharField()
    user = serializers.CharField(source="user.username", allow_null=True, default=None)
    created_at = serializers.DateTimeField()
    correction = serializers.IntegerField(
        source="correction_id", allow_null=True, help_text="For a correction: the new active judgment."
    )
    requeued = serializers.IntegerField(help_text="For a re-queue: annotator slots opened.")
    undone_at = serializers.DateTimeField(allow_null=True)
    undone_by = serializers.CharField(source="undone_by.username", allow_null=True, default=None)


def _int_param(params: dict[str, str], name: str, default: int, high: int) -> int:
    raw = params.get(name)
    if raw is None:
        return default
    if not (raw.isascii() and raw.isdigit() and len(raw) < 10 and 1 <= int(raw) <= high):
        raise ApplicationError(f"{name} must be a whole number from 1 to {high}.", extra={"field": name})
    return int(raw)


_FILTER_DOCS = {
    "detector": "Only flags of this detector (its score sorts the list).",
    "judge": "Judge name.",
    "annotator": "A human judge's name.",
    "category": "Prompt category.",
    "min_score": "Flags scoring at least this (0 to 1).",
    "max_score": "Flags scoring at most this (0 to 1).",
    "status": "open (default), kept, corrected, excluded, requeued, or any.",
}


class FlagListApi(APIView):
    """Flagged judgments, one row per judgment, most suspicious first (its highest flag score among the flags that
    match the filters). Each row lists all of the judgment's flags."""

    class OutputSerializer(serializers.Serializer):
        class RowSerializer(serializers.Serializer):
            class FlagSerializer(serializers.Serializer):
                detector = serializers.CharField()
                score = serializers.FloatField()
                reason = serializers.CharField()
                status = serializers.ChoiceField(choices=LabelFlag.Status.choices)

            judgment = serializers.IntegerField(source="judgment_id")
            suspicion = serializers.FloatField()
            judge = serializers.CharField()
            judge_kind = serializers.CharField()
            judgment_status = serializers.ChoiceField(choices=Judgment.Status.choices)
            category = serializers.CharField()
            prompt_preview = serializers.CharField()
            review_status = serializers.ChoiceField(choices=LabelFlag.Status.choices)
            flags = FlagSerializer(many=True)

        count = serializers.IntegerField(help_text="Flagged judgments matching the filters.")
        page = serializers.IntegerField()
        page_size = serializers.IntegerField()
        has_more = serializers.BooleanField()
        results = RowSerializer(many=True)

    @extend_schema(
        tags=TAGS,
        parameters=[OpenApiParameter(name, OpenApiTypes.STR, description=doc) for name, doc in _FILTER_DOCS.items()]
        + [OpenApiParameter("page", OpenApiTypes.INT), OpenApiParameter("page_size", OpenApiTypes.INT)],
        responses=OutputSerializer,
        operation_id="noise_flags_list",
    )
    def get(self, request: Request, slug: str) -> Response:
        project = project_get(user=request.user, slug=slug)
        params = request.query_params.dict()
        unknown = sorted(set(params) - set(FILTER_FIELDS) - set(PAGE_FIELDS))
        if unknown:
            known = ", ".join([*FILTER_FIELDS, *PAGE_FIELDS])
            raise ApplicationError(f"Unknown parameter {unknown[0]!r}; known: {known}.", extra={"field": unknown[0]})
        page = _int_param(params, "page", 1, 10**6)
        page_size = _int_param(params, "page_size", PER_PAGE, MAX_PER_PAGE)
        result = flag_list(project=project, filters=flag_filters_from(params), page=page, per_page=page_size)
        body = {
            "count": result.total,
            "page": result.page,
            "page_size": result.per_page,
            "has_more": result.has_more,
            "results": result.rows,
        }
        return Response(self.OutputSerializer(body).data)


class JudgmentReviewApi(APIView):
    """Act on a judgment: `keep` (dismiss its flags), `correct` (your `ordering` becomes a new active judgment by
    your review judge, `review:<username>`; this one is kept as superseded), `exclude` (left out of exports and
    training, kept in the database) or `requeue` (`annotators` more annotators for its comparison). Every action
    sets the judgment's flags to its status and is recorded; undo it with `review-actions/{id}/undo/`."""

    class InputSerializer(_Strict):
        action = serializers.ChoiceField(choices=ReviewAction.Action.choices)
        note = serializers.CharField(required=False, allow_blank=True, max_length=10_000, trim_whitespace=False)
        ordering = serializers.ListField(
            child=serializers.ListField(
                child=serializers.IntegerField(min_value=1, max_value=MAX_ID), allow_empty=False
            ),
            required=False,
            allow_empty=False,
            max_length=26,
            help_text="For `correct`: groups of response ids, best first; ids in a group are tied.",
        )
        annotators = serializers.IntegerField(
            required=False, default=1, min_value=1, max_value=MAX_REQUEUE, help_text="For `requeue`."
        )

    class OutputSerializer(serializers.Serializer):
        action = ReviewActionSerializer()
        next_judgment = serializers.IntegerField(
            allow_null=True, help_text="The most suspicious judgment still open in the project, if any."
        )

    @extend_schema(
        tags=TAGS, request=InputSerializer, responses={201: OutputSerializer}, operation_id="judgments_review"
    )
    def post(self, request: Request, judgment_id: int) -> Response:
        judgment = judgment_get_for_review(user=request.user, judgment_id=judgment_id)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        if data.get("ordering") and data["action"] != ReviewAction.Action.CORRECT:
            raise ApplicationError("`ordering` goes with the action `correct` only.", extra={"field": "ordering"})
        action = review_action_create(
            judgment=judgment,
            user=request.user,
            action=data["action"],
            note=data.get("note", ""),
            ordering=[list(group) for group in data.get("ordering") or []] or None,
            annotators=data["annotators"],
            source=Judgment.Source.API,
        )
        action = review_action_get(user=request.user, action_id=action.pk)
        following = next_flagged_judgment(project=judgment.project, filters=flag_filters_from({}), after=judgment.pk)
        body = {"action": action, "next_judgment": following}
        return Response(self.OutputSerializer(body).data, status=status.HTTP_201_CREATED)


class ReviewActionUndoApi(APIView):
    """Undo a review action exactly (the judgment's status, the correction, the re-opened slots, the flags'
    statuses); the action stays in the history, marked undone. A judgment's actions are undone latest first (409
    otherwise), and a re-queue whose slots annotators already took cannot be undone (409). No body."""

    class InputSerializer(_Strict):
        pass

    @extend_schema(tags=TAGS, request=None, responses={200: ReviewActionSerializer}, operation_id="review_actions_undo")
    def post(self, request: Request, action_id: int) -> Response:
        action = review_action_get(user=request.user, action_id=action_id)
        self.InputSerializer(data=request.data or {}).is_valid(raise_exception=True)
        review_action_undo(action=action, user=request.user)
        return Response(ReviewActionSerializer(review_action_get(user=request.user, action_id=action_id)).data)
