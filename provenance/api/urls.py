from django.urls import path
from rest_framework.routers import SimpleRouter

from provenance.api import exports as api_exports
from provenance.api import origin as api_origin

# SimpleRouter: the API root view already comes from the personas router.
router = SimpleRouter()
router.register("exports", api_exports.ExportBundleViewSet, basename="export")

urlpatterns = router.urls + [
    path("origin-check/", api_origin.OriginCheckView.as_view(), name="origin-check"),
]
