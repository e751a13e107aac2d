from django.urls import path
from rest_framework.routers import SimpleRouter

from generation import api, api_base_models, api_images, api_plans

# SimpleRouter: the API root view already comes from the personas router.
router = SimpleRouter()
router.register("lora-versions", api.LoraVersionViewSet, basename="lora-version")
router.register("generation-jobs", api.GenerationJobViewSet, basename="generation-job")
router.register("base-models", api_base_models.BaseModelViewSet, basename="base-model")
router.register("content-plans", api_plans.ContentPlanViewSet, basename="content-plan")
router.register("generated-images", api_images.GeneratedImageViewSet, basename="generated-image")
router.register("reproduction-checks", api_images.ReproductionCheckViewSet, basename="reproduction-check")

urlpatterns = router.urls + [
    path(
        "personas/<int:persona_id>/lora-versions/",
        api.PersonaLoraVersionListCreateView.as_view(),
        name="persona-lora-versions",
    ),
    path("personas/<int:persona_id>/base-model/", api_base_models.PersonaBaseModelView.as_view(),
         name="persona-base-model"),
    path("personas/<int:persona_id>/class-images/", api_base_models.PersonaClassImagesView.as_view(),
         name="persona-class-images"),
]
