"""The engine's speed settings and its device. On CPU every option is off, so the CPU path (and its byte-identical
reproducibility) is exactly the plain one; on CUDA each defaults to on and its Django setting or environment
variable ("1"/"0", true/false, on/off) overrides it. bench/generation.py measures them against plain diffusers.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
from django.conf import settings

from generation.engine.specs import EngineError


@dataclass(frozen=True)
class PerfOptions:
    """Speed settings. The defaults are the plain path, used on CPU."""

    # GENERATION_SDPA: torch's scaled_dot_product_attention (flash / memory-efficient kernels) on UNet and VAE.
    sdpa: bool = False
    # GENERATION_CHANNELS_LAST: UNet and VAE in channels_last memory format (faster cuDNN convolutions).
    channels_last: bool = False
    # GENERATION_FUSE_QKV: fused QKV projections, VAE only. A fused UNet reads the merged to_qkv weight and would
    # silently bypass the persona LoRAs on to_q/to_k/to_v.
    fuse_qkv: bool = False
    # GENERATION_COMPILE: torch.compile of the UNet on its first generation; a new batch or image size compiles
    # once more. GENERATION_COMPILE_MODE "max-autotune-no-cudagraphs" autotunes every shape (minutes of warm-up).
    compile: bool = False
    compile_mode: str = "default"
    # GENERATION_LORA_HOTSWAP (on with compile): one adapter slot of rank GENERATION_MAX_LORA_RANK; each persona's
    # weights are copied into it in place (lower ranks zero-padded) and base requests run it at scale 0, so
    # switching personas never recompiles. Higher-rank or text-encoder LoRAs are refused.
    lora_hotswap: bool = False
    max_lora_rank: int = 64
    # GENERATION_VAE_TILING_AREA: decode tiled above this many pixels, bounding VAE memory (0: never tile).
    vae_tiling_area: int = 0
    # GENERATION_MAX_BATCH (honoured on every device): the most images one pipeline call renders.
    max_batch: int = 1
    # GENERATION_MAX_LOADED_ADAPTERS (every device, without hotswap): persona LoRAs kept loaded, least recently used
    # out. Each costs memory and slows set_adapters; an evicted one reloads on its next request, drawing the same.
    max_loaded_adapters: int = 8
    # GENERATION_TRAIN_COMPILE: compiled training UNet, kept only while its first step's gradients match eager
    # ones (torch 2.13's CPU compiler gets LoRA gradients wrong at batch 1).
    train_compile: bool = False
    # Training reads losses back once per this many steps, so a GPU queues the next steps meanwhile.
    train_sync_every: int = 1

    @classmethod
    def for_device(cls, device: torch.device) -> PerfOptions:
        """All off on CPU/MPS; on CUDA the fast defaults, each overridable by its setting."""
        if torch.device(device).type != "cuda":
            # Batching changes no per-image output and is recorded for reproduction, so it is allowed anywhere.
            return cls(max_batch=_count_setting("GENERATION_MAX_BATCH", default=1, unit="images"),
                       max_loaded_adapters=_max_loaded_adapters())
        compile_on = _flag("GENERATION_COMPILE", True)
        return cls(
            sdpa=_flag("GENERATION_SDPA", True),
            channels_last=_flag("GENERATION_CHANNELS_LAST", True),
            fuse_qkv=_flag("GENERATION_FUSE_QKV", True),
            compile=compile_on,
            compile_mode=_setting("GENERATION_COMPILE_MODE", "default"),
            # Compiling without hotswap would recompile on every persona switch.
            lora_hotswap=compile_on or _flag("GENERATION_LORA_HOTSWAP", False),
            max_lora_rank=int(_setting("GENERATION_MAX_LORA_RANK", "64")),
            vae_tiling_area=int(_setting("GENERATION_VAE_TILING_AREA", str(1024 * 1024))),
            max_batch=_count_setting("GENERATION_MAX_BATCH", default=8, unit="images"),
            max_loaded_adapters=_max_loaded_adapters(),
            train_compile=_flag("GENERATION_TRAIN_COMPILE", True),
            train_sync_every=10,  # the GPU queues ten steps ahead instead of waiting for each loss
        )


def _setting(name: str, default: str = "") -> str:
    return str(getattr(settings, name, "") or os.environ.get(name, "") or default)


def _flag(name: str, default: bool) -> bool:
    raw = getattr(settings, name, None)
    if raw is None or raw == "":
        raw = os.environ.get(name, "")
    if isinstance(raw, bool):
        return raw
    raw = str(raw).strip().lower()
    if not raw:
        return default
    if raw in {"1", "true", "yes", "on"}:
        return True
    if raw in {"0", "false", "no", "off"}:
        return False
    raise EngineError(f"{name} must be 1/0 (true/false, on/off), got {raw!r}.")


def _count_setting(name: str, *, default: int, unit: str) -> int:
    raw = _setting(name, str(default))
    try:
        value = int(raw)
    except ValueError:
        raise EngineError(f"{name} must be a whole number of {unit}, got {raw!r}.") from None
    if value < 1:
        raise EngineError(f"{name} must be at least 1, got {value}.")
    return value


def _max_loaded_adapters() -> int:
    return _count_setting("GENERATION_MAX_LOADED_ADAPTERS", default=PerfOptions.max_loaded_adapters,
                          unit="adapters")


def select_device_and_dtype() -> tuple[torch.device, torch.dtype]:
    requested = _setting("GENERATION_DEVICE")
    device = torch.device(requested or ("cuda" if torch.cuda.is_available() else "cpu"))
    dtype_name = _setting("GENERATION_DTYPE").lower()
    dtypes = {"float32": torch.float32, "fp32": torch.float32, "float16": torch.float16, "fp16": torch.float16,
              "bfloat16": torch.bfloat16, "bf16": torch.bfloat16}
    if dtype_name:
        if dtype_name not in dtypes:
            raise EngineError(f"GENERATION_DTYPE must be one of {sorted(dtypes)}, got {dtype_name!r}.")
        return device, dtypes[dtype_name]
    if device.type == "cuda":
        # bf16 keeps SDXL's VAE out of fp16 overflow (NaN/black images); fp16 on older cards.
        return device, torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return device, torch.float32
