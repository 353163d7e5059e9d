from django.urls import path

from annotation import views, views_annotate, views_export, views_setup

app_name = "annotation"

urlpatterns = [
    path("", views.project_list, name="project_list"),
    path("projects/new/", views_setup.project_new, name="project_new"),
    path("projects/<slug:slug>/", views.project_overview, name="project_overview"),
    path("projects/<slug:slug>/settings/", views_setup.project_settings, name="project_settings"),
    path("projects/<slug:slug>/members/", views_setup.project_members, name="project_members"),
    path(
        "projects/<slug:slug>/members/<int:user_id>/remove/",
        views_setup.project_member_remove,
        name="project_member_remove",
    ),
    path("projects/<slug:slug>/progress/", views_setup.project_progress, name="project_progress"),
    path("projects/<slug:slug>/import/", views.import_upload, name="import_upload"),
    path("projects/<slug:slug>/annotate/", views_annotate.annotate, name="annotate"),
    path("projects/<slug:slug>/annotate/next/", views_annotate.annotate_next, name="annotate_next"),
    path("projects/<slug:slug>/annotate/undo/", views_annotate.annotate_undo, name="annotate_undo"),
    path("assignments/<int:assignment_id>/submit/", views_annotate.assignment_submit, name="assignment_submit"),
    path("assignments/<int:assignment_id>/skip/", views_annotate.assignment_skip_view, name="assignment_skip"),
    path("projects/<slug:slug>/export/", views_export.export_new, name="export_new"),
    path("exports/<int:job_id>/", views_export.export_job_detail, name="export_job"),
    path("exports/<int:job_id>/retry/", views_export.export_job_retry, name="export_job_retry"),
    path("exports/<int:job_id>/files/<str:name>", views_export.export_file, name="export_file"),
    path("imports/<int:job_id>/", views.import_job_detail, name="import_job"),
    path("imports/<int:job_id>/retry/", views.import_job_retry_view, name="import_job_retry"),
]
