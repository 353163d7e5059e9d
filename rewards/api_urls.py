"""/api/v1/runs/: training runs (included before annotation's API URLs, whose last pattern answers 404)."""

from django.urls import path

from rewards import apis

app_name = "rewards_api"

urlpatterns = [
    path("runs/", apis.RunListApi.as_view(), name="run_list"),
    path("runs/create/", apis.RunCreateApi.as_view(), name="run_create"),
    path("runs/base-models/", apis.BaseModelListApi.as_view(), name="base_models"),
    path("runs/<int:run_id>/", apis.RunDetailApi.as_view(), name="run_detail"),
    path("runs/<int:run_id>/cancel/", apis.RunCancelApi.as_view(), name="run_cancel"),
    path("runs/<int:run_id>/restart/", apis.RunRestartApi.as_view(), name="run_restart"),
]
