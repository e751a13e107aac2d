"""The ML engine: the one module that owns the diffusers pipeline's lifecycle.

Each base model is loaded once per process and kept warm while it fits the worker's budget (get_engine(ref),
least recently used out); persona LoRAs are loaded once per adapter and switched with set_adapters, a limited
number kept loaded, least recently used out (or copied into one hotswap slot; see generation.engine.adapters), so a
worker serving many personas never reloads the base weights. Pure ML, no Django models: the worker passes plain
dataclasses (generation.engine.specs) in and gets PIL images and file paths back. Speed settings:
generation.engine.perf; loading and hashing weights: generation.engine.loading.
"""

from __future__ import annotations

import gc
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import asdict, replace
from pathlib import Path

import torch
from django.conf import settings
from PIL import Image

from generation.engine import refine
from generation.engine.adapters import HOTSWAP_SLOT, PersonaAdapters  # noqa: F401  (HOTSWAP_SLOT: part of the engine's surface)
from generation.engine.families import family_of_pipeline, single_file_config_dir
from generation.engine.loading import load_base_pipeline, weights_sha256
from generation.engine.perf import PerfOptions, select_device_and_dtype
from generation.engine.specs import (  # noqa: F401  (re-exported: engine_module.X is the engine's public surface)
    MODES,
    SAMPLER_LABELS,
    SCHEDULERS,
    TINY_MODEL_ID,
    WEIGHT_SUFFIXES,
    BaseModelRef,
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
    if request.mode not in MODES:
        raise EngineError(f"Unknown mode {request.mode!r}; choose one of {', '.join(MODES)}.")
    if request.mode != "txt2img" and request.init_image is None:
        raise EngineError(f"{request.mode} needs an init image.")
    for name in ("strength", "hires_strength", "face_detail_strength"):
        if not 0 < getattr(request, name) <= 1:
            raise EngineError(f"{name} must be in (0, 1]; got {getattr(request, name):g}.")
    if request.output_size is not None and min(request.output_size) < 8:
        raise EngineError("The hires output size must be at least 8 pixels on each side.")


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

    prompts / negative_prompts (one per seed) let generate_batch() put requests whose texts differ in one call; by
    default every variant uses request.prompt and request.negative_prompt.
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

    # Tiled decoding bounds VAE memory at large sizes.
    with refine.vae_tiling(pipe, request.width, request.height, vae_tiling_area), torch.inference_mode():
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
    return list(result.images)


def batch_key(request: GenerationRequest) -> tuple:
    """Requests with equal keys can share one pipeline call (prompts and seeds may differ per image). Requests
    from an init image render alone: their key holds their own identity."""
    alone = id(request) if request.mode != "txt2img" else None
    return (request.lora, request.width, request.height, request.steps, request.scheduler, float(request.guidance),
            request.mode, alone, request.output_size, float(request.hires_strength), request.face_detail,
            float(request.face_detail_strength))


# ---------------------------------------------------------------------------------------------------------------
# Engine


class Engine:
    def __init__(self, base_model_id: str | None = None, *, config_dir: str = "", device: torch.device | None = None,
                 dtype: torch.dtype | None = None, perf: PerfOptions | None = None, pipe=None):
        """Load the base model (or adopt `pipe`, an already built pipeline, as the benchmark does) and apply the
        perf options (default: PerfOptions.for_device, i.e. all off on CPU). `config_dir`: the config folder of a
        single-file checkpoint."""
        default_device, default_dtype = select_device_and_dtype()
        self.base_model_id = base_model_id or ("custom" if pipe is not None else settings.GENERATION_BASE_MODEL)
        self.device = device or default_device
        self.dtype = dtype or default_dtype
        self.perf = perf if perf is not None else PerfOptions.for_device(self.device)
        self.base_load_count = 0
        self._lock = threading.RLock()
        self._compiled = False
        if pipe is None:
            self.pipe, self.weights_path = load_base_pipeline(self.base_model_id, device=self.device, dtype=self.dtype,
                                                              config_dir=config_dir)
        else:
            self.pipe, self.weights_path = pipe.to(self.device, self.dtype), None
            self.pipe.set_progress_bar_config(disable=True)
        self.base_load_count += 1
        self.base_model_hash = weights_sha256(self.weights_path) if self.weights_path else ""
        self.family = family_of_pipeline(self.pipe)
        self.memory_bytes = sum(
            sum(t.numel() * t.element_size() for t in module.parameters())
            for module in self.pipe.components.values() if isinstance(module, torch.nn.Module))
        self._apply_perf()
        self.adapters = PersonaAdapters(self.pipe, self.perf)
        logger.info("Loaded base model %s on %s (%s), %s", self.base_model_id, self.device, self.dtype, self.perf)

    def close(self) -> None:
        """Release the pipeline's memory (an evicted model); the engine is unusable afterwards."""
        with self._lock:
            self.pipe = None
            self.adapters.release()
        gc.collect()
        if self.device.type == "cuda":
            torch.cuda.empty_cache()

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
            # VAE only: a fused UNet would bypass persona LoRAs on to_q/to_k/to_v (see PerfOptions).
            pipe.fuse_qkv_projections(unet=False, vae=True)
        if perf.lora_hotswap:
            # Before the first load_lora_weights. "ignore": if base-only requests compiled the UNet before the
            # first persona arrived, that first load recompiles once (expected) instead of raising.
            pipe.enable_lora_hotswap(target_rank=perf.max_lora_rank, check_compiled="ignore")

    @property
    def is_sdxl(self) -> bool:
        return self.family.is_sdxl

    @property
    def native_resolution(self) -> int:
        """The resolution the UNet was trained at: 64 for the tiny models, 512 for SD 1.x, 1024 for SDXL."""
        return self.family.native_size

    def _maybe_compile(self) -> None:
        if self.perf.compile and not self._compiled:
            self.pipe.unet.compile(mode=self.perf.compile_mode, fullgraph=False)
            self._compiled = True

    # -- adapters (generation.engine.adapters) ------------------------------------------------------------------------
    def loaded_adapters(self) -> list[str]:
        """The personas whose LoRAs are loaded, least recently used first."""
        return self.adapters.loaded()

    def _activate_lora(self, lora: LoraRef | None) -> None:
        self.adapters.activate(lora)

    def unload_adapter(self, adapter_name: str) -> None:
        with self._lock:
            self.adapters.unload(adapter_name)

    # -- generation ----------------------------------------------------------------------------------------------
    def generate(
        self, request: GenerationRequest, *, on_step: Callable[[int, int], bool] | None = None
    ) -> list[Image.Image]:
        return self.generate_batch([request], on_step=on_step)[0]

    @property
    def max_batch(self) -> int:
        """The most images one pipeline call should render (GENERATION_MAX_BATCH)."""
        return self.perf.max_batch

    def generate_batch(
        self, requests: Sequence[GenerationRequest], *, on_step: Callable[[int, int], bool] | None = None
    ) -> list[list[Image.Image]]:
        return [[r.image for r in rendered] for rendered in self.render_batch(requests, on_step=on_step)]

    def render_batch(
        self, requests: Sequence[GenerationRequest], *, on_step: Callable[[int, int], bool] | None = None
    ) -> list[list[refine.Rendered]]:
        """Render compatible requests (equal batch_key) in one pipeline call; one list per request, in order, of
        images with what their stages did (img2img / inpaint from the init image, hires, face detail).

        Each image depends on its own seed and prompt, and on the batch only through batched-matmul rounding: the
        same requests in the same order render the same bytes again. Callers keep the call within max_batch.
        """
        if not requests:
            return []
        for req in requests:
            validate_request(req)
        if len({batch_key(req) for req in requests}) != 1:
            raise EngineError("One pipeline call needs one LoRA, size, step count, scheduler, guidance and mode; "
                              "a request from an init image renders alone.")
        merged = replace(requests[0], seeds=[seed for req in requests for seed in req.seeds])
        prompts = [req.prompt for req in requests for _ in req.seeds]
        negatives = [req.negative_prompt for req in requests for _ in req.seeds]
        area = self.perf.vae_tiling_area
        with self._lock:
            self._activate_lora(merged.lora)
            self._maybe_compile()

            def view(kind: str):
                scheduler = make_scheduler(merged.scheduler, self.pipe.scheduler.config)
                return refine.pipeline_view(self.pipe, kind, scheduler=scheduler, is_sdxl=self.is_sdxl)

            if merged.mode == "txt2img":
                images = run_pipeline(self.pipe, merged, on_step=on_step, prompts=prompts, negative_prompts=negatives,
                                      vae_tiling_area=area)
                rendered = [refine.Rendered(image, {}) for image in images]
            else:
                rendered = refine.from_init(view, request=merged, long_side=self.family.render_long_side,
                                            on_step=on_step, vae_tiling_area=area)
            rendered = refine.finishing(view, request=merged, rendered=rendered, prompts=prompts,
                                        negative_prompts=negatives, family=self.family, on_step=on_step,
                                        vae_tiling_area=area)
        results, offset = [], 0
        for req in requests:
            results.append(rendered[offset : offset + len(req.seeds)])
            offset += len(req.seeds)
        return results

    def environment(self) -> dict:
        """What besides the record decides the bytes: device class, dtype, library versions, speed options."""
        from importlib.metadata import PackageNotFoundError, version

        versions = {}
        for name in ("torch", "diffusers", "peft", "transformers"):
            try:
                versions[name] = version(name)
            except PackageNotFoundError:
                versions[name] = ""
        device = self.device
        name = torch.cuda.get_device_name(device) if device.type == "cuda" else device.type
        return {"device": device.type, "device_name": name, "dtype": str(self.dtype).removeprefix("torch."),
                **versions, "perf": asdict(self.perf)}

    # -- training ------------------------------------------------------------------------------------------------
    def train_lora(
        self,
        *,
        images: list[Image.Image],
        captions: list[str],
        output_dir: Path,
        config: TrainingConfig,
        on_step: Callable[[int, int, float], bool] | None = None,
        class_images: list[Image.Image] | None = None,
    ) -> TrainingResult:
        """class_images: prior preservation's (the caller's cached set, training.generate_class_images)."""
        from generation.training import trainer as training

        with self._lock:
            trained = training.train_unet_lora(
                self.pipe, images=images, captions=captions, config=config, device=self.device,
                dtype=self.dtype, on_step=on_step, class_images=class_images,
                compile_unet=self.perf.train_compile, sync_every=self.perf.train_sync_every,
            )
            path = training.save_lora(self.pipe, trained, Path(output_dir))
        hyper = {**trained.hyperparameters, "base_model": self.base_model_id, "base_model_hash": self.base_model_hash}
        return TrainingResult(weights_path=path, sha256=file_sha256(path), loss_curve=trained.loss_curve,
                              hyperparameters=hyper)


# The process's loaded base models, least recently used first.
_engines: OrderedDict[tuple[str, str], Engine] = OrderedDict()
_engine_lock = threading.Lock()


def _budget() -> tuple[int, int]:
    """(models, bytes) a worker keeps loaded: GENERATION_MAX_LOADED_MODELS (default 1: one pipeline warm) and
    GENERATION_MAX_LOADED_BYTES (0: no byte limit)."""
    models = int(getattr(settings, "GENERATION_MAX_LOADED_MODELS", 1) or 1)
    return max(1, models), int(getattr(settings, "GENERATION_MAX_LOADED_BYTES", 0) or 0)


def _evict(*, keep: tuple[str, str] | None, room_for: int = 0) -> None:
    """Drop least recently used engines until the budget holds (with `room_for` more models to come)."""
    max_models, max_bytes = _budget()
    while _engines:
        over_count = len(_engines) + room_for > max_models
        over_bytes = max_bytes and sum(e.memory_bytes for e in _engines.values()) > max_bytes
        victim = next((key for key in _engines if key != keep), None)
        if victim is None or not (over_count or over_bytes):
            return
        engine = _engines.pop(victim)
        logger.info("Unloading base model %s (least recently used)", engine.base_model_id)
        engine.close()


def loaded_base_models() -> list[str]:
    """The base models this process holds, least recently used first."""
    return [engine.base_model_id for engine in _engines.values()]


def get_engine(base_model: BaseModelRef | None = None) -> Engine:
    """The process's engine for a base model (default: GENERATION_BASE_MODEL), loaded on first use and kept while
    it fits the budget (_budget); a model evicted earlier is loaded again on demand. A registered hash that the
    loaded weights do not match is refused (the files changed since registration)."""
    ref = base_model or BaseModelRef(location=str(settings.GENERATION_BASE_MODEL), config_dir=single_file_config_dir())
    with _engine_lock:
        engine = _engines.get(ref.key)
        if engine is None:
            _evict(keep=None, room_for=1)  # free memory before loading the next model
            engine = Engine(ref.location, config_dir=ref.config_dir)
            if ref.sha256 and engine.base_model_hash and engine.base_model_hash != ref.sha256:
                engine.close()
                raise EngineError(f"The weights at {ref.location} hash to {engine.base_model_hash[:12]}, not the "
                                  f"registered {ref.sha256[:12]}: the files changed since the model was registered.")
            _engines[ref.key] = engine
        _engines.move_to_end(ref.key)
        _evict(keep=ref.key)
        return engine
