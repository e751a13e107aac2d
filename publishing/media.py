"""The files platforms fetch: each published image is labelled once (provenance.bundles.published), kept in media
storage, and handed out at an expiring URL (platforms fetch media by URL): the object store's presigned URL when
media live on one the platforms can reach, otherwise PUBLIC_BASE_URL plus a signed route."""

from __future__ import annotations

from django.conf import settings
from django.core import signing
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.urls import reverse

from core.errors import ApplicationError
from core.storage import media_on_object_store, media_presigned_url
from provenance.bundles.published import post_image_publish_label
from scheduler.models import Post

_SALT = "publishing.media"


class PublicUrlMissing(ApplicationError):
    code = "public_url_missing"


def presigned_urls_used() -> bool:
    """Media on an object store the platforms can reach (PUBLISHING_MEDIA_PRESIGNED): they fetch from it."""
    return settings.PUBLISHING_MEDIA_PRESIGNED and media_on_object_store()


def media_urls_check() -> None:
    """Raises PublicUrlMissing when the platforms would have no URL to fetch our media from."""
    if not presigned_urls_used():
        public_base_url()


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
    if presigned_urls_used():
        presigned = media_presigned_url(name, max_age=settings.PUBLISHING_MEDIA_URL_MAX_AGE)
        if presigned:
            return presigned
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
