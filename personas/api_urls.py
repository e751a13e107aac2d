from core.api import ApiRootRouter
from personas.api import PersonaViewSet, ReferenceImageViewSet, WorkspaceViewSet

# The API root view comes from this router; the other apps' routers are plain ApiRouters.
router = ApiRootRouter()
router.register("workspaces", WorkspaceViewSet, basename="workspace")
router.register("personas", PersonaViewSet, basename="persona")
router.register("reference-images", ReferenceImageViewSet, basename="reference-image")

urlpatterns = router.urls
