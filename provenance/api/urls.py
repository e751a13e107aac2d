from django.urls import path

from core.api import ApiRouter
from provenance.api import exports as api_exports
from provenance.api import origin as api_origin

# The API root view already comes from the personas router.
router = ApiRouter()
router.register("exports", api_exports.ExportBundleViewSet, basename="export")

urlpatterns = router.urls + [
    path("origin-check/", api_origin.OriginCheckView.as_view(), name="origin-check"),
]
