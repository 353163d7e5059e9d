"""Output shapes shared by several operations (a project, a prompt, a judgment, a job); each view's own input and
one-off outputs are nested in the view."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from annotation.apis.common import JSONObjectField, MessageSerializer
from annotation.models import Comparison, ImportJob, Judgment, Project


class CriterionSerializer(serializers.Serializer):
    key = serializers.CharField(max_length=100, help_text="Letters, digits and _.")
    label = serializers.CharField(max_length=200)
    scale = serializers.ListField(child=serializers.CharField(max_length=100), min_length=2, max_length=20)


class ProjectSerializer(serializers.ModelSerializer):
    strength_scale = serializers.ListField(
        child=serializers.CharField(), help_text="Labels from weakest to strongest; empty = off."
    )
    criteria = CriterionSerializer(many=True)
    role = serializers.SerializerMethodField(help_text="Your role: admin, researcher or annotator.")

    class Meta:
        model = Project
        fields = [
            "slug", "name", "description", "kind", "list_size", "overlap", "allow_ties", "allow_both_bad",
            "strength_scale", "criteria", "rationale", "guidelines_md", "lease_minutes", "queue_order", "source",
            "role", "created_at", "updated_at",
        ]  # fmt: skip
        read_only_fields = fields

    def get_role(self, project: Project) -> str | None:
        from annotation.selectors import role_of

        # Projects reach this serializer from project_get or project_list_for_user, which read the role with them.
        request = self.context.get("request")
        return role_of(user=request.user, member_role=project.member_role) if request else None


class PromptResponseSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    external_id = serializers.CharField()
    text = serializers.CharField()
    generator = serializers.CharField()
    metadata = JSONObjectField()
    conversation = MessageSerializer(
        many=True,
        allow_null=True,
        help_text="Set where this response ends its own "
        "conversation (its earlier turns differ from the prompt's): the whole of it.",
    )


class ComparisonSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    response_ids = serializers.SerializerMethodField(help_text="The comparison's responses, in canonical position.")
    slots_left = serializers.IntegerField(help_text="Annotator slots still open (overlap minus claims).")

    def get_response_ids(self, comparison: Comparison) -> list[int]:
        return [member.response_id for member in comparison.members.all()]


class PromptSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    external_id = serializers.CharField()
    messages = MessageSerializer(many=True)
    category = serializers.CharField()
    metadata = JSONObjectField()
    created_at = serializers.DateTimeField()
    responses = PromptResponseSerializer(many=True)
    comparisons = ComparisonSerializer(many=True)


class JudgeRefSerializer(serializers.Serializer):
    name = serializers.CharField()
    kind = serializers.CharField()


class PlacementSerializer(serializers.Serializer):
    response = serializers.IntegerField(source="response_id")
    rank = serializers.IntegerField(help_text="1 = best; equal ranks are ties.")
    score = serializers.FloatField(allow_null=True)


@extend_schema_field({"type": "array", "items": {"type": "array", "items": {"type": "integer"}}})
class RankingField(serializers.Field):
    """Groups of response ids, best group first; ids in one group are tied."""

    def to_representation(self, judgment: Judgment) -> list[list[int]]:
        groups: dict[int, list[int]] = {}
        for placement in judgment.placements.all():
            groups.setdefault(placement.rank, []).append(placement.response_id)
        return [groups[rank] for rank in sorted(groups)]


class JudgmentSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    comparison = serializers.IntegerField(source="comparison_id")
    prompt = serializers.CharField(source="comparison.prompt.external_id", help_text="The prompt's external id.")
    judge = JudgeRefSerializer()
    ranking = RankingField(source="*", help_text="Groups of response ids, best first; a group of several is a tie.")
    placements = PlacementSerializer(many=True)
    strength = serializers.IntegerField(allow_null=True)
    margin = serializers.FloatField(allow_null=True)
    criteria = JSONObjectField()
    rationale = serializers.CharField()
    shown_order = serializers.ListField(child=serializers.IntegerField())
    duration_ms = serializers.IntegerField(allow_null=True)
    source = serializers.ChoiceField(choices=Judgment.Source.choices)
    status = serializers.ChoiceField(choices=Judgment.Status.choices)
    client_token = serializers.CharField(allow_null=True)
    metadata = JSONObjectField()
    created_at = serializers.DateTimeField()


class ImportJobSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    project = serializers.CharField(source="project.slug")
    original_name = serializers.CharField()
    origin = serializers.ChoiceField(choices=ImportJob.Origin.choices, help_text="Where the import was started.")
    format = serializers.CharField(help_text="Empty until detected.")
    status = serializers.ChoiceField(choices=ImportJob.Status.choices)
    phase = serializers.CharField()
    percent = serializers.IntegerField()
    bytes_total = serializers.IntegerField()
    bytes_done = serializers.IntegerField()
    rows_done = serializers.IntegerField()
    stalled = serializers.SerializerMethodField()
    report = JSONObjectField(help_text="Counts written, and row/field/reason of each problem when it failed.")
    error = serializers.CharField()
    created_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)

    def get_stalled(self, job: ImportJob) -> bool:
        from annotation.selectors import import_job_live_progress
        from annotation.services.import_jobs import import_job_is_stalled

        return import_job_is_stalled(job=job, live=import_job_live_progress(job=job))
