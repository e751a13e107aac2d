"""Real good and bad image files for the reference-upload tests (small: just past each rule's edge)."""

from __future__ import annotations

import io
import struct
import zipfile
import zlib

from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import ExifTags, Image

SIDE = 512  # settings.REFERENCE_IMAGE_MIN_SIDE


def encode(img: Image.Image, fmt: str, **params) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **params)
    return buf.getvalue()


def photo(width: int = SIDE, height: int = SIDE, color=(200, 120, 90), mode: str = "RGB") -> Image.Image:
    img = Image.new(mode, (width, height), color)
    # A little structure so re-encodes are not trivially identical across colours.
    img.paste(Image.new(mode, (width // 4, height // 4), (10, 20, 30, 255)[: len(img.getbands())]), (5, 5))
    return img


def jpeg(width: int = SIDE, height: int = SIDE, color=(200, 120, 90), **params) -> bytes:
    return encode(photo(width, height, color), "JPEG", quality=90, **params)


def png(width: int = SIDE, height: int = SIDE, color=(200, 120, 90), mode: str = "RGB", **params) -> bytes:
    return encode(photo(width, height, color, mode=mode), "PNG", **params)


def webp(width: int = SIDE, height: int = SIDE, color=(200, 120, 90), **params) -> bytes:
    return encode(photo(width, height, color), "WEBP", **params)


def png_declaring(width: int, height: int) -> bytes:
    """A tiny PNG whose IHDR claims width x height (CRC recomputed, so the header itself is valid)."""
    data = bytearray(encode(Image.new("L", (1, 1)), "PNG"))
    ihdr = 8  # after the signature: length (4) type (4) data (13) crc (4)
    data[ihdr + 8 : ihdr + 16] = struct.pack(">II", width, height)
    crc = zlib.crc32(bytes(data[ihdr + 4 : ihdr + 21])) & 0xFFFFFFFF
    data[ihdr + 21 : ihdr + 25] = struct.pack(">I", crc)
    return bytes(data)


def zip_bytes() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as archive:
        archive.writestr("shell.php", "<?php system($_GET['c']); ?>")
    return buf.getvalue()


HTML = b"<!DOCTYPE html><html><body><script>alert(document.cookie)</script></body></html>"
SVG = (
    b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="600" height="600">'
    b"<script>alert(1)</script><rect width='600' height='600'/></svg>"
)


def jpeg_with_orientation_and_gps(width: int = 640, height: int = SIDE) -> bytes:
    """A landscape JPEG whose EXIF says 'rotate 90° CW to display' (orientation 6) and has GPS."""
    img = photo(width, height)
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = 6
    exif[ExifTags.Base.Make] = "PhoneCo"
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    gps[ExifTags.GPS.GPSLatitudeRef] = "N"
    gps[ExifTags.GPS.GPSLatitude] = (48.0, 51.0, 24.0)
    gps[ExifTags.GPS.GPSLongitudeRef] = "E"
    gps[ExifTags.GPS.GPSLongitude] = (2.0, 21.0, 3.0)
    return encode(img, "JPEG", quality=90, exif=exif)


def upload(name: str, data: bytes, content_type: str = "image/png") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data, content_type=content_type)
