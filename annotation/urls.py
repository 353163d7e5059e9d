from django.urls import path

from annotation import views

app_name = "annotation"

urlpatterns = [
    path("", views.project_list, name="project_list"),
    path("projects/<slug:slug>/", views.project_overview, name="project_overview"),
    path("projects/<slug:slug>/import/", views.import_upload, name="import_upload"),
    path("imports/<int:job_id>/", views.import_job_detail, name="import_job"),
    path("imports/<int:job_id>/retry/", views.import_job_retry_view, name="import_job_retry"),
]
