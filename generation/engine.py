"""The ML engine: the one module that owns the diffusers pipeline lifecycle.

The base model is loaded once per process (get_engine()); persona LoRAs are loaded once per adapter and switched
with set_adapters, so a worker serving many personas never reloads the base weights. Everything here is pure ML
(no Django models): services pass plain dataclasses in and get PIL images / file paths back.

Performance settings (PerfOptions; bench/generation.py measures them against plain diffusers). They apply only on
CUDA: on CPU every option is off and the CPU path (and its byte-identical reproducibility) is exactly the plain one.
Each is a Django setting or environment variable; "1"/"0" (true/false, on/off) override the CUDA default:

- GENERATION_DTYPE (existing): bf16 on cards that support it, else fp16; images differ from fp32 only by rounding.
- GENERATION_SDPA (default on): torch's scaled_dot_product_attention (AttnProcessor2_0, flash/mem-efficient
  kernels) set explicitly on UNet and VAE.
- GENERATION_CHANNELS_LAST (default on): UNet and VAE in channels_last memory format (faster cuDNN convolutions).
- GENERATION_FUSE_QKV (default on): fused QKV projections for the VAE only. The UNet is never fused: persona LoRAs
  target to_q/to_k/to_v, and diffusers' fused processor reads the merged to_qkv weight, which would silently bypass
  those LoRA layers (fusing after loading adapters bakes one persona in; fusing before makes every LoRA a no-op).
- GENERATION_COMPILE (default on): torch.compile of the UNet (mode GENERATION_COMPILE_MODE, default "default";
  "max-autotune-no-cudagraphs" autotunes every matmul shape, i.e. minutes of warm-up per new shape), compiled
  lazily on the first generation; a new batch size or image size compiles once more (dynamo then switches to a
  dynamic-shape graph). Implies LoRA hotswap, so switching personas never recompiles.
- GENERATION_LORA_HOTSWAP (default: same as GENERATION_COMPILE): one adapter slot; pipe.enable_lora_hotswap(
  target_rank=GENERATION_MAX_LORA_RANK, default 64) runs before the first load_lora_weights, and every later persona
  is copied into the slot in place with load_lora_weights(..., hotswap=True). Ranks below the target are zero-padded
  (same outputs); a LoRA of a higher rank, or one with text-encoder weights, is refused with a clear error.
  Scales are set by filling the slot's scaling tensors, and base (no-LoRA) requests run the slot at scale 0, which
  adds exactly zero, so neither ever changes the compiled graph. The one recompile is the first persona load after
  base-only requests compiled a graph without LoRA layers.
- GENERATION_VAE_TILING_AREA (default 1024*1024; 0 disables): decode with enable_vae_tiling when width*height is
  larger, to bound VAE memory at large sizes (tile seams are blended; pixels there may differ slightly).
- GENERATION_MAX_BATCH (default 8 on CUDA, 1 elsewhere; honoured on every device): the most images one pipeline
  call renders. The worker fills a job's call with other queued jobs of the same persona and settings (same LoRA,
  size, steps, scheduler, guidance; generation.services), and generate_many() batches compatible requests.
- GENERATION_TRAIN_COMPILE (default on): torch.compile of the training UNet copy (training already caches latents
  and text embeddings and runs under bf16/fp16 autocast on CUDA). The first step runs eagerly and compiled, and the
  run stays compiled only if their gradients agree: torch 2.13's CPU compiler gets LoRA gradients wrong at batch 1,
  and no such bug may train a broken LoRA in silence (hyperparameters["compiled_unet"] says which path trained).
- Training loss read-back (CUDA: every 10 steps, else every step): reading a loss to the host waits for the GPU, so
  losses, the divergence check and progress come back once per chunk and the GPU queues the next steps meanwhile.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import torch
from django.conf import settings
from PIL import Image

from .specs import (  # noqa: F401  (re-exported: engine_module.X is the engine's public surface)
    SAMPLER_LABELS,
    SCHEDULERS,
    TINY_MODEL_ID,
    WEIGHT_SUFFIXES,
    EngineCancelled,
    EngineError,
    GenerationRequest,
    LoraRef,
    TrainingConfig,
    TrainingResult,
    file_sha256,
    parameters_text,
    png_bytes_with_parameters,
    prompt_for_persona,
)

logger = logging.getLogger(__name__)

@dataclass(frozen=True)
class PerfOptions:
    """Speed settings (see the module docstring). The defaults are the plain path, used on CPU."""

    sdpa: bool = False
    channels_last: bool = False
    fuse_qkv: bool = False
    compile: bool = False
    compile_mode: str = "default"
    lora_hotswap: bool = False
    max_lora_rank: int = 64
    vae_tiling_area: int = 0  # 0: never tile
    max_batch: int = 1
    train_compile: bool = False
    train_sync_every: int = 1  # training reads losses back once per this many steps

    @classmethod
    def for_device(cls, device: torch.device) -> PerfOptions:
        """All off on CPU/MPS; on CUDA the fast defaults, each overridable by its setting."""
        if torch.device(device).type != "cuda":
            # Batching changes no per-image output and is recorded for reproduction, so it is allowed anywhere.
            return cls(max_batch=_max_batch_setting(default=1))
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
            max_batch=_max_batch_setting(default=8),
            train_compile=_flag("GENERATION_TRAIN_COMPILE", True),
            train_sync_every=10,  # the GPU queues ten steps ahead instead of waiting for each loss
        )


# ---------------------------------------------------------------------------------------------------------------
# Helpers


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


def _max_batch_setting(*, default: int) -> int:
    raw = _setting("GENERATION_MAX_BATCH", str(default))
    try:
        value = int(raw)
    except ValueError:
        raise EngineError(f"GENERATION_MAX_BATCH must be a whole number of images, got {raw!r}.") from None
    if value < 1:
        raise EngineError(f"GENERATION_MAX_BATCH must be at least 1, got {value}.")
    return value


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


def run_pipeline(
    pipe,
    request: GenerationRequest,
    *,
    on_step: Callable[[int, int], bool] | None = None,
    prompts: Sequence[str] | None = None,
    negative_prompts: Sequence[str] | None = None,
    vae_tiling_area: int = 0,
):
    """Generate one batch, one variant per seed, on the given pipeline (components are shared, not copied).

    prompts / negative_prompts (one per seed) let generate_many() batch requests whose texts differ; by default
    every variant uses request.prompt and request.negative_prompt.
    """
    validate_request(request)
    n = len(request.seeds)
    prompts = list(prompts) if prompts is not None else [request.prompt] * n
    negative_prompts = list(negative_prompts) if negative_prompts is not None else [request.negative_prompt] * n
    if len(prompts) != n or len(negative_prompts) != n:
        raise EngineError("Give one prompt and one negative prompt per seed.")
    components = {**pipe.components, "scheduler": make_scheduler(request.scheduler, pipe.scheduler.config)}
    # Constructor flags (not modules) must match the loaded pipeline's, e.g. SDXL's force_zeros_for_empty_prompt.
    extra = {k: pipe.config[k] for k in ("requires_safety_checker", "force_zeros_for_empty_prompt") if k in pipe.config}
    view = pipe.__class__(**components, **extra)
    view.set_progress_bar_config(disable=True)
    # CPU generators: the same seed gives the same starting noise on any device.
    generators = [torch.Generator("cpu").manual_seed(int(seed)) for seed in request.seeds]

    def _callback(_pipe, step, _timestep, callback_kwargs):
        if on_step is not None and on_step(step + 1, request.steps) is False:
            raise EngineCancelled("Generation cancelled.")
        return callback_kwargs

    # Tiled decoding bounds VAE memory at large sizes; the VAE is shared, so its flag is restored afterwards.
    tile = bool(vae_tiling_area) and request.width * request.height > vae_tiling_area and hasattr(pipe.vae,
                                                                                                "enable_tiling")
    if tile:
        pipe.vae.enable_tiling()
    try:
        with torch.inference_mode():
            result = view(
                prompt=prompts,
                negative_prompt=negative_prompts,
                num_inference_steps=request.steps,
                guidance_scale=request.guidance,
                width=request.width,
                height=request.height,
                generator=generators,
                callback_on_step_end=_callback,
                output_type="pil",
            )
    finally:
        if tile:
            pipe.vae.disable_tiling()
    return list(result.images)


def batch_key(request: GenerationRequest) -> tuple:
    """Requests with equal keys can share one pipeline call (prompts and seeds may differ per image)."""
    return (request.lora, request.width, request.height, request.steps, request.scheduler, float(request.guidance))


def plan_batches(requests: Sequence[GenerationRequest], *, max_batch: int) -> list[list[int]]:
    """Indices of `requests` grouped into pipeline calls.

    Compatible requests (same batch_key) are batched in queue order, each batch at most max_batch images; a request
    with more seeds than max_batch runs alone (never split, so its own variants stay one batch). Groups come in the
    order of their first request, so the oldest job's group runs first.
    """
    groups: dict[tuple, list[int]] = {}
    for index, req in enumerate(requests):
        groups.setdefault(batch_key(req), []).append(index)
    batches: list[list[int]] = []
    for indices in groups.values():
        current: list[int] = []
        size = 0
        for index in indices:
            n = len(requests[index].seeds)
            if current and size + n > max_batch:
                batches.append(current)
                current, size = [], 0
            current.append(index)
            size += n
        if current:
            batches.append(current)
    return batches


# ---------------------------------------------------------------------------------------------------------------
# Engine


HOTSWAP_SLOT = "persona"  # the one adapter name persona weights are swapped into when hotswap is on


class Engine:
    def __init__(self, base_model_id: str | None = None, *, device: torch.device | None = None,
                 dtype: torch.dtype | None = None, perf: PerfOptions | None = None, pipe=None):
        """Load the base model (or adopt `pipe`, an already built pipeline, as the benchmark does) and apply the
        perf options (default: PerfOptions.for_device, i.e. all off on CPU)."""
        default_device, default_dtype = select_device_and_dtype()
        self.base_model_id = base_model_id or ("custom" if pipe is not None else settings.GENERATION_BASE_MODEL)
        self.device = device or default_device
        self.dtype = dtype or default_dtype
        self.perf = perf if perf is not None else PerfOptions.for_device(self.device)
        self.base_load_count = 0
        self._lock = threading.RLock()
        self._adapters: dict[str, str] = {}  # adapter name -> sha256 of the loaded file
        self._lora_hashes: dict[str, tuple[tuple[int, ...], str]] = {}  # resolved path -> (stat stamp, sha256)
        # Hotswap mode: which persona (adapter name, sha256) sits in the slot, and its per-layer base scalings.
        self._slot: tuple[str, str] | None = None
        self._slot_loaded = False
        self._slot_scalings: list[tuple[torch.nn.Module, float]] = []
        self._compiled = False
        if pipe is None:
            self.pipe, self.weights_path = load_base_pipeline(self.base_model_id, device=self.device, dtype=self.dtype)
        else:
            self.pipe, self.weights_path = pipe.to(self.device, self.dtype), None
            self.pipe.set_progress_bar_config(disable=True)
        self.base_load_count += 1
        self.base_model_hash = weights_sha256(self.weights_path) if self.weights_path else ""
        self.vae_scale_factor = getattr(self.pipe, "vae_scale_factor", 8)
        # The resolution the UNet was trained at: 64 for tiny, 512 for SD 1.x, 1024 for SDXL.
        self.native_resolution = int(self.pipe.unet.config.sample_size) * self.vae_scale_factor
        self.max_side = (self.native_resolution * 5 // 4) // 8 * 8
        self.is_sdxl = self.pipe.__class__.__name__ == "StableDiffusionXLPipeline"
        self._apply_perf()
        logger.info("Loaded base model %s on %s (%s), %s", self.base_model_id, self.device, self.dtype, self.perf)

    def _apply_perf(self) -> None:
        perf, pipe = self.perf, self.pipe
        if perf.sdpa:
            from diffusers.models.attention_processor import AttnProcessor2_0

            pipe.unet.set_attn_processor(AttnProcessor2_0())
            pipe.vae.set_attn_processor(AttnProcessor2_0())
        if perf.channels_last:
            pipe.unet.to(memory_format=torch.channels_last)
            pipe.vae.to(memory_format=torch.channels_last)
        if perf.fuse_qkv:
            # VAE only: a fused UNet would bypass persona LoRAs on to_q/to_k/to_v (see the module docstring).
            pipe.fuse_qkv_projections(unet=False, vae=True)
        if perf.lora_hotswap:
            # Before the first load_lora_weights. "ignore": if base-only requests compiled the UNet before the
            # first persona arrived, that first load recompiles once (expected) instead of raising.
            pipe.enable_lora_hotswap(target_rank=perf.max_lora_rank, check_compiled="ignore")

    def _maybe_compile(self) -> None:
        if self.perf.compile and not self._compiled:
            self.pipe.unet.compile(mode=self.perf.compile_mode, fullgraph=False)
            self._compiled = True

    # -- sizes ---------------------------------------------------------------------------------------------------
    def fit_size(self, width: int, height: int) -> tuple[int, int]:
        """Scale a platform size (e.g. 1080x1350) down so its longer side fits max_side; multiples of 8."""
        factor = min(1.0, self.max_side / max(width, height))
        return max(8, int(width * factor) // 8 * 8), max(8, int(height * factor) // 8 * 8)

    # -- adapters ------------------------------------------------------------------------------------------------
    def loaded_adapters(self) -> list[str]:
        if self.perf.lora_hotswap:
            return [self._slot[0]] if self._slot else []
        return list(self._adapters)

    def _checked_lora_file(self, lora: LoraRef) -> tuple[Path, str]:
        """The LoRA file and its sha256, checked against the recorded one. Hashing an SDXL LoRA takes ~80 ms, more
        than a whole persona switch may: a file is hashed again only when its size, mtime or inode changed."""
        path = Path(lora.path)
        try:
            info = path.stat()
        except OSError:
            info = None
        if info is None or not path.is_file():
            raise EngineError(f"LoRA weights file {path} does not exist.")
        stamp = (info.st_size, info.st_mtime_ns, info.st_ino, info.st_ctime_ns)
        key = str(path.resolve())
        cached = self._lora_hashes.get(key)
        if cached is not None and cached[0] == stamp:
            actual = cached[1]
        else:
            actual = file_sha256(path)
            self._lora_hashes[key] = (stamp, actual)
        if lora.sha256 and actual != lora.sha256:
            raise EngineError(f"LoRA weights {path} do not match their recorded sha256 (file changed?).")
        return path, lora.sha256 or actual

    def _activate_lora(self, lora: LoraRef | None) -> None:
        if self.perf.lora_hotswap:
            self._activate_lora_hotswap(lora)
            return
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
            path, sha = self._checked_lora_file(lora)
            self.pipe.load_lora_weights(str(path.parent), weight_name=path.name, adapter_name=name)
            self._adapters[name] = sha
        self.pipe.enable_lora()
        self.pipe.set_adapters([name], adapter_weights=[float(lora.scale)])

    def _activate_lora_hotswap(self, lora: LoraRef | None) -> None:
        """Copy the persona's weights into the single slot in place: the compiled graph never changes."""
        if lora is None:
            self._set_slot_scale(0.0)  # exactly the base model: the slot adds lora(x) * 0
            return
        # Without a recorded sha256 the file is hashed on every request (as the set_adapters path reloads it).
        if not lora.sha256 or self._slot != (lora.adapter_name, lora.sha256):
            path, sha = self._checked_lora_file(lora)
            if self._slot != (lora.adapter_name, sha):
                self._check_hotswappable(path)
                self._slot = None  # unknown contents until the load succeeds
                try:
                    self.pipe.load_lora_weights(str(path.parent), weight_name=path.name, adapter_name=HOTSWAP_SLOT,
                                                hotswap=self._slot_loaded)
                except (ValueError, RuntimeError, KeyError) as exc:
                    raise EngineError(
                        f"Could not swap LoRA {path.name} into the engine's adapter slot (with hotswap on, LoRAs "
                        f"must be UNet-only, target the same layers, and have rank <= GENERATION_MAX_LORA_RANK="
                        f"{self.perf.max_lora_rank}): {exc}"
                    ) from exc
                self._slot_loaded = True
                self._slot = (lora.adapter_name, sha)
                self._slot_scalings = [
                    (module, float(module.scaling[HOTSWAP_SLOT])) for module in self.pipe.unet.modules()
                    if isinstance(getattr(module, "scaling", None), dict) and HOTSWAP_SLOT in module.scaling
                ]
        self._set_slot_scale(float(lora.scale))

    def _check_hotswappable(self, path: Path) -> None:
        """Refuse, from the file header alone, what the slot cannot take. (peft would swap a larger-rank tensor in
        by rebinding its storage, which silently breaks the compiled graph, and hotswap has no text encoder.)"""
        from safetensors import safe_open

        problem = ""
        try:
            with safe_open(str(path), framework="pt") as fh:
                for key in fh.keys():  # noqa: SIM118 (safe_open is not a mapping)
                    if key.startswith(("text_encoder", "lora_te")):
                        problem = "it has text-encoder weights"
                        break
                    if ".lora_A." in key or ".lora.down." in key or ".lora_down." in key:
                        rank = fh.get_slice(key).get_shape()[0]
                        if rank > self.perf.max_lora_rank:
                            problem = f"its rank is {rank}"
                            break
        except (OSError, ValueError, RuntimeError) as exc:  # not a safetensors file: let the loader decide
            logger.debug("Could not read LoRA header of %s: %s", path, exc)
        if problem:
            raise EngineError(
                f"LoRA {path.name} cannot be swapped into the engine's adapter slot: {problem} (with hotswap on, "
                f"LoRAs must be UNet-only with rank <= GENERATION_MAX_LORA_RANK={self.perf.max_lora_rank})."
            )

    def _set_slot_scale(self, scale: float) -> None:
        # Fill the scaling tensors in place (set_adapters would replace them with floats: a recompile).
        for module, base in self._slot_scalings:
            current = module.scaling[HOTSWAP_SLOT]
            if isinstance(current, torch.Tensor):
                current.fill_(base * scale)
            else:
                module.scaling[HOTSWAP_SLOT] = base * scale

    def unload_adapter(self, adapter_name: str) -> None:
        with self._lock:
            if self.perf.lora_hotswap:
                # The slot stays (removing it would change the graph); it just no longer counts as that persona.
                if self._slot and self._slot[0] == adapter_name:
                    self._slot = None
                    self._set_slot_scale(0.0)
                return
            if adapter_name in self._adapters:
                self.pipe.delete_adapters([adapter_name])
                del self._adapters[adapter_name]

    # -- generation ----------------------------------------------------------------------------------------------
    def generate(
        self, request: GenerationRequest, *, on_step: Callable[[int, int], bool] | None = None
    ) -> list[Image.Image]:
        with self._lock:
            self._activate_lora(request.lora)
            self._maybe_compile()
            return run_pipeline(self.pipe, request, on_step=on_step, vae_tiling_area=self.perf.vae_tiling_area)

    @property
    def max_batch(self) -> int:
        """The most images one pipeline call should render (GENERATION_MAX_BATCH)."""
        return self.perf.max_batch

    def generate_batch(
        self, requests: Sequence[GenerationRequest], *, on_step: Callable[[int, int], bool] | None = None
    ) -> list[list[Image.Image]]:
        """Render compatible requests (equal batch_key) in one pipeline call; one image list per request, in order.

        Each image depends on its own seed and prompt, and on the batch only through batched-matmul rounding: the
        same requests in the same order render the same bytes again. Callers keep the call within max_batch.
        """
        if not requests:
            return []
        for req in requests:
            validate_request(req)
        if len({batch_key(req) for req in requests}) != 1:
            raise EngineError("One pipeline call needs one LoRA, size, step count, scheduler and guidance.")
        merged = replace(requests[0], seeds=[seed for req in requests for seed in req.seeds])
        prompts = [req.prompt for req in requests for _ in req.seeds]
        negatives = [req.negative_prompt for req in requests for _ in req.seeds]
        with self._lock:
            self._activate_lora(merged.lora)
            self._maybe_compile()
            images = run_pipeline(self.pipe, merged, on_step=on_step, prompts=prompts, negative_prompts=negatives,
                                  vae_tiling_area=self.perf.vae_tiling_area)
        results, offset = [], 0
        for req in requests:
            results.append(images[offset : offset + len(req.seeds)])
            offset += len(req.seeds)
        return results

    def generate_many(
        self, requests: Sequence[GenerationRequest], *, max_batch: int | None = None
    ) -> list[list[Image.Image]]:
        """Generate queued requests, batching compatible ones (plan_batches) into one pipeline call each.

        Returns one image list per request, in the order given. Every request is validated before any work, so a
        bad one fails the call without half the queue done. Each variant still depends only on its own seed: a
        batch reproduces the separate calls up to batched-matmul rounding (exactly, when the batch is the same).
        """
        for req in requests:
            validate_request(req)
        results: list[list[Image.Image]] = [[] for _ in requests]
        for indices in plan_batches(requests, max_batch=max_batch or self.perf.max_batch):
            images = self.generate_batch([requests[i] for i in indices])
            for index, request_images in zip(indices, images, strict=True):
                results[index] = request_images
        return results

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
                compile_unet=self.perf.train_compile, sync_every=self.perf.train_sync_every,
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
