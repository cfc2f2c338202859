"""Top-level URLs: the admin console and the REST API."""

from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from . import auth, health, metrics
from .api import MeView

handler500 = "impgateway.api.server_error"

# A bad OIDC_GRANT_RULES stops the start, not the first sign-in.
auth.grant_rules()

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="admin:index", permanent=False)),
    path("admin/login/", auth.console_login, name="console-login"),
    path("admin/logout/", auth.console_logout, name="console-logout"),
    path("admin/", admin.site.urls),
    path("i18n/", include("django.conf.urls.i18n")),
    path("oidc/", include("mozilla_django_oidc.urls")),
    path("api/v1/me/", MeView.as_view(), name="api-me"),
    path("api/v1/agent/", include("clusters.api.urls")),
    path("api/v1/", include("impgateway.api_urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("metrics", metrics.metrics_view, name="metrics"),
]
