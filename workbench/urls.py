from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from workbench import views as account_views

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("account/tokens/", account_views.account_tokens, name="account_tokens"),
    path("account/tokens/<int:token_id>/revoke/", account_views.account_token_revoke, name="account_token_revoke"),
    # rewards before annotation: annotation's API ends with a catch-all that answers 404 in the API's error shape.
    path("api/v1/", include("rewards.api_urls")),
    path("api/v1/", include("annotation.api_urls")),
    path("api/schema/", SpectacularAPIView.as_view(authentication_classes=[]), name="api_schema"),
    path(
        "api/docs/",
        SpectacularSwaggerSplitView.as_view(url_name="api_schema", authentication_classes=[]),
        name="api_docs",
    ),
    path("rewards/", include("rewards.urls")),
    path("", include("annotation.urls")),
]

# A crash answers without a traceback or a path: JSON under /api/, a standalone page elsewhere (workbench/errors.py).
handler500 = "workbench.errors.server_error"
# 403 and 404 in the site's layout with a way back (JSON under /api/), the same module.
handler403 = "workbench.errors.permission_denied"
handler404 = "workbench.errors.page_not_found"
