from django.urls import path
from rest_framework.routers import SimpleRouter

from . import api

# SimpleRouter: the API root view already comes from the personas router.
router = SimpleRouter()
router.register("lora-versions", api.LoraVersionViewSet, basename="lora-version")
router.register("generation-jobs", api.GenerationJobViewSet, basename="generation-job")

urlpatterns = router.urls + [
    path(
        "personas/<int:persona_id>/lora-versions/",
        api.PersonaLoraVersionListCreateView.as_view(),
        name="persona-lora-versions",
    ),
]
