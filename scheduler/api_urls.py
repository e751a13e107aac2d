from django.urls import path
from rest_framework.routers import DefaultRouter

from . import api, api_exports

# Helper C registers exports on this same router: router.register("exports", ...).
router = DefaultRouter()
router.register("posts", api.PostViewSet, basename="post")
router.register("exports", api_exports.ExportBundleViewSet, basename="export")

urlpatterns = router.urls + [
    path("calendar/", api.CalendarView.as_view(), name="calendar"),
    path("personas/<int:persona_id>/next-free-slot/", api.NextFreeSlotView.as_view(), name="persona-next-free-slot"),
]
