"""Robust invisible watermark: RivaGAN's 32-bit payload, run through onnxruntime at a fixed working size.

The encoder and decoder graphs are the ONNX files that ship inside the invisible-watermark wheel (MIT;
RivaGAN itself is MIT, DAI-Lab); imwatermark loads them the same way (onnxruntime.InferenceSession on the
package's rivagan_encoder.onnx / rivagan_decoder.onnx). Both are fully convolutional: the encoder adds a
residual to a frame of any size, the decoder averages per-bit evidence over the whole frame.

Working size. Run on the full picture, the mark is tied to the picture's pixel scale: a platform that halves
the image leaves the decoder looking at a pattern twice as fine as it learned, and the read fails. Here
the encoder runs on a copy scaled so its short side is WORKING_SHORT_SIDE px, its residual is scaled back up
and added to the full-size picture, and the decoder always looks at the image scaled to that same short
side. Any uniform resize (50%, 1080-px re-encode, screenshot rescale) then lands on the scale the mark was
made at. A centred crop enlarges the content by 1/(1 - crop): `DECODE_SCALES` tries those scales too. The
convolutions cost ~0.16 (encoder) and ~0.27 (decoder) million multiply-adds per pixel, so the working size
also fixes the cost: about 0.7 s to embed and 1 s per decode scale on one CPU core (bench/labeling.py),
whatever the export size, against ~6-30 s for a full 1080x1080 frame. Where onnxruntime-gpu is installed
(the GPU workers), the CUDA provider is used and batches of same-sized frames run in one call.
"""

from __future__ import annotations

import functools
import importlib.util
import io
import secrets
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

PAYLOAD_BYTES = 4  # RivaGAN's graphs are trained for exactly 32 bits
# The encoder is fed 0/1 bits, so a 0 adds nothing: payloads with few ones (or, symmetrically, few zeros)
# come back with bit errors (4 of 32 ones: 1-4 wrong bits; 8-24: none, measured on photos). Only payloads
# with 13-19 ones are issued: 78% of the 32-bit space, 3.4 billion values.
PAYLOAD_MIN_ONES, PAYLOAD_MAX_ONES = 13, 19
WORKING_SHORT_SIDE = 256
# Content scale hypotheses for reading: as exported, then after a centred crop of 10% and of 25%.
DECODE_SCALES = (1.0, 0.9, 0.75)
MIN_SIDE = 64  # below this the 11x11 convolutions see mostly padding
FEEDBACK_ROUNDS = 5
# More bits than this wrong after the first encoder run: the picture has too little texture to hide the mark
# in (flat colour: 16-19 of 32; a smooth gradient 5-9, which feedback rounds did not fix), so no feedback
# rounds and no other payload are tried. Kept well above what photos show (a rocket photo: 0).
GIVE_UP_WRONG_BITS = 8
READBACK_MARGIN = 2.0  # logit every bit must reach when read back (marked photos average 5-17)
HEADROOM = 4.0  # levels kept free at both ends of each channel

_MODEL_PACKAGE = "imwatermark"
_ENCODER_FILE = "rivagan_encoder.onnx"
_DECODER_FILE = "rivagan_decoder.onnx"


class RivaganUnavailable(RuntimeError):
    """The ONNX files or onnxruntime are missing (invisible-watermark is installed with --no-deps)."""


@dataclass(frozen=True)
class RivaganReading:
    payload: bytes
    confidence: float  # mean |logit| over the 32 bits: ~5-17 for a marked image, 0.2-5 for an unmarked one
    scale: float  # which DECODE_SCALES hypothesis produced it

    @property
    def hex(self) -> str:
        return self.payload.hex()


def onnx_providers() -> list[str]:
    """CUDA first where onnxruntime-gpu provides it (GPU workers), else the CPU."""
    import onnxruntime

    available = onnxruntime.get_available_providers()
    return [p for p in ("CUDAExecutionProvider", "CPUExecutionProvider") if p in available]


@functools.cache
def _session(filename: str):
    try:
        import onnxruntime
    except ImportError as exc:  # pragma: no cover - a dependency of the project
        raise RivaganUnavailable("onnxruntime is not installed") from exc
    # find_spec, not import: imwatermark's __init__ imports torch, which stays out of the web process.
    spec = importlib.util.find_spec(_MODEL_PACKAGE)
    locations = list(spec.submodule_search_locations or []) if spec else []
    path = Path(locations[0], filename) if locations else None
    if path is None or not path.is_file():
        raise RivaganUnavailable(f"{filename} not found in the {_MODEL_PACKAGE} package")
    model = path.read_bytes()
    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3  # the CUDA provider's "not all nodes placed" notes are not errors
    # Idle pool threads sleep instead of spinning: web and export processes share their cores.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return onnxruntime.InferenceSession(model, options, providers=onnx_providers())


