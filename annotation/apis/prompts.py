"""Prompts with their responses and comparisons: list and retrieve (the project's researchers and admins, like the
overview page's sample), and bulk create, all or nothing, which also makes each prompt's comparison so annotators
can be assigned it."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import generics, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from annotation.apis.common import JSONObjectField, MessageSerializer, rows_invalid
from annotation.apis.filters import PromptFilter
from annotation.apis.serializers import PromptSerializer
from annotation.models import Prompt
from annotation.selectors import project_get
from annotation.selectors.data import prompt_get, prompt_list
from annotation.services.prompts import MAX_PROMPTS, MAX_RESPONSES, PromptInput, ResponseInput, prompt_bulk_create
from workbench.pagination import CursorPagination

TAGS = ["prompts"]


class PromptListApi(generics.ListAPIView):
    """A project's prompts in id order, each with its responses and comparisons. Researchers and admins."""

    serializer_class = PromptSerializer
    pagination_class = CursorPagination
    filterset_class = PromptFilter

    def get_queryset(self) -> Any:
        if getattr(self, "swagger_fake_view", False):
            return Prompt.objects.none()
        return prompt_list(project=project_get(user=self.request.user, slug=self.kwargs["slug"]))

    @extend_schema(tags=TAGS, operation_id="prompts_list")
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)


class PromptDetailApi(APIView):
    @extend_schema(tags=TAGS, responses=PromptSerializer, operation_id="prompts_retrieve")
    def get(self, request: Request, slug: str, prompt_id: int) -> Response:
        project = project_get(user=request.user, slug=slug)
        return Response(PromptSerializer(prompt_get(project=project, prompt_id=prompt_id)).data)


class PromptBulkCreateApi(APIView):
    """Create up to 1000 prompts with their responses in one transaction. Any problem refuses the whole batch with
    400 and lists each as {row, field, message} (row: index in `prompts`). A pairwise project takes 2 responses per
    prompt, a listwise one 2 or more; a prompt may also come with none yet (no comparison is made)."""

    class InputSerializer(serializers.Serializer):
        class RowSerializer(serializers.Serializer):
            class ResponseSerializer(serializers.Serializer):
                external_id = serializers.CharField(max_length=255)
                text = serializers.CharField(allow_blank=True, trim_whitespace=False, max_length=1_000_000)
                generator = serializers.CharField(required=False, allow_blank=True, max_length=200, default="")
                metadata = JSONObjectField(required=False, default=dict)

            external_id = serializers.CharField(max_length=255)
            messages = MessageSerializer(many=True, allow_empty=False, max_length=1000)
            category = serializers.CharField(required=False, allow_blank=True, max_length=100, default="")
            metadata = JSONObjectField(required=False, default=dict)
            responses = ResponseSerializer(many=True, required=False, default=list, max_length=MAX_RESPONSES)

        prompts = RowSerializer(many=True, allow_empty=False, max_length=MAX_PROMPTS)

    class OutputSerializer(serializers.Serializer):
        created = serializers.IntegerField()
        prompts = PromptSerializer(many=True)

    @extend_schema(
        tags=TAGS, request=InputSerializer, responses={201: OutputSerializer}, operation_id="prompts_bulk_create"
    )
    def post(self, request: Request, slug: str) -> Response:
        project = project_get(user=request.user, slug=slug)
        serializer = self.InputSerializer(data=request.data)
        if not serializer.is_valid():
            rows = request.data.get("prompts") if isinstance(request.data, dict) else None
            raise rows_invalid(serializer.errors, "prompts", len(rows) if isinstance(rows, list) else 0)
        rows = [
            PromptInput(
                external_id=row["external_id"],
                messages=[dict(m) for m in row["messages"]],
                category=row["category"],
                metadata=row["metadata"],
                responses=[ResponseInput(**dict(r)) for r in row["responses"]],
            )
            for row in serializer.validated_data["prompts"]
        ]
        prompts = prompt_bulk_create(project=project, rows=rows)
        created = prompt_list(project=project).filter(pk__in=[p.pk for p in prompts])
        body = {"created": len(prompts), "prompts": created}
        return Response(self.OutputSerializer(body).data, status=status.HTTP_201_CREATED)
