from django.urls import path

from . import views

app_name = "generation"
urlpatterns = [
    path("personas/<int:persona_id>/train/", views.lora_train, name="lora_train"),
    path("personas/<int:persona_id>/generate/", views.generate, name="generate"),
    path("lora/<int:version_id>/cancel/", views.lora_cancel, name="lora_cancel"),
    path("lora/<int:version_id>/activate/", views.lora_activate, name="lora_activate"),
    path("lora/<int:version_id>/", views.lora_partial, name="lora_partial"),
    path("jobs/<int:job_id>/", views.job_partial, name="job_partial"),
    path("jobs/<int:job_id>/cancel/", views.job_cancel, name="job_cancel"),
    path("jobs/<int:job_id>/draft/", views.draft_from_images, name="draft_from_images"),
    path("jobs/<int:job_id>/draft-again/", views.job_draft_again, name="job_draft_again"),
    path("jobs/<int:job_id>/draft-again/", views.job_draft_again, name="job_draft_again"),
]
