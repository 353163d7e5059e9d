from django.urls import path

from rewards import views

app_name = "rewards"

urlpatterns = [
    path("runs/", views.run_list, name="run_list"),
    path("runs/new/", views.run_new, name="run_new"),
    path("runs/<int:run_id>/", views.run_detail, name="run_detail"),
    path("runs/<int:run_id>/cancel/", views.run_cancel, name="run_cancel"),
    path("runs/<int:run_id>/restart/", views.run_restart, name="run_restart"),
    path("runs/<int:run_id>/download/", views.run_download, name="run_download"),
    path("runs/<int:run_id>/evaluate/", views.run_evaluate, name="run_evaluate"),
    path("runs/<int:run_id>/score/", views.run_score, name="run_score"),
]