def models_load() -> None:
    """Load both graphs now (a worker calls this once at start, so the first image does not pay for it)."""
    _session(_ENCODER_FILE)
    _session(_DECODER_FILE)


def payload_is_valid(payload: bytes) -> bool:
    """A payload this layer issues: 4 bytes, 13-19 bits set. A reading outside that set is noise."""
    ones = int.from_bytes(payload, "big").bit_count()
    return len(payload) == PAYLOAD_BYTES and PAYLOAD_MIN_ONES <= ones <= PAYLOAD_MAX_ONES


def payload_random() -> bytes:
    """A fresh valid payload; the registry that stores it makes it unique."""
    while True:
        payload = secrets.token_bytes(PAYLOAD_BYTES)
        if payload_is_valid(payload):
            return payload


def _payload_bits(payload: bytes) -> np.ndarray:
    if not payload_is_valid(payload):
        raise ValueError(
            f"RivaGAN payload must be {PAYLOAD_BYTES} bytes with {PAYLOAD_MIN_ONES}-{PAYLOAD_MAX_ONES} bits set "
            f"(use payload_random()), got {payload.hex()}."
        )
    return np.unpackbits(np.frombuffer(payload, dtype=np.uint8)).astype(np.float32)


def working_size(size: tuple[int, int], scale: float = 1.0) -> tuple[int, int]:
    """(width, height) of the frame the networks see: short side WORKING_SHORT_SIDE * scale, aspect kept."""
    width, height = size
    factor = WORKING_SHORT_SIDE * scale / min(width, height)
    return max(1, round(width * factor)), max(1, round(height * factor))


def _frame(image: Image.Image, size: tuple[int, int]) -> np.ndarray:
    """The image at `size` as the networks' input: float32 in [-1, 1], shape (3, 1, height, width)."""
    # Pillow's BICUBIC widens its kernel when shrinking, so this is an anti-aliased downscale.
    small = image.convert("RGB").resize(size, Image.Resampling.BICUBIC)
    rgb = np.asarray(small, dtype=np.float32) / 127.5 - 1.0
    return rgb.transpose(2, 0, 1)[:, None]


def _check_size(image: Image.Image) -> None:
    if min(image.size) < MIN_SIDE:
        raise ValueError(f"Image is too small for the RivaGAN watermark (short side under {MIN_SIDE} px).")


def _headroom(rgb: np.ndarray) -> np.ndarray:
    """Soft knees that keep HEADROOM levels free at both ends, so the residual is not clipped away.

    A saturated red (a retina photo's R channel at 255, its G and B near 0) would otherwise swallow half of
    the mark. Levels HEADROOM..255-HEADROOM are untouched; the ends are rolled in linearly.
    """
    low, high = 2 * HEADROOM, 255.0 - 2 * HEADROOM
    rgb = np.where(rgb < low, HEADROOM + rgb * (low - HEADROOM) / low, rgb)
    return np.where(rgb > high, high + (rgb - high) * (255.0 - HEADROOM - high) / (255.0 - high), rgb)


def _apply(image: np.ndarray, residual: np.ndarray) -> np.ndarray:
    full = cv2.resize(
        np.ascontiguousarray(residual.transpose(1, 2, 0)),
        (image.shape[1], image.shape[0]),
        interpolation=cv2.INTER_CUBIC,
    )
    return np.clip(np.rint(image + full), 0, 255).astype(np.uint8)


