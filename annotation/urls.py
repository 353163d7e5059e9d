from django.urls import path

from annotation.views import annotate, exports, imports, judges, noise, projects, setup

app_name = "annotation"

urlpatterns = [
    path("", projects.project_list, name="project_list"),
    path("projects/new/", setup.project_new, name="project_new"),
    path("projects/<slug:slug>/", projects.project_overview, name="project_overview"),
    path("projects/<slug:slug>/settings/", setup.project_settings, name="project_settings"),
    path("projects/<slug:slug>/members/", setup.project_members, name="project_members"),
    path(
        "projects/<slug:slug>/members/<int:user_id>/remove/",
        setup.project_member_remove,
        name="project_member_remove",
    ),
    path("projects/<slug:slug>/progress/", setup.project_progress, name="project_progress"),
    path("projects/<slug:slug>/import/", imports.import_upload, name="import_upload"),
    path("projects/<slug:slug>/judges/", judges.judges_page, name="judges"),
    path("projects/<slug:slug>/judges/disagreements/", judges.judges_disagreements, name="judges_disagreements"),
    path("projects/<slug:slug>/noise/", noise.noise_page, name="noise"),
    path("projects/<slug:slug>/noise/run/", noise.noise_run_create, name="noise_run"),
    path("noise/judgments/<int:judgment_id>/", noise.review_screen, name="noise_review"),
    path("noise/judgments/<int:judgment_id>/review/", noise.review_act, name="noise_review_act"),
    path("noise/review-actions/<int:action_id>/undo/", noise.review_undo, name="noise_review_undo"),
    path("projects/<slug:slug>/annotate/", annotate.annotate, name="annotate"),
    path("projects/<slug:slug>/annotate/next/", annotate.annotate_next, name="annotate_next"),
    path("projects/<slug:slug>/annotate/undo/", annotate.annotate_undo, name="annotate_undo"),
    path("assignments/<int:assignment_id>/submit/", annotate.assignment_submit, name="assignment_submit"),
    path("assignments/<int:assignment_id>/skip/", annotate.assignment_skip_view, name="assignment_skip"),
    path("projects/<slug:slug>/export/", exports.export_new, name="export_new"),
    path("exports/<int:job_id>/", exports.export_job_detail, name="export_job"),
    path("exports/<int:job_id>/retry/", exports.export_job_retry, name="export_job_retry"),
    path("exports/<int:job_id>/files/<str:name>", exports.export_file, name="export_file"),
    path("imports/<int:job_id>/", imports.import_job_detail, name="import_job"),
    path("imports/<int:job_id>/retry/", imports.import_job_retry_view, name="import_job_retry"),
]
