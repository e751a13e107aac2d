from django.contrib import admin
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from core.api import api_not_found
from generation.api import health as api_health

urlpatterns = [
    path("healthz", api_health.healthz, name="healthz"),
    path("readyz", api_health.readyz, name="readyz"),
    path("", include("django_prometheus.urls")),  # /metrics
    path("admin/", admin.site.urls),
    path("api/v1/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # The split view serves Swagger UI's start-up code as a script file, not inline (Content-Security-Policy).
    path(
        "api/v1/docs/",
        SpectacularSwaggerSplitView.as_view(url_name="api-schema", template_name="web/api_docs.html"),
        name="api-docs",
    ),
    path("api/v1/", include("personas.api_urls")),
    path("api/v1/", include("generation.api.urls")),
    path("api/v1/", include("scheduler.api.urls")),
    path("api/v1/", include("provenance.api.urls")),
    re_path(r"^api/", api_not_found),  # an unknown API path (or an id that is not a number): a JSON 404
    path("", include("publishing.urls")),  # the signed route platforms fetch published images from
    path("", include("web.urls")),  # the pages: sign-in, dashboard, personas, review, calendar, exports, media
]
