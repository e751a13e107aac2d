from django.urls import path

from core.api import ApiRouter
from generation.api import base_models as api_base_models
from generation.api import images as api_images
from generation.api import jobs as api

# The API root view already comes from the personas router.
router = ApiRouter()
router.register("lora-versions", api.LoraVersionViewSet, basename="lora-version")
router.register("generation-jobs", api.GenerationJobViewSet, basename="generation-job")
router.register("base-models", api_base_models.BaseModelViewSet, basename="base-model")
router.register("generated-images", api_images.GeneratedImageViewSet, basename="generated-image")
router.register("reproduction-checks", api_images.ReproductionCheckViewSet, basename="reproduction-check")

urlpatterns = router.urls + [
    path(
        "personas/<id:persona_id>/lora-versions/",
        api.PersonaLoraVersionListCreateView.as_view(),
        name="persona-lora-versions",
    ),
    path("personas/<id:persona_id>/base-model/", api_base_models.PersonaBaseModelView.as_view(),
         name="persona-base-model"),
    path("personas/<id:persona_id>/class-images/", api_base_models.PersonaClassImagesView.as_view(),
         name="persona-class-images"),
]
