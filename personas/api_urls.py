from rest_framework.routers import DefaultRouter

from personas.api import PersonaViewSet, ReferenceImageViewSet, WorkspaceViewSet

router = DefaultRouter()
router.register("workspaces", WorkspaceViewSet, basename="workspace")
router.register("personas", PersonaViewSet, basename="persona")
router.register("reference-images", ReferenceImageViewSet, basename="reference-image")

urlpatterns = router.urls
