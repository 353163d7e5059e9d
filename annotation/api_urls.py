"""/api/v1/: one URL per operation (house style: one APIView per operation). Unknown paths answer 404 in the API's
error shape (the catch-all at the end)."""

from django.urls import path, re_path, register_converter

from annotation.apis import (
    assignments,
    exports,
    imports,
    judges,
    judges_report,
    judgments,
    noise_runs,
    projects,
    prompts,
    review,
)
from annotation.apis.common import IdConverter
from workbench.api import NotFoundApi

register_converter(IdConverter, "id")

app_name = "api"

urlpatterns = [
    path("projects/", projects.ProjectListApi.as_view(), name="project_list"),
    path("projects/create/", projects.ProjectCreateApi.as_view(), name="project_create"),
    path("projects/<slug:slug>/", projects.ProjectDetailApi.as_view(), name="project_detail"),
    path("projects/<slug:slug>/update/", projects.ProjectUpdateApi.as_view(), name="project_update"),
    path("projects/<slug:slug>/prompts/", prompts.PromptListApi.as_view(), name="prompt_list"),
    path("projects/<slug:slug>/prompts/bulk-create/", prompts.PromptBulkCreateApi.as_view(), name="prompt_bulk_create"),
    path("projects/<slug:slug>/prompts/<id:prompt_id>/", prompts.PromptDetailApi.as_view(), name="prompt_detail"),
    path("projects/<slug:slug>/judges/", judges.JudgeListApi.as_view(), name="judge_list"),
    path("projects/<slug:slug>/judges/report/", judges_report.JudgesReportApi.as_view(), name="judges_report"),
    path("projects/<slug:slug>/judgments/", judgments.JudgmentListApi.as_view(), name="judgment_list"),
    path("projects/<slug:slug>/judgments/create/", judgments.JudgmentCreateApi.as_view(), name="judgment_create"),
    path(
        "projects/<slug:slug>/judgments/bulk-create/",
        judgments.JudgmentBulkCreateApi.as_view(),
        name="judgment_bulk_create",
    ),
    path("projects/<slug:slug>/assignments/next/", assignments.AssignmentNextApi.as_view(), name="assignment_next"),
    path("assignments/<id:assignment_id>/submit/", assignments.AssignmentSubmitApi.as_view(), name="assignment_submit"),
    path("assignments/<id:assignment_id>/skip/", assignments.AssignmentSkipApi.as_view(), name="assignment_skip"),
    path("projects/<slug:slug>/imports/", imports.ImportListApi.as_view(), name="import_list"),
    path("projects/<slug:slug>/imports/create/", imports.ImportCreateApi.as_view(), name="import_create"),
    path("imports/<id:job_id>/", imports.ImportDetailApi.as_view(), name="import_detail"),
    path("imports/<id:job_id>/retry/", imports.ImportRetryApi.as_view(), name="import_retry"),
    path("projects/<slug:slug>/exports/", exports.ExportListApi.as_view(), name="export_list"),
    path("projects/<slug:slug>/exports/create/", exports.ExportCreateApi.as_view(), name="export_create"),
    path("exports/<id:job_id>/", exports.ExportDetailApi.as_view(), name="export_detail"),
    path("exports/<id:job_id>/retry/", exports.ExportRetryApi.as_view(), name="export_retry"),
    path("exports/<id:job_id>/files/<str:name>", exports.ExportFileApi.as_view(), name="export_file"),
    path("projects/<slug:slug>/noise/flags/", review.FlagListApi.as_view(), name="noise_flags"),
    path("judgments/<id:judgment_id>/review/", review.JudgmentReviewApi.as_view(), name="judgment_review"),
    path("review-actions/<id:action_id>/undo/", review.ReviewActionUndoApi.as_view(), name="review_action_undo"),
    path("projects/<slug:slug>/noise/runs/", noise_runs.NoiseRunListApi.as_view(), name="noise_run_list"),
    path("projects/<slug:slug>/noise/runs/create/", noise_runs.NoiseRunCreateApi.as_view(), name="noise_run_create"),
    path("noise/runs/<id:run_id>/", noise_runs.NoiseRunDetailApi.as_view(), name="noise_run_detail"),
    path("noise/runs/<id:run_id>/cancel/", noise_runs.NoiseRunCancelApi.as_view(), name="noise_run_cancel"),
    path("noise/runs/<id:run_id>/retry/", noise_runs.NoiseRunRetryApi.as_view(), name="noise_run_retry"),
    re_path(r"^", NotFoundApi.as_view(), name="not_found"),  # anything else, newlines in the path included
]
