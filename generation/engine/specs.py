"""What the engine takes and gives back, importable without torch.

The web process creates jobs and validates requests with these; only a worker that renders or trains
imports generation.engine.pipelines (and with it torch and diffusers).
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image, PngImagePlugin

SCHEDULERS = ("dpmpp_2m_karras", "euler_a")
SAMPLER_LABELS = {"dpmpp_2m_karras": "DPM++ 2M Karras", "euler_a": "Euler a"}
TINY_MODEL_ID = "tiny"
TINY_SDXL_MODEL_ID = "tiny-sdxl"
# Models the worker builds itself (random weights, for development and tests) instead of loading from a path.
BUILTIN_MODEL_IDS = (TINY_MODEL_ID, TINY_SDXL_MODEL_ID)
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".ckpt", ".pt", ".pth")

# Bounds of a generation request: the service enforces them; the API and the pages show the same ones.
MAX_VARIANTS = 8
# Best-of-N renders variants x best_of images in the job's one pipeline call (so each stays reproducible from its
# record): a job renders at most MAX_JOB_IMAGES, the batch one CUDA call takes well (GENERATION_MAX_BATCH's default).
MAX_BEST_OF = 8
MAX_JOB_IMAGES = 8
MAX_STEPS = 150
MAX_GUIDANCE = 30
# A job's images use seed, seed + 1, ...: 32-bit, as A1111 and ComfyUI seeds are, so records stay portable.
MAX_SEED = 2**32 - 1
DEFAULT_NEGATIVE_PROMPT = (
    "lowres, blurry, bad anatomy, bad hands, extra fingers, deformed, watermark, text, logo, jpeg artifacts"
)

# Training: (low, high) of each hyperparameter a marketer may set, and the reference photos a run needs.
TRAINING_LIMITS = {
    "steps": (1, 20_000),
    "rank": (1, 256),
    "learning_rate": (1e-7, 1e-2),
    "resolution": (64, 2048),
    "prior_loss_weight": (0.05, 10.0),
}
MIN_REFERENCE_IMAGES = 3
# Prior preservation: class images of the base model alone (this prompt, seeds CLASS_IMAGE_SEED + i, these steps),
# rendered once per base model and reused by every training run on it (generation.training.class_images).
CLASS_PROMPT = "photo of a person"
CLASS_IMAGE_SEED = 1000
CLASS_IMAGE_STEPS = 25
CLASS_IMAGE_GUIDANCE = 7.0
CLASS_IMAGE_SCHEDULER = "dpmpp_2m_karras"


@dataclass(frozen=True)
class LoraRef:
    path: Path
    sha256: str
    adapter_name: str
    scale: float = 1.0


# Image modes: text only, variations of an init image, or repainting the masked part of one.
MODES = ("txt2img", "img2img", "inpaint")
# Strength of the image-to-image pass that refines an upscaled render (hires) and re-renders a face (face detail):
# low enough to keep the composition, high enough to add the detail the native render lacks.
HIRES_STRENGTH = 0.35
FACE_DETAIL_STRENGTH = 0.4
DEFAULT_STRENGTH = 0.6  # img2img and inpaint, unless the job says otherwise


@dataclass(frozen=True)
class BaseModelRef:
    """Where a base model lives, as a worker needs it: "tiny"/"tiny-sdxl", a local diffusers folder, or a
    single-file .safetensors with its config folder; sha256 is the registered hash of its weights ("": not yet
    known, recorded by the first worker that loads it)."""

    location: str
    config_dir: str = ""
    sha256: str = ""

    @property
    def key(self) -> tuple[str, str]:
        return (self.location, self.config_dir)


@dataclass(frozen=True)
class GenerationRequest:
    prompt: str
    negative_prompt: str
    seeds: list[int]
    steps: int
    guidance: float
    scheduler: str  # "dpmpp_2m_karras" | "euler_a"
    width: int  # the render size (the model's native-ish size for the platform's aspect ratio)
    height: int
    lora: LoraRef | None = None
    mode: str = "txt2img"
    init_image: Image.Image | None = field(default=None, compare=False)  # img2img and inpaint (RGB)
    mask: Image.Image | None = field(default=None, compare=False)  # inpaint: white repaints, black keeps
    strength: float = 1.0  # img2img / inpaint: how far from the init image the result may move (0, 1]
    output_size: tuple[int, int] | None = None  # hires: upscale and refine to exactly this size
    hires_strength: float = HIRES_STRENGTH
    face_detail: bool = False
    face_detail_strength: float = FACE_DETAIL_STRENGTH


@dataclass(frozen=True)
class Rendered:
    """One output image and what its stages did (recorded with it for reproduction)."""

    image: Image.Image
    stages: dict


@dataclass(frozen=True)
class TrainingConfig:
    rank: int = 16
    alpha: int | None = None  # None means alpha == rank (LoRA scale 1.0)
    steps: int = 500
    learning_rate: float = 1e-4
    resolution: int = 512
    batch_size: int = 1
    seed: int = 0
    prior_preservation: bool = False
    prior_loss_weight: float = 1.0

    @property
    def effective_alpha(self) -> int:
        return self.rank if self.alpha is None else self.alpha


@dataclass
class TrainingResult:
    weights_path: Path
    sha256: str
    loss_curve: list[float]
    hyperparameters: dict = field(default_factory=dict)


class EngineCancelled(Exception):
    """Raised when an on_step callback returned False."""


class EngineError(RuntimeError):
    """The engine cannot do what was asked (bad model path, bad request); the message is for humans."""


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def parameters_text(record: dict) -> str:
    """A1111 "parameters" text, which Civitai/A1111/ComfyUI readers understand.

    record keys: prompt, negative_prompt, steps, scheduler, guidance, seed, width, height, base_model,
    base_model_hash, and optionally lora_adapter + lora_sha256.
    """
    guidance = float(record.get("guidance", 7.0))
    parts = [
        f"Steps: {int(record['steps'])}",
        f"Sampler: {SAMPLER_LABELS.get(record.get('scheduler', ''), record.get('scheduler', ''))}",
        f"CFG scale: {guidance:g}",
        f"Seed: {int(record['seed'])}",
        f"Size: {int(record['width'])}x{int(record['height'])}",
    ]
    if record.get("base_model_hash"):
        parts.append(f"Model hash: {record['base_model_hash'][:10]}")
    if record.get("base_model"):
        parts.append(f"Model: {record['base_model']}")
    if record.get("lora_sha256"):
        parts.append(f'Lora hashes: "{record.get("lora_adapter") or "lora"}: {record["lora_sha256"][:12]}"')
    parts += _derivation_parts(record)
    lines = [str(record.get("prompt", ""))]
    if record.get("negative_prompt"):
        lines.append(f"Negative prompt: {record['negative_prompt']}")
    lines.append(", ".join(parts))
    return "\n".join(lines)


def _derivation_parts(record: dict) -> list[str]:
    """A1111-style fields of an image made from an init image, upscaled or face-detailed (none for plain txt2img)."""
    parts = []
    if record.get("mode") in ("img2img", "inpaint"):
        parts.append(f"Denoising strength: {float(record.get('strength') or 0):g}")
        if record.get("init_sha256"):
            parts.append(f"Init image hash: {record['init_sha256'][:12]}")
        if record.get("mask_sha256"):
            parts.append(f"Mask hash: {record['mask_sha256'][:12]}")
    stages = record.get("stages") or {}
    if "hires" in stages:
        hires = stages["hires"]
        parts += [f"Hires resize: {hires['width']}x{hires['height']}", "Hires upscaler: Lanczos",
                  f"Hires denoising strength: {float(hires['strength']):g}"]
    if stages.get("face_detail", {}).get("faces"):
        face = stages["face_detail"]
        parts.append(f"Face detail: {face['faces']} (dlib, strength {float(face['strength']):g})")
    return parts


def png_bytes_with_parameters(image: Image.Image, *, record: dict) -> bytes:
    """PNG bytes with a "parameters" tEXt chunk; deterministic (no time chunk, fixed compression)."""
    info = PngImagePlugin.PngInfo()
    info.add_text("parameters", parameters_text(record))
    buf = io.BytesIO()
    image.convert("RGB").save(buf, format="PNG", pnginfo=info, compress_level=6)
    return buf.getvalue()


def prompt_for_persona(
    *, trigger_token: str, appearance: str, scene: str = "", style_keywords: Sequence[str] = ()
) -> str:
    """"photo of <token> person, <appearance>, <scene>, <style, keywords>" (empty parts are skipped)."""
    parts = [f"photo of {trigger_token.strip()} person", appearance.strip(), scene.strip(),
             ", ".join(k.strip() for k in style_keywords if k and k.strip())]
    return ", ".join(p for p in parts if p)
