"""Page routes. The root pages are not namespaced (settings.LOGIN_REDIRECT_URL names "dashboard"); the persona
pages keep the "personas" namespace and the training and generation actions the "generation" one."""

from django.contrib.auth import views as auth_views
from django.urls import include, path

from web import (
    auth,
    base_models,
    calendar,
    client_review,
    comments,
    dashboard,
    exports,
    generation,
    images,
    media,
    origin,
    persona,
    plans,
    review,
    review_links,
)

persona_patterns = [
    path("new/", persona.persona_create, name="create"),
    path("<int:persona_id>/", persona.persona_detail, name="detail"),
    path("<int:persona_id>/edit/", persona.persona_edit, name="edit"),
    path("<int:persona_id>/references/", persona.reference_images_upload, name="references_upload"),
    path(
        "<int:persona_id>/references/<int:image_id>/delete/",
        persona.reference_image_delete,
        name="reference_delete",
    ),
]

generation_patterns = [
    path("personas/<int:persona_id>/train/", generation.lora_train, name="lora_train"),
    path("personas/<int:persona_id>/class-images/", generation.class_images_partial, name="class_images_partial"),
    path("personas/<int:persona_id>/generate/", generation.generate, name="generate"),
    path("lora/<int:version_id>/cancel/", generation.lora_cancel, name="lora_cancel"),
    path("lora/<int:version_id>/activate/", generation.lora_activate, name="lora_activate"),
    path("lora/<int:version_id>/", generation.lora_partial, name="lora_partial"),
    path("jobs/<int:job_id>/", generation.job_partial, name="job_partial"),
    path("jobs/<int:job_id>/cancel/", generation.job_cancel, name="job_cancel"),
    path("jobs/<int:job_id>/draft/", generation.draft_from_images, name="draft_from_images"),
    path("jobs/<int:job_id>/draft-again/", generation.job_draft_again, name="job_draft_again"),
    path("images/<int:image_id>/variations/", images.image_variations, name="image_variations"),
    path("images/<int:image_id>/inpaint/", images.image_inpaint, name="image_inpaint"),
    path("images/<int:image_id>/reproduce/", images.image_reproduce, name="image_reproduce"),
    path("images/<int:image_id>/reproduce/verdict/", images.image_checks, name="image_checks"),
]

urlpatterns = [
    path("accounts/login/", auth.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("", dashboard.dashboard, name="dashboard"),
    path("dashboard/jobs/", dashboard.dashboard_jobs, name="dashboard_jobs"),
    path("dashboard/demo/", dashboard.dashboard_demo, name="dashboard_demo"),
    path("review/", review.review_queue, name="review_queue"),
    path("review/<int:post_id>/decide/", review.review_decide, name="review_decide"),
    path("review/bulk-approve/", review.review_bulk_approve, name="review_bulk_approve"),
    path("posts/<int:post_id>/caption/", review.post_caption, name="post_caption_page"),
    path("posts/<int:post_id>/submit/", review.post_submit, name="post_submit_page"),
    path("posts/<int:post_id>/caption/rewrite/", review.caption_rewrite, name="post_caption_rewrite"),
    path("posts/<int:post_id>/caption/<int:alternative_id>/use/", review.caption_use, name="post_caption_use"),
    path("posts/<int:post_id>/schedule/", calendar.post_schedule, name="post_schedule_page"),
    path("posts/<int:post_id>/reschedule/", calendar.post_reschedule, name="post_reschedule_page"),
    path("posts/<int:post_id>/unschedule/", calendar.post_unschedule, name="post_unschedule_page"),
    path("calendar/", calendar.calendar_page, name="calendar"),
    path("exports/", exports.export_list, name="export_list"),
    path("exports/new/", exports.export_create, name="export_create"),
    path("exports/rows/", exports.export_list_partial, name="export_rows"),
    path("exports/<int:bundle_id>/download/", exports.export_download, name="export_download"),
    path("exports/<int:bundle_id>/verify/", exports.export_verify, name="export_verify"),
    path("origin-check/", origin.origin_check_page, name="origin_check"),
    path("posts/<int:post_id>/comments/", comments.post_comments, name="post_comments"),
    path("review-links/", review_links.review_link_list, name="review_link_list"),
    path("review-links/new/", review_links.review_link_create, name="review_link_create"),
    path("review-links/<int:link_id>/revoke/", review_links.review_link_revoke, name="review_link_revoke"),
    path("plans/", plans.plan_list, name="plan_list"),
    path("plans/import/", plans.plan_import, name="plan_import"),
    path("plans/<int:plan_id>/", plans.plan_detail, name="plan_detail"),
    # A client review link (no account): the token in the address is the credential.
    path("r/<str:token>/", client_review.client_review, name="client_review"),
    path("r/<str:token>/posts/<int:post_id>/decide/", client_review.client_review_decide,
         name="client_review_decide"),
    path("r/<str:token>/posts/<int:post_id>/comment/", client_review.client_review_comment,
         name="client_review_comment"),
    path("models/", base_models.base_model_gallery, name="base_models"),
    path("models/<int:base_model_id>/use/", base_models.base_model_use, name="base_model_use"),
    path("personas/", include((persona_patterns, "personas"))),
    path("generation/", include((generation_patterns, "generation"))),
    # Uploaded and generated files: served only to members of the workspace in the stored path (any DEBUG).
    path("media/<path:path>", media.media_serve, name="media"),
]
