"""What the provenance tests share: test pictures, the C2PA development CA's credentials, one image through the
labeling chain, and the ZIP edits the verification tests make."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageOps

from bench.samples import sample_photo
from provenance.labeling import image_label
from provenance.signing import SigningCredentials, dev_ca_ensure

PAYLOAD = bytes.fromhex("a55ac33c")


def photo_bytes(seed: int = 0, size: tuple[int, int] = (1200, 1600), fmt: str = "PNG") -> bytes:
    """A photo-like test image: smooth colour fields, soft shapes, sensor-like noise."""
    width, height = size
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    base = np.stack([128 + 100 * np.sin(x / 97 + c) * np.cos(y / 123 - c) for c in (0.0, 1.3, 2.6)], axis=-1)
    image = Image.fromarray(np.clip(base, 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(image)
    for _ in range(25):
        cx, cy, r = int(rng.integers(0, width)), int(rng.integers(0, height)), int(rng.integers(20, 250))
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=tuple(int(v) for v in rng.integers(0, 255, 3)))
    image = image.filter(ImageFilter.GaussianBlur(3))
    noisy = np.asarray(image).astype(np.int16) + rng.normal(0, 6, (height, width, 3)).astype(np.int16)
    buf = io.BytesIO()
    Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8)).save(buf, fmt)
    return buf.getvalue()


def dev_credentials(directory: Path) -> SigningCredentials:
    paths = dev_ca_ensure(directory=directory)
    return SigningCredentials(
        cert_chain_pem=paths.chain.read_bytes(),
        private_key_pem=paths.private_key.read_bytes(),
        trust_anchors_pem=paths.ca_cert.read_bytes(),
        is_development=True,
    )


def label(credentials: SigningCredentials, *, seed: int = 0, payload: bytes = PAYLOAD, **kwargs):
    kwargs.setdefault("title", "12_0.jpg")
    kwargs.setdefault("base_model", "stabilityai/stable-diffusion-xl-base-1.0")
    return image_label(
        source=photo_bytes(seed), size=(1080, 1350), watermark=payload, credentials=credentials, **kwargs
    )


def sample_png(name: str, size: tuple[int, int]) -> bytes:
    """One of bench.samples' real photos, fitted to `size`, as PNG bytes (an upload as the app stores it)."""
    buf = io.BytesIO()
    ImageOps.fit(sample_photo(name), size).save(buf, "PNG")
    return buf.getvalue()


def rewrite(data: bytes, name: str, change) -> bytes:
    """The same ZIP with entry `name` replaced by change(old bytes)."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            blob = src.read(info.filename)
            dst.writestr(info, change(blob) if info.filename == name else blob)
    return out.getvalue()
