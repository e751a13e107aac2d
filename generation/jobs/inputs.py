"""Init images and masks of image-to-image and inpaint jobs: checked before anything is written or queued.

Uploads pass the reference-photo checks (type by content, pixel limit against decompression bombs, truncation,
polyglots) and are kept as their sanitised re-encode; a mask must also match its image's size and mark something
to repaint without marking everything. Torch-free: the web process runs these.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass

from django.contrib.auth.base_user import AbstractBaseUser
from django.core.files.base import ContentFile
from PIL import Image

from core.errors import ValidationFailed
from generation.engine import specs
from generation.models import GeneratedImage, GenerationJob, GenerationMode, generation_input_name
from generation.selectors import generated_image_get
from personas.image_validation import ImageRejected, validate_reference_image
from personas.models import Persona

# An init image smaller than this carries too little to vary; masks may be as small as the image they cover.
INIT_MIN_SIDE = 64
MASK_MIN_SIDE = 8


@dataclass(frozen=True)
class CheckedImage:
    content: bytes  # what is stored and rendered from
    sha256: str  # of `content`: the record names exactly these bytes
    width: int
    height: int
    extension: str


def _read(upload) -> bytes:
    if upload is None:
        return b""
    if isinstance(upload, bytes | bytearray):
        return bytes(upload)
    if hasattr(upload, "seek"):
        upload.seek(0)
    return upload.read()


def init_image_check(upload, *, what: str = "init image") -> CheckedImage:
    """An uploaded photo to render variations of, sanitised; raises ValidationFailed (400) saying why not."""
    try:
        clean = validate_reference_image(_read(upload), min_side=INIT_MIN_SIDE)
    except ImageRejected as exc:
        raise ValidationFailed(f"The {what} was refused: {exc.message}.", code="invalid_image") from None
    return CheckedImage(content=clean.content, sha256=hashlib.sha256(clean.content).hexdigest(), width=clean.width,
                        height=clean.height, extension=clean.extension)


def stored_image_check(data: bytes) -> CheckedImage:
    """A generated image (or another stored image, a post's say) used as an init image, byte for byte."""
    with Image.open(io.BytesIO(data)) as img:
        width, height = img.size
        extension = {"PNG": "png", "JPEG": "jpg", "WEBP": "webp"}.get(img.format or "", "png")
    return CheckedImage(content=data, sha256=hashlib.sha256(data).hexdigest(), width=width, height=height,
                        extension=extension)


def mask_check(upload, *, size: tuple[int, int]) -> CheckedImage:
    """A mask for an image of `size`: white (>= 128) repaints, black keeps. Refused when it is not an image, is
    another size, or is all black (nothing to repaint) or all white (use a variation instead)."""
    try:
        clean = validate_reference_image(_read(upload), min_side=MASK_MIN_SIDE)
    except ImageRejected as exc:
        raise ValidationFailed(f"The mask was refused: {exc.message}.", code="invalid_mask") from None
    if (clean.width, clean.height) != tuple(size):
        raise ValidationFailed(f"The mask is {clean.width}x{clean.height}; it must match the image, "
                               f"{size[0]}x{size[1]}.", code="invalid_mask")
    with Image.open(io.BytesIO(clean.content)) as img:
        if "A" in img.getbands():
            # A drawn mask may paint opaque strokes on a transparent canvas: transparent counts as black.
            grey = Image.new("L", img.size, 0)
            grey.paste(img.convert("L"), mask=img.getchannel("A"))
        else:
            grey = img.convert("L")
    low, high = grey.point(lambda v: 255 if v >= 128 else 0).getextrema()
    if high == 0:
        raise ValidationFailed("The mask is all black: it marks nothing to repaint.", code="invalid_mask")
    if low == 255:
        raise ValidationFailed("The mask is all white: it repaints the whole image; ask for variations instead.",
                               code="invalid_mask")
    buffer = io.BytesIO()
    grey.save(buffer, format="PNG")
    content = buffer.getvalue()
    return CheckedImage(content=content, sha256=hashlib.sha256(content).hexdigest(), width=grey.width,
                        height=grey.height, extension="png")


@dataclass(frozen=True)
class StoredSource:
    """An image stored by a caller (a post's current image, say) to render from, byte for byte: the caller has
    scoped it to the actor's workspace and the persona. `generated_image`: the one it was made from, if any."""

    content: bytes
    generated_image: GeneratedImage | None = None


@dataclass(frozen=True)
class JobInputs:
    strength: float | None
    init: CheckedImage | None = None
    mask: CheckedImage | None = None
    source_image: GeneratedImage | None = None


def stored_bytes(field) -> bytes:
    """The bytes of a stored file field."""
    with field.open("rb") as fh:
        return fh.read()


def job_inputs_check(
    *, actor: AbstractBaseUser, persona: Persona, mode: str, strength: float | None, init_image=None,
    source_image_id: int | None = None, stored_source: StoredSource | None = None, mask=None,
) -> JobInputs:
    """What an img2img or inpaint job renders from, checked: one source (an upload, a generated image, or a stored
    image such as a post's, each of the caller's workspace and this persona), a strength in (0, 1], and for inpaint
    a mask."""
    if mode not in GenerationMode.values:
        raise ValidationFailed(f"Unknown mode '{mode}'; choose one of: {', '.join(GenerationMode.values)}.")
    given = [name for name, value in (("init_image", init_image), ("source_image", source_image_id),
                                      ("stored_source", stored_source)) if value not in (None, b"", "")]
    if mode == GenerationMode.TXT2IMG:
        extra = given + [name for name, value in (("mask", mask), ("strength", strength)) if value is not None]
        if extra:
            raise ValidationFailed(f"{', '.join(extra)} apply to img2img and inpaint, not txt2img.")
        return JobInputs(strength=None)
    if len(given) != 1:
        raise ValidationFailed(f"{mode} needs exactly one source: an uploaded init_image or a source_image (a "
                               f"generated image); got {', '.join(given) or 'none'}.", code="invalid_source")
    strength = specs.DEFAULT_STRENGTH if strength is None else float(strength)
    if not 0 < strength <= 1:
        raise ValidationFailed(f"strength must be in (0, 1]; got {strength:g}.", code="invalid_value")
    if mode == GenerationMode.IMG2IMG and mask not in (None, b"", ""):
        raise ValidationFailed("A mask applies to inpaint only.")
    source = None
    if init_image not in (None, b"", ""):
        init = init_image_check(init_image)
    elif source_image_id is not None:
        source = generated_image_get(user=actor, image_id=source_image_id)  # another workspace's: 404
        if source.job.persona_id != persona.pk:
            raise ValidationFailed(f"Generated image {source.pk} is of another persona.", code="invalid_source")
        init = stored_image_check(stored_bytes(source.image))
    else:
        source = stored_source.generated_image
        init = stored_image_check(stored_source.content)
    checked_mask = None
    if mode == GenerationMode.INPAINT:
        if mask in (None, b"", ""):
            raise ValidationFailed("inpaint needs a mask (white repaints, black keeps).", code="invalid_mask")
        checked_mask = mask_check(mask, size=(init.width, init.height))
    return JobInputs(strength=strength, init=init, mask=checked_mask, source_image=source)


@dataclass(frozen=True)
class StoredInputs:
    """Where a job's checked init image and mask were stored ("" where there is none)."""

    init_image: str = ""
    mask: str = ""


def _input_store(*, persona: Persona, image: CheckedImage | None, extension: str) -> str:
    if image is None:
        return ""
    # Named by content: a retry, or a transaction that rolled back after the upload, reuses the file, and no two
    # jobs' different bytes can share a name.
    field = GenerationJob._meta.get_field("init_image")
    name = generation_input_name(persona.workspace_id, f"{image.sha256}.{extension}")
    if field.storage.exists(name):
        return name
    return field.storage.save(name, ContentFile(image.content))


def job_inputs_store(*, persona: Persona, inputs: JobInputs) -> StoredInputs:
    """Store the checked init image and mask before the job's row is written: an upload is never made inside a
    transaction, and the row names files that already exist."""
    return StoredInputs(
        init_image=_input_store(persona=persona, image=inputs.init,
                                extension=inputs.init.extension if inputs.init else ""),
        mask=_input_store(persona=persona, image=inputs.mask, extension="png"),
    )
