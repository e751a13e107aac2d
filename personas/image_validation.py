"""Validation and sanitising of uploaded reference photos.

Uploads are untrusted: the format is detected from the content (never the name or content type), the
pixel count is checked from the header before anything is decoded, the file must decode completely
and end exactly where the image ends (no appended ZIP/HTML/script payload), and the stored copy is a
fresh re-encode with EXIF orientation applied and every piece of metadata (EXIF, GPS, XMP, comments)
dropped.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import struct
import warnings
from dataclasses import dataclass

from django.conf import settings
from PIL import Image, ImageOps, UnidentifiedImageError

ACCEPTED_FORMATS = ("JPEG", "PNG", "WEBP")
EXTENSIONS = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp"}
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# Markup that must never be served from our media folder, even inside something that decodes as an image.
# ("<?xml" is left out on purpose: camera XMP packets near the start of real photos may contain it;
# a file that *starts* with "<" is refused anyway.)
MARKUP_MARKERS = (b"<!doctype", b"<html", b"<svg", b"<script", b"<?php", b"<body", b"<head", b"<iframe")
SNIFF_BYTES = 1024


class ImageRejected(Exception):
    """The file is not an acceptable reference photo; `message` says why, for the person uploading."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class ValidatedImage:
    content: bytes  # the re-encoded, metadata-free image to store
    format: str  # "JPEG" | "PNG" | "WEBP"
    width: int
    height: int
    sha256: str  # of the uploaded bytes (duplicate detection)

    @property
    def extension(self) -> str:
        return EXTENSIONS[self.format]


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def human_size(num: int) -> str:
    if num >= 1024 * 1024:
        return f"{num / (1024 * 1024):.1f} MB"
    if num >= 1024:
        return f"{num / 1024:.1f} KB"
    return f"{num} bytes"


def _sniff_format(data: bytes) -> str:
    head = data[:SNIFF_BYTES].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if head.startswith(b"<") or any(marker in head for marker in MARKUP_MARKERS):
        raise ImageRejected("looks like HTML/SVG/XML, not a photo; only JPEG, PNG or WebP images are accepted")
    if data.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if data.startswith(PNG_SIGNATURE):
        return "PNG"
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    raise ImageRejected("only JPEG, PNG or WebP images are accepted")


def _png_end(data: bytes) -> int:
    """Offset just after the IEND chunk; walks the chunk list so lengths are honoured."""
    pos = len(PNG_SIGNATURE)
    while pos + 12 <= len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        chunk_type = data[pos + 4 : pos + 8]
        pos += 12 + length
        if chunk_type == b"IEND":
            return pos if pos <= len(data) else -1
    return -1


def _jpeg_end(data: bytes) -> int:
    """Offset just after the EOI marker, skipping segments by length and scanning entropy-coded data."""
    pos, size = 2, len(data)
    while pos < size:
        if data[pos] != 0xFF:
            return -1
        while pos < size and data[pos] == 0xFF:  # fill bytes
            pos += 1
        if pos >= size:
            return -1
        marker = data[pos]
        pos += 1
        if marker == 0xD9:  # EOI
            return pos
        if 0xD0 <= marker <= 0xD7 or marker == 0x01:  # RSTn / TEM: no length
            continue
        if pos + 2 > size:
            return -1
        (length,) = struct.unpack(">H", data[pos : pos + 2])
        pos += length
        if marker == 0xDA:  # SOS: entropy-coded data follows until the next real marker
            while pos + 1 < size:
                if data[pos] == 0xFF and data[pos + 1] != 0x00 and not 0xD0 <= data[pos + 1] <= 0xD7:
                    break
                pos += 1
            else:
                return -1
    return -1


def _webp_end(data: bytes) -> int:
    (riff_size,) = struct.unpack("<I", data[4:8])
    end = 8 + riff_size
    return end if end <= len(data) else -1


def _webp_is_lossless(data: bytes) -> bool:
    pos = 12
    while pos + 8 <= len(data):
        chunk_type = data[pos : pos + 4]
        (length,) = struct.unpack("<I", data[pos + 4 : pos + 8])
        if chunk_type == b"VP8L":
            return True
        if chunk_type == b"VP8 ":
            return False
        pos += 8 + length + (length & 1)
    return False


def _check_structure(data: bytes, fmt: str, *, mpo: bool = False) -> None:
    end = {"JPEG": _jpeg_end, "PNG": _png_end, "WEBP": _webp_end}[fmt](data)
    # Multi-picture JPEGs (MPO, common from phone cameras) are JPEG streams back to back.
    while mpo and 0 <= end < len(data) and data[end : end + 3] == b"\xff\xd8\xff":
        next_end = _jpeg_end(data[end:])
        end = end + next_end if next_end >= 0 else -1
    if end < 0:
        raise ImageRejected("the file is truncated or damaged")
    if end != len(data):
        raise ImageRejected(
            f"has {len(data) - end} bytes of extra data after the end of the image "
            "(possibly a hidden file); please export the photo again"
        )


