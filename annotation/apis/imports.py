"""Imports: upload a file (multipart) to a project, which becomes an ImportJob; list, status, retry. The project's
researchers and admins, as on the import page. Small files are imported right after the request, big ones by a
worker: poll the job until `status` is succeeded or failed."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import generics, serializers, status
from rest_framework.parsers import MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from annotation.apis.serializers import ImportJobSerializer
from annotation.importers.formats import FORMATS
from annotation.models import ImportJob
from annotation.selectors import import_job_get, project_get
from annotation.selectors.jobs import import_job_list
from annotation.services.import_jobs import import_job_create, import_job_retry

TAGS = ["imports"]


class ImportListApi(generics.ListAPIView):
    """A project's latest imports, newest first."""

    serializer_class = ImportJobSerializer

    def get_queryset(self) -> Any:
        if getattr(self, "swagger_fake_view", False):
            return ImportJob.objects.none()
        return import_job_list(project=project_get(user=self.request.user, slug=self.kwargs["slug"]))

    @extend_schema(tags=TAGS, operation_id="imports_list")
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)


class ImportCreateApi(APIView):
    """Upload a file (JSONL, JSON list, CSV or Parquet; .gz is fine) as multipart/form-data: 202 with the job."""

    parser_classes = [MultiPartParser]

    class InputSerializer(serializers.Serializer):
        file = serializers.FileField()
        format = serializers.ChoiceField(
            choices=list(FORMATS), required=False, allow_blank=True, help_text="Empty: detect from the columns."
        )
        judge = serializers.CharField(
            required=False, allow_blank=True, max_length=200, help_text="Judge for rows that name none."
        )
        conversations = serializers.FileField(required=False, help_text="MT-Bench only: the conversations file.")
        as_pairs = serializers.BooleanField(
            required=False,
            default=False,
            help_text="Import each ranking of 3+ responses as the pairs it induces (for a pairwise project); "
            "without it, lists into a pairwise project are refused.",
        )

    @extend_schema(
        tags=TAGS,
        request={"multipart/form-data": InputSerializer},
        responses={202: ImportJobSerializer},
        operation_id="imports_create",
    )
    def post(self, request: Request, slug: str) -> Response:
        project = project_get(user=request.user, slug=slug)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        job = import_job_create(
            project=project,
            user=request.user,
            upload=data["file"],
            format_name=data.get("format", ""),
            options={
                **({"judge": data["judge"]} if data.get("judge") else {}),
                **({"as_pairs": True} if data["as_pairs"] else {}),
            },
            companion=data.get("conversations"),
            origin=ImportJob.Origin.API,
        )
        return Response(ImportJobSerializer(job).data, status=status.HTTP_202_ACCEPTED)


class ImportDetailApi(APIView):
    """An import's status and, once finished, its report (counts written, or each problem's row, field and reason)."""

    @extend_schema(tags=TAGS, responses=ImportJobSerializer, operation_id="imports_retrieve")
    def get(self, request: Request, job_id: int) -> Response:
        return Response(ImportJobSerializer(import_job_get(user=request.user, job_id=job_id)).data)


class ImportRetryApi(APIView):
    """Queue a failed or stalled import again (its earlier attempt wrote nothing)."""

    @extend_schema(tags=TAGS, request=None, responses={202: ImportJobSerializer}, operation_id="imports_retry")
    def post(self, request: Request, job_id: int) -> Response:
        job = import_job_retry(job=import_job_get(user=request.user, job_id=job_id))
        return Response(ImportJobSerializer(job).data, status=status.HTTP_202_ACCEPTED)
