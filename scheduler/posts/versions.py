"""A post image's versions: replacing the image at a position with a new version (an inpainted fix) keeps the old
one, file and all, in the post's history (PostImageVersion). The PostImage row stays the current version, so every
reader of a post's images (pages, exports, rules) sees the new one without knowing about versions."""

from __future__ import annotations

from django.contrib.auth.base_user import AbstractBaseUser
from django.core.files.base import ContentFile
from django.db import transaction
from django.utils import timezone

from core.access import AUTHOR_ROLES
from core.errors import Conflict, NotFound, ValidationFailed
from personas.selectors import role_require
from scheduler.models import Post, PostImage, PostImageVersion, PostStatus, PostTransition
from scheduler.posts.images import post_images_decode

# A post whose image may still change: before approval. Approved, scheduled or exported posts keep what was approved.
REPLACEABLE_STATUSES = (PostStatus.DRAFT, PostStatus.IN_REVIEW, PostStatus.CHANGES_REQUESTED)


def post_image_replace(
    *, actor: AbstractBaseUser | None, post_id: int, position: int, generated_image, comment: str = ""
) -> PostImage:
    """Make `generated_image` (a generation.GeneratedImage of the post's persona) the post's image at `position`;
    the replaced one becomes a PostImageVersion. `actor` None: a system action for a job's author (the caller
    checked who may). Idempotent: an image already current is left as is."""
    with transaction.atomic():
        post = Post.objects.select_for_update().select_related("persona").filter(pk=post_id).first()
        if post is None:
            raise NotFound("Post not found.")
        if actor is not None:
            role_require(user=actor, workspace_id=post.workspace_id, roles=AUTHOR_ROLES, not_found="Post not found.")
        current = post.images.filter(position=position).order_by("id").first()
        if current is None:
            raise ValidationFailed(f"Post {post.pk} has no image at position {position}.", code="invalid_position")
        if current.generated_image_id == generated_image.pk:
            return current
        if post.status not in REPLACEABLE_STATUSES:
            raise Conflict(f"Post {post.pk} is {post.get_status_display().lower()}: its images can change only "
                           "while it is a draft, in review or has changes requested.", code="invalid_state")
        decoded = post_images_decode(persona=post.persona, uploads=(), generated_images=[generated_image])[0]
        version = PostImageVersion.objects.create(
            post=post, position=position, image=current.image.name, width=current.width, height=current.height,
            sha256=current.sha256, generated_image_id=current.generated_image_id, replaced_by=current,
            actor=actor if actor is not None and actor.is_authenticated else None, comment=comment,
        )
        current.image.save(f"{position:02d}-{decoded.sha256[:16]}.{decoded.ext}", ContentFile(decoded.content),
                           save=False)
        current.width, current.height, current.sha256 = decoded.width, decoded.height, decoded.sha256
        current.generated_image_id = generated_image.pk
        current.save()
        PostTransition.objects.create(
            post=post, actor=version.actor, from_status=post.status, to_status=post.status,
            comment=f"Image {position + 1} replaced by a new version (generated image {generated_image.pk}); "
            f"the previous one is kept in the post's history. {comment}".strip(),
        )
        update_fields = ["updated_at"]
        if post.status == PostStatus.IN_REVIEW:  # the audit row above counts as a new submission, as it always did
            post.last_submitted_at = timezone.now()
            update_fields.append("last_submitted_at")
        post.save(update_fields=update_fields)
    return current

