from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.routers import DefaultRouter

from generation.api import health as api_health
from scheduler.api.generated import PostViewSet

# Posts belong to scheduler, but creating one from generated images needs generation's rows, and scheduler
# sits below generation: generation serves the posts API (scheduler's viewset plus that lookup).
posts_router = DefaultRouter()
posts_router.include_root_view = False  # the personas router answers /api/v1/
posts_router.register("posts", PostViewSet, basename="post")

urlpatterns = [
    path("healthz", api_health.healthz, name="healthz"),
    path("readyz", api_health.readyz, name="readyz"),
    path("", include("django_prometheus.urls")),  # /metrics
    path("admin/", admin.site.urls),
    path("api/v1/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # The split view serves Swagger UI's start-up code as a script file, not inline (Content-Security-Policy).
    path("api/v1/docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
    path("api/v1/", include("personas.api_urls")),
    path("api/v1/", include(posts_router.urls)),
    path("api/v1/", include("scheduler.api.urls")),
    path("api/v1/", include("generation.api.urls")),
    path("", include("web.urls")),  # the pages: sign-in, dashboard, personas, review, calendar, exports, media
]
