"""Exports: ask for one (format, file type, filters, options) and get a job; watch its status; download its files
(the split files and the dataset card) once it has succeeded; retry a failed one. The project's researchers and
admins. Every export is recorded with its filters and options, so it can be reproduced."""

from __future__ import annotations

from typing import Any

from django.http import FileResponse
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import generics, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from annotation.exports.options import (
    CONSENSUS_MODES,
    FILE_TYPES,
    FORMATS,
    JUDGE_KINDS,
    MARGIN_MODES,
    PAIR_MODES,
    TIE_MODES,
)
from annotation.models import ExportJob
from annotation.selectors import project_get
from annotation.selectors.jobs import CONTENT_TYPES, export_job_file, export_job_files, export_job_get, export_job_list
from annotation.services.exports import export_create, export_job_is_stalled, export_retry
from workbench.api import AnyAcceptNegotiation
from workbench.exceptions import Conflict

TAGS = ["exports"]


class ExportFiltersSerializer(serializers.Serializer):
    judge_kinds = serializers.ListField(child=serializers.ChoiceField(choices=JUDGE_KINDS), required=False)
    judges = serializers.ListField(child=serializers.CharField(max_length=200), required=False, max_length=1000)
    active_only = serializers.BooleanField(
        required=False, help_text="Leave out excluded judgments (default true): excluded by review or superseded."
    )
    min_agreement = serializers.FloatField(
        required=False, allow_null=True, min_value=0, max_value=1, help_text="Keep comparisons at least this agreed."
    )
    date_from = serializers.CharField(required=False, max_length=40, help_text="ISO date or date-time, inclusive.")
    date_to = serializers.CharField(
        required=False, max_length=40, help_text="ISO date (the whole day) or date-time, exclusive."
    )
    categories = serializers.ListField(child=serializers.CharField(max_length=100), required=False, max_length=1000)
    max_suspicion = serializers.FloatField(
        required=False, allow_null=True, min_value=0, max_value=1, help_text="Leave out judgments suspected above this."
    )
    suspicion_detector = serializers.CharField(
        required=False, max_length=32, help_text="The detector max_suspicion reads (default: combined)."
    )


class ExportOptionsSerializer(serializers.Serializer):
    conversational = serializers.BooleanField(required=False, help_text="Message lists instead of plain strings.")
    pairs = serializers.ChoiceField(choices=PAIR_MODES, required=False, help_text="How lists expand to pairs.")
    ties = serializers.ChoiceField(choices=TIE_MODES, required=False)
    consensus = serializers.ChoiceField(choices=CONSENSUS_MODES, required=False)
    margin = serializers.ChoiceField(choices=MARGIN_MODES, required=False)
    drop_empty = serializers.BooleanField(required=False)
    include_text = serializers.BooleanField(required=False)
    test_fraction = serializers.FloatField(required=False, min_value=0, max_value=0.99, help_text="Share of prompts.")
    seed = serializers.IntegerField(required=False, min_value=0, max_value=2**31 - 1)
    license = serializers.CharField(required=False, allow_blank=True, max_length=100)


class ExportJobSerializer(serializers.Serializer):
    class FileSerializer(serializers.Serializer):
        name = serializers.CharField()
        size = serializers.IntegerField(help_text="Bytes.")
        url = serializers.CharField(help_text="GET it (with your credentials) to download the file.")

    id = serializers.IntegerField()
    project = serializers.CharField(source="project.slug")
    format = serializers.CharField()
    file_type = serializers.CharField()
    filters = serializers.JSONField(help_text="As recorded: run the same export again with these.")
    options = serializers.JSONField()
    status = serializers.ChoiceField(choices=ExportJob.Status.choices)
    stalled = serializers.SerializerMethodField()
    rows_total = serializers.IntegerField(help_text="Judgments to read.")
    rows_done = serializers.IntegerField(help_text="Judgments read so far.")
    files = serializers.SerializerMethodField()
    report = serializers.JSONField(help_text="Counts, agreement, judges, stats; when finished.")
    error = serializers.CharField()
    created_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)

    def get_stalled(self, job: ExportJob) -> bool:
        return export_job_is_stalled(job=job)

    @extend_schema_field(FileSerializer(many=True))
    def get_files(self, job: ExportJob) -> list[dict[str, Any]]:
        return [
            {
                "name": file.name,
                "size": file.size,
                "url": reverse("api:export_file", kwargs={"job_id": job.pk, "name": file.name}),
            }
            for file in export_job_files(job=job)
        ]


