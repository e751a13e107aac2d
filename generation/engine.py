"""The ML engine: the one module that owns the diffusers pipeline lifecycle.

The base model is loaded once per process (get_engine()); persona LoRAs are loaded once per adapter and switched
with set_adapters, so a worker serving many personas never reloads the base weights. Everything here is pure ML
(no Django models): services pass plain dataclasses in and get PIL images / file paths back.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
from django.conf import settings
from PIL import Image, PngImagePlugin

logger = logging.getLogger(__name__)

SCHEDULERS = ("dpmpp_2m_karras", "euler_a")
SAMPLER_LABELS = {"dpmpp_2m_karras": "DPM++ 2M Karras", "euler_a": "Euler a"}
TINY_MODEL_ID = "tiny"
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".ckpt", ".pt", ".pth")


@dataclass(frozen=True)
class LoraRef:
    path: Path
    sha256: str
    adapter_name: str
    scale: float = 1.0


@dataclass(frozen=True)
class GenerationRequest:
    prompt: str
    negative_prompt: str
    seeds: list[int]
    steps: int
    guidance: float
    scheduler: str  # "dpmpp_2m_karras" | "euler_a"
    width: int
    height: int
    lora: LoraRef | None = None


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


# ---------------------------------------------------------------------------------------------------------------
# Helpers


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _setting(name: str, default: str = "") -> str:
    return str(getattr(settings, name, "") or os.environ.get(name, "") or default)


def weights_files(model_path: Path) -> list[Path]:
    if model_path.is_file():
        return [model_path]
    return sorted(p for p in model_path.rglob("*") if p.is_file() and p.name.endswith(WEIGHT_SUFFIXES))


def weights_sha256(model_path: Path) -> str:
    """sha256 of the weights (a single file: its own sha256, as A1111 shows it; a folder: all weight files in
    path order). Cached in a sidecar keyed by path, size and mtime: hashing a 7 GB checkpoint takes a while."""
    files = weights_files(model_path)
    if not files:
        raise EngineError(f"No weight files found in {model_path}.")
    stamp = [[str(p.relative_to(model_path) if model_path.is_dir() else p.name), p.stat().st_size,
              p.stat().st_mtime_ns] for p in files]
    sidecar_dir = Path(settings.GENERATION_MODEL_CACHE) / "hashes"
    sidecar = sidecar_dir / (hashlib.sha256(str(model_path.resolve()).encode()).hexdigest()[:32] + ".json")
    try:
        cached = json.loads(sidecar.read_text())
        if cached.get("files") == stamp:
            return cached["sha256"]
    except (OSError, ValueError, KeyError):
        pass
    if len(files) == 1:
        digest = file_sha256(files[0])
    else:
        h = hashlib.sha256()
        for p in files:
            h.update(file_sha256(p).encode())
        digest = h.hexdigest()
    try:
        sidecar_dir.mkdir(parents=True, exist_ok=True)
        tmp = sidecar.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps({"path": str(model_path), "files": stamp, "sha256": digest}))
        os.replace(tmp, sidecar)
    except OSError:
        logger.warning("Could not write model hash sidecar %s", sidecar)
    return digest


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


def _pipeline_class_for(config_dir: Path):
    from diffusers import StableDiffusionPipeline, StableDiffusionXLPipeline

    index = config_dir / "model_index.json"
    try:
        class_name = json.loads(index.read_text())["_class_name"]
    except (OSError, ValueError, KeyError) as exc:
        raise EngineError(f"{index} is missing or not a diffusers model_index.json.") from exc
    classes = {
        "StableDiffusionPipeline": StableDiffusionPipeline,
        "StableDiffusionXLPipeline": StableDiffusionXLPipeline,
    }
    if class_name not in classes:
        raise EngineError(f"Unsupported pipeline {class_name!r} in {index}; expected one of {sorted(classes)}.")
    return classes[class_name]


def _extra_kwargs(cls) -> dict:
    from diffusers import StableDiffusionPipeline

    if cls is StableDiffusionPipeline:
        return {"safety_checker": None, "requires_safety_checker": False}
    return {}


def load_base_pipeline(model_id: str, *, device: torch.device, dtype: torch.dtype):
    """Return (pipeline, weights_path_or_None). "tiny", a diffusers folder, a single-file checkpoint + config
    folder, or (only when the hub is reachable) a hub id."""
    from generation.tiny_model import ensure_tiny_model

    path = ensure_tiny_model() if model_id == TINY_MODEL_ID else Path(model_id).expanduser()
    if path.is_dir():
        cls = _pipeline_class_for(path)
        pipe = cls.from_pretrained(path, torch_dtype=dtype, local_files_only=True, **_extra_kwargs(cls))
    elif path.is_file():
        config_dir = _setting("GENERATION_BASE_MODEL_CONFIG")
        if not config_dir:
            raise EngineError(
                f"{path} is a single-file checkpoint: set GENERATION_BASE_MODEL_CONFIG to its local diffusers "
                "config folder (model_index.json + component configs)."
            )
        cls = _pipeline_class_for(Path(config_dir))
        pipe = cls.from_single_file(
            str(path), config=str(config_dir), torch_dtype=dtype, local_files_only=True, **_extra_kwargs(cls)
        )
    else:
        if os.environ.get("HF_HUB_OFFLINE", "").lower() in {"1", "true", "yes"}:
            raise EngineError(
                f"Base model {model_id!r} is not a local folder or file and the model hub is offline "
                "(HF_HUB_OFFLINE=1). Point GENERATION_BASE_MODEL at a local diffusers folder or checkpoint."
            )
        from diffusers import DiffusionPipeline

        pipe = DiffusionPipeline.from_pretrained(model_id, torch_dtype=dtype)
        path = None
    pipe.to(device)
    pipe.set_progress_bar_config(disable=True)
    return pipe, path


def make_scheduler(name: str, base_config):
    """A fresh scheduler per call, so concurrent or successive requests never share mutable scheduler state."""
    from diffusers import DPMSolverMultistepScheduler, EulerAncestralDiscreteScheduler

    if name == "dpmpp_2m_karras":
        return DPMSolverMultistepScheduler.from_config(
            base_config, algorithm_type="dpmsolver++", solver_order=2, use_karras_sigmas=True
        )
    if name == "euler_a":
        return EulerAncestralDiscreteScheduler.from_config(base_config)
    raise EngineError(f"Unknown scheduler {name!r}; choose one of {', '.join(SCHEDULERS)}.")


def validate_request(request: GenerationRequest, *, multiple: int = 8) -> None:
    if not request.seeds:
        raise EngineError("At least one seed is required.")
    if request.steps < 1:
        raise EngineError("Steps must be at least 1.")
    if request.width % multiple or request.height % multiple or request.width <= 0 or request.height <= 0:
        raise EngineError(f"Width and height must be positive multiples of {multiple}.")
    if request.scheduler not in SCHEDULERS:
        raise EngineError(f"Unknown scheduler {request.scheduler!r}; choose one of {', '.join(SCHEDULERS)}.")


def run_pipeline(pipe, request: GenerationRequest, *, on_step: Callable[[int, int], bool] | None = None):
    """Generate one batch, one variant per seed, on the given pipeline (components are shared, not copied)."""
    validate_request(request)
    components = {**pipe.components, "scheduler": make_scheduler(request.scheduler, pipe.scheduler.config)}
    # Constructor flags (not modules) must match the loaded pipeline's, e.g. SDXL's force_zeros_for_empty_prompt.
    extra = {k: pipe.config[k] for k in ("requires_safety_checker", "force_zeros_for_empty_prompt") if k in pipe.config}
    view = pipe.__class__(**components, **extra)
    view.set_progress_bar_config(disable=True)
    # CPU generators: the same seed gives the same starting noise on any device.
    generators = [torch.Generator("cpu").manual_seed(int(seed)) for seed in request.seeds]
    n = len(request.seeds)

    def _callback(_pipe, step, _timestep, callback_kwargs):
        if on_step is not None and on_step(step + 1, request.steps) is False:
            raise EngineCancelled("Generation cancelled.")
        return callback_kwargs

    with torch.inference_mode():
        result = view(
            prompt=[request.prompt] * n,
            negative_prompt=[request.negative_prompt] * n,
            num_inference_steps=request.steps,
            guidance_scale=request.guidance,
            width=request.width,
            height=request.height,
            generator=generators,
            callback_on_step_end=_callback,
            output_type="pil",
        )
    return list(result.images)


# ---------------------------------------------------------------------------------------------------------------
# Engine


class Engine:
    def __init__(self, base_model_id: str | None = None, *, device: torch.device | None = None,
                 dtype: torch.dtype | None = None):
        default_device, default_dtype = select_device_and_dtype()
        self.base_model_id = base_model_id or settings.GENERATION_BASE_MODEL
        self.device = device or default_device
        self.dtype = dtype or default_dtype
        self.base_load_count = 0
        self._lock = threading.RLock()
        self._adapters: dict[str, str] = {}  # adapter name -> sha256 of the loaded file
        self.pipe, self.weights_path = load_base_pipeline(self.base_model_id, device=self.device, dtype=self.dtype)
        self.base_load_count += 1
        self.base_model_hash = weights_sha256(self.weights_path) if self.weights_path else ""
        self.vae_scale_factor = getattr(self.pipe, "vae_scale_factor", 8)
        # The resolution the UNet was trained at: 64 for tiny, 512 for SD 1.x, 1024 for SDXL.
        self.native_resolution = int(self.pipe.unet.config.sample_size) * self.vae_scale_factor
        self.max_side = (self.native_resolution * 5 // 4) // 8 * 8
        self.is_sdxl = self.pipe.__class__.__name__ == "StableDiffusionXLPipeline"
        logger.info("Loaded base model %s on %s (%s)", self.base_model_id, self.device, self.dtype)

    # -- sizes ---------------------------------------------------------------------------------------------------
    def fit_size(self, width: int, height: int) -> tuple[int, int]:
        """Scale a platform size (e.g. 1080x1350) down so its longer side fits max_side; multiples of 8."""
        factor = min(1.0, self.max_side / max(width, height))
        return max(8, int(width * factor) // 8 * 8), max(8, int(height * factor) // 8 * 8)

    # -- adapters ------------------------------------------------------------------------------------------------
    def loaded_adapters(self) -> list[str]:
        return list(self._adapters)

    def _activate_lora(self, lora: LoraRef | None) -> None:
        if lora is None:
            if self._adapters:
                self.pipe.disable_lora()
            return
        name = lora.adapter_name
        if self._adapters.get(name) not in (None, lora.sha256):
            # Same name, different file (a retrained version reusing the name): replace it.
            self.pipe.delete_adapters([name])
            del self._adapters[name]
        if name not in self._adapters:
            path = Path(lora.path)
            if not path.is_file():
                raise EngineError(f"LoRA weights file {path} does not exist.")
            actual = file_sha256(path)
            if lora.sha256 and actual != lora.sha256:
                raise EngineError(f"LoRA weights {path} do not match their recorded sha256 (file changed?).")
            self.pipe.load_lora_weights(str(path.parent), weight_name=path.name, adapter_name=name)
            self._adapters[name] = lora.sha256 or actual
        self.pipe.enable_lora()
        self.pipe.set_adapters([name], adapter_weights=[float(lora.scale)])

    def unload_adapter(self, adapter_name: str) -> None:
        with self._lock:
            if adapter_name in self._adapters:
                self.pipe.delete_adapters([adapter_name])
                del self._adapters[adapter_name]

    # -- generation ----------------------------------------------------------------------------------------------
    def generate(
        self, request: GenerationRequest, *, on_step: Callable[[int, int], bool] | None = None
    ) -> list[Image.Image]:
        with self._lock:
            self._activate_lora(request.lora)
            return run_pipeline(self.pipe, request, on_step=on_step)

    # -- training ------------------------------------------------------------------------------------------------
    def train_lora(
        self,
        *,
        images: list[Image.Image],
        captions: list[str],
        output_dir: Path,
        config: TrainingConfig,
        on_step: Callable[[int, int, float], bool] | None = None,
    ) -> TrainingResult:
        from generation import training

        with self._lock:
            class_images = None
            if config.prior_preservation:
                # Prior images come from the base model alone, never from a persona's adapter.
                self._activate_lora(None)
                class_images = training.generate_class_images(self, count=max(4, len(images)), config=config)
            trained = training.train_unet_lora(
                self.pipe, images=images, captions=captions, config=config, device=self.device,
                dtype=self.dtype, on_step=on_step, class_images=class_images,
            )
            path = training.save_lora(self.pipe, trained, Path(output_dir))
        hyper = {**trained.hyperparameters, "base_model": self.base_model_id, "base_model_hash": self.base_model_hash}
        return TrainingResult(weights_path=path, sha256=file_sha256(path), loss_curve=trained.loss_curve,
                              hyperparameters=hyper)


_engine: Engine | None = None
_engine_lock = threading.Lock()


def get_engine() -> Engine:
    """The process-wide engine; the base model is loaded on first use, once."""
    global _engine
    if _engine is None:
        with _engine_lock:
            if _engine is None:
                _engine = Engine()
    return _engine


def reset_engine_for_tests() -> None:
    global _engine
    with _engine_lock:
        _engine = None


# ---------------------------------------------------------------------------------------------------------------
# Output helpers


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
    lines = [str(record.get("prompt", ""))]
    if record.get("negative_prompt"):
        lines.append(f"Negative prompt: {record['negative_prompt']}")
    lines.append(", ".join(parts))
    return "\n".join(lines)


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
