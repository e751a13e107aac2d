"""Real photographs of two different people that ship inside packages, for the likeness tests: scikit-image's
astronaut (Eileen Collins) and matplotlib's grace_hopper.jpg, with the transformations a persona's pictures go
through (crop, flip, resize, JPEG, brightness)."""

from __future__ import annotations

import functools
import io

import numpy as np
from PIL import Image, ImageEnhance, ImageOps


@functools.cache
def _astronaut() -> Image.Image:
    import skimage.data

    return Image.fromarray(skimage.data.astronaut())


@functools.cache
def _grace_hopper() -> Image.Image:
    import matplotlib.cbook

    with matplotlib.cbook.get_sample_data("grace_hopper.jpg") as fh:
        return Image.open(fh).convert("RGB")


def astronaut() -> Image.Image:
    return _astronaut().copy()


def grace_hopper() -> Image.Image:
    return _grace_hopper().copy()


def jpeg_bytes(img: Image.Image, quality: int = 90) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def png_bytes(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


def variants(img: Image.Image) -> dict[str, Image.Image]:
    """The same face after the edits a photo goes through."""
    w, h = img.size
    jpeg = Image.open(io.BytesIO(jpeg_bytes(img, quality=40)))
    jpeg.load()
    return {
        "crop": img.crop((w // 8, 0, w - w // 8, h - h // 4)),
        "flip": ImageOps.mirror(img),
        "resize": img.resize((w * 3 // 2, h * 3 // 2), Image.Resampling.BICUBIC),
        "jpeg": jpeg,
        "brighter": ImageEnhance.Brightness(img).enhance(1.3),
        "darker": ImageEnhance.Brightness(img).enhance(0.75),
    }


def at_least(img: Image.Image, side: int = 640) -> Image.Image:
    """Scaled up so that its short side is at least `side` (the reference-upload minimum is 512)."""
    factor = max(1.0, side / min(img.size))
    return img.resize((round(img.width * factor), round(img.height * factor)), Image.Resampling.BICUBIC)


def noise(side: int = 512, seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (side, side, 3), dtype=np.uint8))


def side_by_side(*images: Image.Image) -> Image.Image:
    height = max(i.height for i in images)
    canvas = Image.new("RGB", (sum(i.width for i in images), height), (128, 128, 128))
    x = 0
    for img in images:
        canvas.paste(img, (x, 0))
        x += img.width
    return canvas


def small_face(img: Image.Image, canvas: int = 640, scale: float = 0.45) -> Image.Image:
    """The photo shrunk inside a plain canvas, so its face is a few dozen pixels across."""
    small = img.resize((round(img.width * scale), round(img.height * scale)), Image.Resampling.LANCZOS)
    out = Image.new("RGB", (canvas, canvas), (200, 200, 200))
    out.paste(small, ((canvas - small.width) // 2, (canvas - small.height) // 2))
    return out


def on_canvas(img: Image.Image, size: tuple[int, int] = (512, 640)) -> Image.Image:
    """The photo fitted into a picture of `size` (a generated image's shape), on grey."""
    fitted = img.copy()
    fitted.thumbnail(size, Image.Resampling.LANCZOS)
    out = Image.new("RGB", size, (128, 128, 128))
    out.paste(fitted, ((size[0] - fitted.width) // 2, (size[1] - fitted.height) // 2))
    return out