class ExportListApi(generics.ListAPIView):
    """A project's exports, newest first."""

    serializer_class = ExportJobSerializer

    def get_queryset(self) -> Any:
        if getattr(self, "swagger_fake_view", False):
            return ExportJob.objects.none()
        return export_job_list(project=project_get(user=self.request.user, slug=self.kwargs["slug"]))

    @extend_schema(tags=TAGS, operation_id="exports_list")
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)


class ExportCreateApi(APIView):
    """Ask for an export: 202 with the job. Small projects are exported right after the request, big ones by a
    worker: poll the job until `status` is succeeded (then download its `files`) or failed (`error`)."""

    class InputSerializer(serializers.Serializer):
        format = serializers.ChoiceField(choices=FORMATS)
        file_type = serializers.ChoiceField(choices=FILE_TYPES, default="jsonl")
        filters = ExportFiltersSerializer(required=False)
        options = ExportOptionsSerializer(required=False)

    @extend_schema(
        tags=TAGS, request=InputSerializer, responses={202: ExportJobSerializer}, operation_id="exports_create"
    )
    def post(self, request: Request, slug: str) -> Response:
        project = project_get(user=request.user, slug=slug)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        job = export_create(
            project=project,
            user=request.user,
            format=data["format"],
            file_type=data["file_type"],
            filters=dict(data.get("filters") or {}),
            options=dict(data.get("options") or {}),
        )
        return Response(ExportJobSerializer(job).data, status=status.HTTP_202_ACCEPTED)


class ExportDetailApi(APIView):
    """An export's status, its files once it succeeded, its report, or its error."""

    @extend_schema(tags=TAGS, responses=ExportJobSerializer, operation_id="exports_retrieve")
    def get(self, request: Request, job_id: int) -> Response:
        return Response(ExportJobSerializer(export_job_get(user=request.user, job_id=job_id)).data)


class ExportRetryApi(APIView):
    """Queue a failed or stalled export again, with the same format, filters and options."""

    @extend_schema(tags=TAGS, request=None, responses={202: ExportJobSerializer}, operation_id="exports_retry")
    def post(self, request: Request, job_id: int) -> Response:
        job = export_retry(job=export_job_get(user=request.user, job_id=job_id))
        return Response(ExportJobSerializer(job).data, status=status.HTTP_202_ACCEPTED)


class ExportFileApi(APIView):
    """Download one file of a finished export (streamed from disk): a split file or the dataset card."""

    extra_error_codes = ["409"]
    content_negotiation_class = AnyAcceptNegotiation

    @extend_schema(
        tags=TAGS,
        responses={(200, media.split(";")[0]): OpenApiTypes.BINARY for media in CONTENT_TYPES.values()},
        operation_id="exports_file",
    )
    def get(self, request: Request, job_id: int, name: str) -> FileResponse:
        job = export_job_get(user=request.user, job_id=job_id)
        if job.status != ExportJob.Status.SUCCEEDED:
            raise Conflict(f"This export has not succeeded (it is {job.status}); there is nothing to download yet.")
        file = export_job_file(job=job, name=name)  # only names the job lists: no path from the URL reaches the disk
        return FileResponse(
            file.path.open("rb"), as_attachment=True, filename=file.name, content_type=file.content_type
        )
