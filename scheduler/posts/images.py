"""A post's images: uploads checked and re-encoded like reference photos, generated images copied as rendered.

Everything is decoded before anything is written, so one bad file refuses the whole post.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.files.base import ContentFile, File
from PIL import Image, UnidentifiedImageError

from core.errors import ValidationFailed
from personas.image_validation import ImageRejected, validate_reference_image
from personas.models import Persona
from scheduler.models import Post, PostImage

ALLOWED_IMAGE_FORMATS = {"PNG": "png", "JPEG": "jpg", "WEBP": "webp"}  # exports re-encode to JPEG
# Post images go to platforms as they are: small ones are allowed, platform rules judge their size.
POST_IMAGE_MIN_SIDE = 64


@dataclass(frozen=True)
class DecodedImage:
    content: bytes
    sha256: str
    ext: str
    width: int
    height: int
    generated_image_id: int | None = None


def _read_bytes(item: bytes | File) -> tuple[bytes, str]:
    if isinstance(item, bytes | bytearray):
        return bytes(item), "image"
    name = getattr(item, "name", "") or "image"
    if hasattr(item, "seek"):
        item.seek(0)
    data = item.read()
    return data, name


def _decode_generated(data: bytes, name: str, generated_image_id: int) -> DecodedImage:
    """A rendered image, stored byte for byte: it is checked, never re-encoded."""
    max_bytes = settings.REFERENCE_IMAGE_MAX_BYTES
    if not data:
        raise ValidationFailed(f"{name}: the file is empty.")
    if len(data) > max_bytes:
        raise ValidationFailed(f"{name}: {len(data):,} bytes is over the {max_bytes:,}-byte limit.")
    try:
        with Image.open(io.BytesIO(data)) as img:
            fmt = img.format
            width, height = img.size
            if width * height > settings.REFERENCE_IMAGE_MAX_PIXELS:
                raise ValidationFailed(f"{name}: {width}x{height} is over the pixel limit.")
            img.verify()
    except (UnidentifiedImageError, OSError, SyntaxError, Image.DecompressionBombError):
        raise ValidationFailed(f"{name}: not a readable image (PNG or JPEG expected).") from None
    if fmt not in ALLOWED_IMAGE_FORMATS:
        raise ValidationFailed(f"{name}: {fmt} images are not supported; upload PNG or JPEG.")
    return DecodedImage(
        content=data,
        sha256=hashlib.sha256(data).hexdigest(),
        ext=ALLOWED_IMAGE_FORMATS[fmt],
        width=width,
        height=height,
        generated_image_id=generated_image_id,
    )


def _sanitize_upload(data: bytes, name: str) -> DecodedImage:
    """An uploaded image passes the same checks as reference photos (type by content, pixel limit, truncation,
    polyglots) and is stored as its re-encode: EXIF orientation applied, GPS and all other metadata dropped."""
    try:
        clean = validate_reference_image(data, min_side=POST_IMAGE_MIN_SIDE)
    except ImageRejected as exc:
        raise ValidationFailed(f"{name}: {exc}.") from None
    return DecodedImage(
        content=clean.content,
        sha256=hashlib.sha256(clean.content).hexdigest(),
        ext=ALLOWED_IMAGE_FORMATS[clean.format],
        width=clean.width,
        height=clean.height,
    )


def post_images_decode(
    *, persona: Persona, uploads: Sequence[bytes | File], generated_images: Sequence[Any]
) -> list[DecodedImage]:
    """Uploads first, then generated images, in the order given; raises on the first bad one.

    `generated_images` are generation.GeneratedImage rows (the model PostImage.generated_image points at),
    resolved by the caller.
    """
    decoded: list[DecodedImage] = []
    for index, item in enumerate(uploads, start=1):
        data, name = _read_bytes(item)
        decoded.append(_sanitize_upload(data, name if name != "image" else f"Image {index}"))
    for generated in generated_images:
        if generated.job.persona_id != persona.pk:
            raise ValidationFailed(f"Generated image {generated.pk} belongs to another persona.")
        with generated.image.open("rb") as fh:
            data = fh.read()
        decoded.append(_decode_generated(data, f"Generated image {generated.pk}", generated.pk))
    return decoded


def post_images_save(*, post: Post, images: Sequence[DecodedImage]) -> None:
    for position, item in enumerate(images):
        image = PostImage(post=post, sha256=item.sha256, position=position, generated_image_id=item.generated_image_id)
        image.image.save(f"{position:02d}-{item.sha256[:16]}.{item.ext}", ContentFile(item.content), save=False)
        # Sizes come from our own decode, not a second read of the stored file.
        image.width, image.height = item.width, item.height
        image.save()