def rivagan_embed_batch(images: Sequence[Image.Image], payloads: Sequence[bytes]) -> list[Image.Image]:
    """Watermark each image with its payload; images of one size share each encoder and decoder call.

    Some content makes the encoder write a few wrong bits (periodic textures, saturated colours, noise).
    Each result is read back as a reader would (scaled to the working size) and, for the bits that came out
    wrong or weak, the encoder's input for that bit is pushed further (1 -> 2 -> 3, 0 -> -1 -> -2), up to
    FEEDBACK_ROUNDS more encoder runs. A payload that still does not read back is the caller's to replace
    (the labeling chain checks the encoded file and tries another payload). A picture with more than
    GIVE_UP_WRONG_BITS wrong after the first run gets no feedback rounds: it will not take the mark.
    """
    if len(images) != len(payloads):
        raise ValueError("One payload per image.")
    bits = [_payload_bits(payload) for payload in payloads]
    groups: dict[tuple[int, int], list[int]] = {}
    for index, image in enumerate(images):
        _check_size(image)
        groups.setdefault(working_size(image.size), []).append(index)

    encoder, decoder = _session(_ENCODER_FILE), _session(_DECODER_FILE)
    out: list[Image.Image | None] = [None] * len(images)
    for size, indices in groups.items():
        sources = [_headroom(np.asarray(images[i].convert("RGB"), dtype=np.float32)) for i in indices]
        frames = np.stack([_frame(Image.fromarray(np.rint(src).astype(np.uint8)), size) for src in sources])
        target = np.stack([bits[i] for i in indices])
        data = target.copy()
        push = np.where(target > 0.5, 1.0, -1.0).astype(np.float32)
        best: list[tuple[tuple[int, float], np.ndarray] | None] = [None] * len(indices)
        hopeless = np.zeros(len(indices), dtype=bool)
        for round_ in range(FEEDBACK_ROUNDS + 1):
            encoded = encoder.run(None, {"frame": frames, "data": data})[0]
            residuals = (np.clip(encoded, -1.0, 1.0) - frames)[:, :, 0] * 127.5  # (n, 3, h, w), pixel levels
            marked = [_apply(src, residual) for src, residual in zip(sources, residuals, strict=True)]
            readback = np.stack([_frame(Image.fromarray(m, "RGB"), size) for m in marked])
            margins = decoder.run(None, {"frame": readback})[0] * push  # > 0: the bit reads right
            for k, (image, margin) in enumerate(zip(marked, margins, strict=True)):
                score = (int((margin <= 0).sum()), -float(margin.min()))
                if best[k] is None or score < best[k][0]:
                    best[k] = (score, image)
            if round_ == 0:
                hopeless = (margins <= 0).sum(axis=1) > GIVE_UP_WRONG_BITS
            # Wrong, or right by too thin a margin to survive the JPEG encode that follows.
            weak = (margins < READBACK_MARGIN) & ~hopeless[:, None]
            if not weak.any():
                break
            data = data + np.where(weak, push, 0.0).astype(np.float32)
        for index, kept in zip(indices, best, strict=True):
            out[index] = Image.fromarray(kept[1], "RGB")
    return [image for image in out if image is not None]


def bits_wrong(a: bytes, b: bytes) -> int:
    """Bits that differ between two payloads."""
    return (int.from_bytes(a, "big") ^ int.from_bytes(b, "big")).bit_count()


def rivagan_embed(image: Image.Image, payload: bytes) -> Image.Image:
    """`image` carrying the 4-byte `payload` (PSNR ~40 dB on photos; see the module doc for why it is robust)."""
    return rivagan_embed_batch([image], [payload])[0]


def _as_image(image: Image.Image | bytes) -> Image.Image:
    if isinstance(image, bytes | bytearray):
        with Image.open(io.BytesIO(image)) as opened:
            return opened.convert("RGB")
    return image


def rivagan_readings(
    image: Image.Image | bytes, *, scales: Sequence[float] = DECODE_SCALES
) -> Iterator[RivaganReading]:
    """One reading per scale hypothesis, lazily: a caller that recognises the first can stop there."""
    image = _as_image(image)
    _check_size(image)
    decoder = _session(_DECODER_FILE)
    for scale in scales:
        frame = _frame(image, working_size(image.size, scale))
        logits = decoder.run(None, {"frame": frame[None]})[0][0]
        payload = np.packbits(logits > 0).tobytes()
        yield RivaganReading(payload=payload, confidence=float(np.abs(logits).mean()), scale=scale)


def rivagan_read(
    image: Image.Image | bytes,
    *,
    scales: Sequence[float] = DECODE_SCALES,
    accept: Callable[[bytes], bool] | None = None,
) -> RivaganReading:
    """The first reading `accept` recognises (a registry lookup), else the most confident one.

    An unmarked image still decodes to 32 bits; only a registry match makes a reading mean anything, and
    readings that are not valid payloads (most unmarked images: long runs of ones) are never looked up.
    """
    best: RivaganReading | None = None
    for reading in rivagan_readings(image, scales=scales):
        if accept is not None and payload_is_valid(reading.payload) and accept(reading.payload):
            return reading
        if best is None or reading.confidence > best.confidence:
            best = reading
    assert best is not None, "DECODE_SCALES is never empty"
    return best
