"""The files platforms fetch: each published image is labelled once (provenance.bundles.published), kept in media
storage, and served at PUBLIC_BASE_URL plus a signed route that expires (platforms fetch media by URL)."""

from __future__ import annotations

from django.conf import settings
from django.core import signing
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.urls import reverse

from core.errors import ApplicationError
from provenance.bundles.published import post_image_publish_label
from scheduler.models import Post

_SALT = "publishing.media"


class PublicUrlMissing(ApplicationError):
    code = "public_url_missing"


def public_base_url() -> str:
    base = (settings.PUBLIC_BASE_URL or "").rstrip("/")
    if not base:
        raise PublicUrlMissing(
            "Set PUBLIC_BASE_URL to this installation's public address: platforms fetch the image from a URL, so "
            "nothing can be published without one."
        )
    return base


def post_media_files_make(*, post: Post) -> list[str]:
    """Label each image of the post as an export would and keep the files; their storage names, in order."""
    names = []
    for image in post.images.all():
        labeled = post_image_publish_label(post_image=image)
        name = f"publishing/{post.workspace_id}/{post.pk}/{image.position:02d}-{labeled.sha256[:16]}{labeled.extension}"
        if not default_storage.exists(name):
            name = default_storage.save(name, ContentFile(labeled.data))
        names.append(name)
    return names


def media_url(*, name: str) -> str:
    token = signing.dumps({"n": name}, salt=_SALT, compress=True)
    return f"{public_base_url()}{reverse('publishing-media', kwargs={'signed': token})}"


def media_name_from_token(token: str) -> str | None:
    """The storage name a signed URL names, or None when it is forged or expired."""
    try:
        value = signing.loads(token, salt=_SALT, max_age=settings.PUBLISHING_MEDIA_URL_MAX_AGE)
    except signing.BadSignature:
        return None
    name = value.get("n") if isinstance(value, dict) else None
    return name if isinstance(name, str) and name.startswith("publishing/") else None
