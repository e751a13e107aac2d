from django.urls import path

from . import views

app_name = "personas"
urlpatterns = [
    path("new/", views.persona_create, name="create"),
    path("<int:persona_id>/", views.persona_detail, name="detail"),
    path("<int:persona_id>/edit/", views.persona_edit, name="edit"),
    path("<int:persona_id>/references/", views.reference_images_upload, name="references_upload"),
    path(
        "<int:persona_id>/references/<int:image_id>/delete/",
        views.reference_image_delete,
        name="reference_delete",
    ),
]
