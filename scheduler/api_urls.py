from django.urls import path
from rest_framework.routers import DefaultRouter

from . import api_calendar, api_exports, api_origin

# Posts are routed in config/urls.py: generation serves them, to look up generated images.
router = DefaultRouter()
router.register("exports", api_exports.ExportBundleViewSet, basename="export")

urlpatterns = router.urls + [
    path("origin-check/", api_origin.OriginCheckView.as_view(), name="origin-check"),
    path("calendar/", api_calendar.CalendarView.as_view(), name="calendar"),
    path(
        "personas/<int:persona_id>/next-free-slot/",
        api_calendar.NextFreeSlotView.as_view(),
        name="persona-next-free-slot",
    ),
]
