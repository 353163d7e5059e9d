"""Judges: who has judged in a project (people, reward models, LLM judges, imported sources) and how much."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import generics, serializers
from rest_framework.request import Request
from rest_framework.response import Response

from annotation.models import Judge
from annotation.selectors import project_get
from annotation.selectors.data import judge_list


class JudgeListApi(generics.ListAPIView):
    """The judges with judgments in this project, by kind and name. Researchers and admins."""

    class OutputSerializer(serializers.Serializer):
        id = serializers.IntegerField()
        name = serializers.CharField()
        kind = serializers.ChoiceField(choices=Judge.Kind.choices)
        description = serializers.CharField()
        judgments = serializers.IntegerField(source="judgment_count", help_text="Judgments in this project.")

    serializer_class = OutputSerializer

    def get_queryset(self) -> Any:
        if getattr(self, "swagger_fake_view", False):
            return Judge.objects.none()
        return judge_list(project=project_get(user=self.request.user, slug=self.kwargs["slug"]))

    @extend_schema(tags=["judges"], operation_id="judges_list")
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)