def _open(data: bytes, fmt: str) -> Image.Image:
    try:
        img = Image.open(io.BytesIO(data), formats=[fmt])
    except Image.DecompressionBombError:
        raise ImageRejected("the image has too many pixels (possible decompression bomb)") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, struct.error):
        raise ImageRejected("the file is truncated or damaged") from None
    if img.format not in (*ACCEPTED_FORMATS, "MPO"):
        raise ImageRejected("only JPEG, PNG or WebP images are accepted")
    return img


def _to_srgb(img: Image.Image) -> Image.Image:
    """Bake an embedded colour profile into sRGB pixels, since the profile itself is dropped."""
    icc = img.info.get("icc_profile")
    if not icc or img.mode not in ("RGB", "RGBA", "CMYK", "L"):
        return img
    try:
        from PIL import ImageCms

        src = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        out_mode = "RGBA" if img.mode == "RGBA" else "RGB"
        return ImageCms.profileToProfile(img, src, ImageCms.createProfile("sRGB"), outputMode=out_mode)
    except Exception:  # a broken profile must not reject an otherwise good photo
        return img


def _has_alpha(img: Image.Image) -> bool:
    return img.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in img.info


def _reencode(img: Image.Image, fmt: str, *, lossless_webp: bool) -> bytes:
    img = _to_srgb(img)
    if img.mode.startswith("I"):
        # 16-bit greyscale (PNG): scale to 8 bits instead of letting convert() clip everything to white.
        img = img.convert("I").point(lambda value: value * (1 / 256)).convert("L")
    if "transparency" in img.info and img.mode in ("RGB", "L", "P"):
        img = img.convert("RGBA")  # a tRNS colour key becomes a real alpha channel
    # Savers fall back to img.info for some metadata (e.g. PNG icc_profile): start from nothing.
    img.info = {}
    out = io.BytesIO()
    if fmt == "JPEG":
        if img.mode not in ("RGB", "L"):
            img = img.convert("RGB")  # CMYK, YCbCr, I;16... -> RGB
        img.save(out, "JPEG", quality=95, optimize=True)
    elif fmt == "PNG":
        if img.mode not in ("RGB", "RGBA", "L", "LA"):
            img = img.convert("RGBA" if _has_alpha(img) else "RGB")
        img.save(out, "PNG", optimize=False)
    else:
        img = img.convert("RGBA" if _has_alpha(img) else "RGB")
        if lossless_webp:
            img.save(out, "WEBP", lossless=True, quality=95, exact=True)
        else:
            img.save(out, "WEBP", quality=95)
    return out.getvalue()


def validate_reference_image(data: bytes, *, min_side: int | None = None) -> ValidatedImage:
    """Check `data` against every reference-photo rule and return a sanitised re-encode.

    `min_side` defaults to settings.REFERENCE_IMAGE_MIN_SIDE (training photos); post images pass their own.
    Raises ImageRejected with a message for the person uploading (without the filename).
    """
    max_bytes = settings.REFERENCE_IMAGE_MAX_BYTES
    if not data:
        raise ImageRejected("the file is empty")
    if len(data) > max_bytes:
        raise ImageRejected(f"the file is {human_size(len(data))}; the limit is {human_size(max_bytes)}")
    fmt = _sniff_format(data)

    with warnings.catch_warnings():
        # Pillow's own bomb check is a warning below 2x its limit: treat it as a rejection too.
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            img = _open(data, fmt)
            width, height = img.size  # from the header, nothing decoded yet
            if width * height > settings.REFERENCE_IMAGE_MAX_PIXELS:
                raise ImageRejected(
                    f"the image is {width}x{height} pixels; the limit is "
                    f"{settings.REFERENCE_IMAGE_MAX_PIXELS:,} pixels (possible decompression bomb)"
                )
            min_side = settings.REFERENCE_IMAGE_MIN_SIDE if min_side is None else min_side
            if min(width, height) < min_side:
                raise ImageRejected(
                    f"the image is {width}x{height}; images need at least {min_side} px on the short side"
                )
            mpo = img.format == "MPO"  # only the primary picture is kept
            if not mpo and getattr(img, "n_frames", 1) > 1:
                raise ImageRejected("animated images are not accepted; upload a single still photo")
            _check_structure(data, fmt, mpo=mpo)
            try:
                img.load()  # full decode: truncated or corrupt pixel data fails here
            except Image.DecompressionBombWarning:
                raise ImageRejected("the image has too many pixels (possible decompression bomb)") from None
            except (OSError, SyntaxError, ValueError, struct.error, EOFError):
                raise ImageRejected("the file is truncated or damaged") from None
        except Image.DecompressionBombWarning:
            raise ImageRejected("the image has too many pixels (possible decompression bomb)") from None

        # A malformed EXIF block is dropped anyway: keep the pixels as stored rather than reject.
        with contextlib.suppress(Exception):
            img = ImageOps.exif_transpose(img)
        lossless = fmt == "WEBP" and _webp_is_lossless(data)
        content = _reencode(img, fmt, lossless_webp=lossless)

    return ValidatedImage(content=content, format=fmt, width=img.width, height=img.height, sha256=sha256_of(data))
