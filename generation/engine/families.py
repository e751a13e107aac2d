"""Model families: the one place that knows what a base model is (SD 1.x, SD 2.x, SDXL, or a tiny test model),
its native size, the size it renders for a platform and its training defaults. Torch-free: the web process sizes
jobs with it, reading only a local model's JSON configs.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings

from core.errors import ValidationFailed
from core.platforms import Platform, platform_target_size
from generation.engine.specs import TINY_MODEL_ID, TINY_SDXL_MODEL_ID, EngineError

# The diffusers pipeline classes the engine runs, and whether each is SDXL-shaped (two text encoders, pooled text
# and size conditioning).
PIPELINE_IS_SDXL = {"StableDiffusionPipeline": False, "StableDiffusionXLPipeline": True}
# A UNet trained below this size is one of the tiny random-weight test models.
TINY_NATIVE_MAX = 256


@dataclass(frozen=True)
class _Traits:
    is_sdxl: bool
    native_size: int  # typical; a loaded or readable model reports its own
    render_long_side: int  # what render_size aims for: a comfortable size for the family, not always native
    training: dict[str, int]  # TrainingConfig defaults that differ from its own
    # The longest side a hires refine pass denoises in one go: platform sizes fit (1080x1350 .. 1600x900) on the
    # real families; the tiny models (whose attention at 1350 px would need tens of GB on CPU) refine at 2x native
    # and the result is then resized to the platform's size.
    refine_long_side_max: int


_TRAITS = {
    # The tiny models are 64 px native; 512 px training would only waste CPU time.
    "tiny": _Traits(False, 64, 80, {"resolution": 64, "steps": 100}, 160),
    "tiny-sdxl": _Traits(True, 64, 80, {"resolution": 64, "steps": 100}, 160),
    "sd15": _Traits(False, 512, 768, {"resolution": 512}, 1600),
    "sd2": _Traits(False, 768, 768, {"resolution": 768}, 1600),
    "sdxl": _Traits(True, 1024, 1024, {"resolution": 1024}, 2048),
}


@dataclass(frozen=True)
class Family:
    name: str  # "tiny", "tiny-sdxl", "sd15", "sd2" or "sdxl"
    native_size: int  # the resolution its UNet was trained at

    @property
    def is_sdxl(self) -> bool:
        return _TRAITS[self.name].is_sdxl

    @property
    def render_long_side(self) -> int:
        return _TRAITS[self.name].render_long_side

    @property
    def refine_long_side_max(self) -> int:
        return _TRAITS[self.name].refine_long_side_max

    @property
    def training_defaults(self) -> dict[str, int]:
        return dict(_TRAITS[self.name].training)


def _family(name: str, native_size: int | None = None) -> Family:
    return Family(name=name, native_size=native_size or _TRAITS[name].native_size)


def _native_size(unet: Mapping[str, Any] | None, vae: Mapping[str, Any] | None) -> int | None:
    sample_size = (unet or {}).get("sample_size")
    if not isinstance(sample_size, int):
        return None
    blocks = (vae or {}).get("block_out_channels")
    # diffusers' vae_scale_factor: one halving per VAE block after the first.
    return sample_size * (2 ** (len(blocks) - 1) if blocks else 8)


def pipeline_family(class_name: str, *, unet: Mapping[str, Any] | None, vae: Mapping[str, Any] | None) -> Family:
    """The family of a pipeline class with these UNet and VAE configs (None: not known)."""
    if class_name not in PIPELINE_IS_SDXL:
        raise EngineError(f"Unsupported pipeline {class_name!r}; expected one of {sorted(PIPELINE_IS_SDXL)}.")
    is_sdxl = PIPELINE_IS_SDXL[class_name]
    native = _native_size(unet, vae)
    if native is not None and native < TINY_NATIVE_MAX:
        return _family("tiny-sdxl" if is_sdxl else "tiny", native)
    if is_sdxl:
        return _family("sdxl", native)
    # SD 2.x conditions on OpenCLIP ViT-H (1024-wide), SD 1.x on CLIP ViT-L (768).
    return _family("sd2" if (unet or {}).get("cross_attention_dim") == 1024 else "sd15", native)


def family_of_pipeline(pipe) -> Family:
    """The family of a loaded diffusers pipeline."""
    return pipeline_family(type(pipe).__name__, unet=pipe.unet.config, vae=pipe.vae.config)


def _read_json(path: Path) -> dict | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def config_family(config_dir: Path) -> Family:
    """The family a local diffusers folder declares (model_index.json, unet/ and vae/ configs)."""
    index = config_dir / "model_index.json"
    class_name = (_read_json(index) or {}).get("_class_name")
    if not isinstance(class_name, str):
        raise EngineError(f"{index} is missing or not a diffusers model_index.json.")
    if class_name not in PIPELINE_IS_SDXL:
        names = sorted(PIPELINE_IS_SDXL)
        raise EngineError(f"Unsupported pipeline {class_name!r} in {index}; expected one of {names}.")
    return pipeline_family(class_name, unet=_read_json(config_dir / "unet" / "config.json"),
                           vae=_read_json(config_dir / "vae" / "config.json"))


def single_file_config_dir() -> str:
    """The diffusers config folder of a single-file checkpoint (GENERATION_BASE_MODEL_CONFIG), or ""."""
    name = "GENERATION_BASE_MODEL_CONFIG"
    return str(getattr(settings, name, "") or os.environ.get(name, ""))


def local_config_dir(base_model: str, config_dir: str | None = None) -> Path | None:
    """The folder whose configs describe a local base model: the model's own folder, or for a single-file
    checkpoint its config folder (`config_dir`, else GENERATION_BASE_MODEL_CONFIG); None for a hub id or a path
    this machine lacks."""
    path = Path(base_model).expanduser()
    if path.is_dir():
        return path
    config_dir = config_dir or single_file_config_dir()
    if path.is_file() and config_dir:
        return Path(config_dir)
    return None


def model_family(base_model: str | None = None, *, config_dir: str | None = None, strict: bool = False) -> Family:
    """The family of a base model id (default: GENERATION_BASE_MODEL); `config_dir`: a single-file checkpoint's
    config folder. Never raises unless `strict`: a model whose configs cannot be read here (a hub id, a path only
    the GPU workers have) is judged by its name; strict, that is an EngineError with the reason."""
    base_model = str(base_model or settings.GENERATION_BASE_MODEL)
    if base_model == TINY_MODEL_ID:
        return _family("tiny")
    if base_model == TINY_SDXL_MODEL_ID:
        return _family("tiny-sdxl")
    folder = local_config_dir(base_model, config_dir)
    if folder is not None:
        try:
            return config_family(folder)
        except EngineError:
            if strict:
                raise
    elif strict:
        raise EngineError(f"No readable model configs for {base_model!r}.")
    return _family("sdxl" if "xl" in base_model.lower() else "sd15")


FAMILY_LABELS = {"tiny": "Tiny SD (test)", "tiny-sdxl": "Tiny SDXL (test)", "sd15": "SD 1.5", "sd2": "SD 2.x",
                 "sdxl": "SDXL"}


def render_size(*, platform: str, base_model: str | None = None, family: Family | None = None) -> tuple[int, int]:
    """(width, height) the engine renders for `platform`: the platform's aspect ratio, multiples of 8.

    The long side sits near the family's comfortable size (tiny ~80 px, SD ~768, SDXL ~1024); among nearby long
    sides the first whose multiple-of-8 short side keeps the ratio within 0.5 % wins, so the image passes the
    platform's aspect-ratio check (TikTok's 9:16 is exact, for example). `family`, when known (a registered
    base model's), spares reading the model's configs.
    """
    if platform not in Platform.values:
        raise ValidationFailed(f"Unknown platform '{platform}'; choose one of: {', '.join(Platform.values)}.")
    preferred = (family or model_family(base_model)).render_long_side
    target_w, target_h = platform_target_size(platform)
    ratio = min(target_w, target_h) / max(target_w, target_h)
    candidates = sorted(range(preferred * 3 // 4 // 8 * 8, preferred * 8 // 5 + 1, 8), key=lambda s: abs(s - preferred))
    best: tuple[float, int, int] | None = None
    for long_side in candidates:
        short_side = max(8, round(long_side * ratio / 8) * 8)
        error = abs(short_side / long_side - ratio) / ratio
        if best is None or error < best[0] - 1e-9:
            best = (error, long_side, short_side)
        if error <= 0.005:
            break
    assert best is not None
    _error, long_side, short_side = best
    return (long_side, short_side) if target_w >= target_h else (short_side, long_side)
