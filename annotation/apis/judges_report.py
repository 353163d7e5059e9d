"""The judge comparison of a project: the same numbers as the Judges page and `manage.py judges_report`, for the
project's researchers and admins. A small project answers at once; a big one answers 202 with the job's state until a
worker has computed it (poll the same URL). Definitions and keys: docs/judges.md."""

from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from annotation.models import JudgeReport
from annotation.selectors import project_get
from annotation.services.judges_report import (
    FIELDS,
    judges_report_is_stalled,
    judges_report_start,
    report_request_validate,
)
from workbench.exceptions import ApplicationError

STALLED_MESSAGE = "The worker computing this report stopped; ask again with recompute=true."
PARAMETERS = [
    OpenApiParameter("reference", str, description="A judge's name, `human-majority` (default) or `human-loo`."),
    OpenApiParameter("baseline_generator", str, description="Win rates against this generator."),
    OpenApiParameter("category", str, description="Only prompts of this category."),
    OpenApiParameter("kinds", str, description="Comma-separated judge kinds to compare (the reference stays)."),
    OpenApiParameter("generators", str, description="Comma-separated generators to keep."),
    OpenApiParameter("humans", str, description="Judges whose votes make the human majority: names or patterns."),
    OpenApiParameter("recompute", bool, description="Compute again even if a fresh report is stored."),
]


class JudgesReportSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=JudgeReport.Status.choices)
    phase = serializers.CharField(help_text="What a running job is doing.")
    stale = serializers.BooleanField(help_text="The project's judgments changed since this report was computed.")
    computed_at = serializers.DateTimeField(allow_null=True)
    error = serializers.CharField(allow_blank=True)
    report = serializers.JSONField(
        allow_null=True, help_text="The report (docs/judges.md): `judges_report` and `generators` sections."
    )


class JudgesReportApi(APIView):
    @extend_schema(
        tags=["judges"],
        parameters=PARAMETERS,
        responses={200: JudgesReportSerializer, 202: JudgesReportSerializer, 400: OpenApiTypes.OBJECT},
        summary="Compare the project's judges",
    )
    def get(self, request: Request, slug: str) -> Response:
        project = project_get(user=request.user, slug=slug)
        params: dict[str, Any] = dict(request.query_params.items())
        force = str(params.pop("recompute", "")).lower() in ("1", "true")
        unknown = sorted(set(params) - set(FIELDS))
        if unknown:
            raise ApplicationError(
                f"Unknown parameter {unknown[0]!r}; known: {', '.join([*FIELDS, 'recompute'])}.",
                extra={"field": unknown[0]},
            )
        report_request = report_request_validate(project=project, data=params)
        job = judges_report_start(project=project, request=report_request, user=request.user, force=force)
        stalled = judges_report_is_stalled(report=job)
        body = {
            "status": JudgeReport.Status.FAILED if stalled else job.status,
            "phase": job.phase,
            "stale": job.stale,
            "computed_at": job.finished_at if job.status == JudgeReport.Status.SUCCEEDED else None,
            "error": STALLED_MESSAGE if stalled else job.error,
            "report": job.report if job.status == JudgeReport.Status.SUCCEEDED else None,
        }
        code = status.HTTP_202_ACCEPTED if job.status in ("queued", "running") and not stalled else status.HTTP_200_OK
        return Response(JudgesReportSerializer(body).data, status=code)
