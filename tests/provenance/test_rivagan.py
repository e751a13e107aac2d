"""The robust watermark layer: RivaGAN through onnxruntime at a fixed working size, on real photos."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageOps

from bench.samples import sample_photo
from provenance.marks import rivagan
from provenance.marks.rivagan import (
    DECODE_SCALES,
    RivaganReading,
    payload_is_valid,
    payload_random,
    rivagan_embed,
    rivagan_embed_batch,
    rivagan_read,
    rivagan_readings,
    working_size,
)

ROOT = Path(__file__).resolve().parents[2]
PAYLOAD = bytes.fromhex("a55ac33c")  # 16 of 32 bits set
OTHER = bytes.fromhex("3c5a96c3")


def jpeg(image: Image.Image, quality: int) -> Image.Image:
    buf = io.BytesIO()
    image.save(buf, "JPEG", quality=quality)
    return Image.open(io.BytesIO(buf.getvalue())).convert("RGB")


def psnr(a: Image.Image, b: Image.Image) -> float:
    mse = np.mean((np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)) ** 2)
    return float(10 * np.log10(255**2 / mse))


@pytest.fixture(scope="module")
def photo() -> Image.Image:
    # 640x800: a 50% resize still leaves more than the 256 px working size.
    return ImageOps.fit(sample_photo("astronaut"), (640, 800))


@pytest.fixture(scope="module")
def marked(photo) -> Image.Image:
    return jpeg(rivagan_embed(photo, PAYLOAD), 92)


def first_reading(image) -> RivaganReading:
    return next(rivagan_readings(image, scales=(1.0,)))


def test_payloads_are_balanced_and_checked():
    for _ in range(50):
        payload = payload_random()
        assert len(payload) == 4 and payload_is_valid(payload)
        assert 13 <= int.from_bytes(payload, "big").bit_count() <= 19
    assert payload_is_valid(PAYLOAD) and payload_is_valid(OTHER)
    # Few ones (the encoder feeds 0/1 bits, so zeros add nothing) or the wrong length are refused.
    for bad in (bytes(4), b"\xff" * 4, bytes.fromhex("01020304"), b"\xa5\x5a\xc3"):
        assert not payload_is_valid(bad)
        with pytest.raises(ValueError, match="payload"):
            rivagan_embed(Image.new("RGB", (300, 300)), bad)


def test_working_size_keeps_aspect_and_short_side():
    assert working_size((1080, 1350)) == (256, 320)
    assert working_size((1600, 900)) == (455, 256)
    assert working_size((1080, 1350), 0.9) == (230, 288)


def test_mark_is_invisible_and_reads_back_after_our_own_jpeg(photo, marked):
    # ~40 dB: the residual plus the headroom knees that roll the top and bottom 8 levels in by 4.
    assert psnr(photo, rivagan_embed(photo, PAYLOAD)) > 39
    reading = first_reading(marked)
    assert reading.payload == PAYLOAD and reading.scale == 1.0
    assert reading.confidence > 3


def test_unmarked_photo_does_not_read_as_the_payload(photo):
    assert first_reading(jpeg(photo, 92)).payload != PAYLOAD


@pytest.mark.parametrize(
    "attack",
    [
        pytest.param(lambda im: im.resize((im.width // 2, im.height // 2), Image.Resampling.LANCZOS), id="resize50"),
        pytest.param(lambda im: jpeg(im, 50), id="jpeg50"),
        pytest.param(lambda im: jpeg(im.resize((540, 675), Image.Resampling.LANCZOS), 85), id="reencode-smaller"),
    ],
)
def test_survives_resize_and_recompression(marked, attack):
    assert first_reading(attack(marked)).payload == PAYLOAD


def test_crop_is_read_through_the_scale_hypotheses(marked):
    width, height = marked.size
    cropped = marked.crop((width // 20, height // 20, width - width // 20, height - height // 20))  # 10%
    reading = rivagan_read(cropped, accept=lambda payload: payload == PAYLOAD)
    assert reading.payload == PAYLOAD
    assert reading.scale in DECODE_SCALES


def test_batch_embeds_each_image_with_its_own_payload(photo):
    second = ImageOps.fit(sample_photo("grace_hopper"), photo.size)  # same size: one encoder call for both
    out = rivagan_embed_batch([photo, second], [OTHER, PAYLOAD])
    assert [im.size for im in out] == [photo.size, second.size]
    assert [first_reading(im).payload for im in out] == [OTHER, PAYLOAD]
    with pytest.raises(ValueError, match="One payload per image"):
        rivagan_embed_batch([photo], [])


def test_too_small_images_are_refused():
    with pytest.raises(ValueError, match="too small"):
        rivagan_embed(Image.new("RGB", (48, 400)), PAYLOAD)


def test_sessions_prefer_cuda_where_onnxruntime_has_it(monkeypatch):
    import onnxruntime

    monkeypatch.setattr(onnxruntime, "get_available_providers", lambda: ["CPUExecutionProvider"])
    assert rivagan.onnx_providers() == ["CPUExecutionProvider"]
    monkeypatch.setattr(
        onnxruntime,
        "get_available_providers",
        lambda: ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"],
    )
    assert rivagan.onnx_providers() == ["CUDAExecutionProvider", "CPUExecutionProvider"]


def test_web_process_reads_marks_without_importing_torch():
    code = (
        "import sys; from PIL import Image; from provenance.marks.rivagan import models_load, rivagan_read; "
        "models_load(); rivagan_read(Image.new('RGB', (128, 128)), scales=(1.0,)); "
        "assert 'torch' not in sys.modules, 'torch was imported'"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
