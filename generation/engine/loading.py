"""Loading the base model and hashing its weights (the hash goes into every image's reproduction record)."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import torch

from generation.engine.families import config_family, single_file_config_dir
from generation.engine.specs import TINY_MODEL_ID, TINY_SDXL_MODEL_ID, EngineError
from generation.library.checkpoints import weights_files, weights_sha256  # noqa: F401  (re-exported: the engine hashes with them)

logger = logging.getLogger(__name__)


def _pipeline_class_for(config_dir: Path):
    from diffusers import StableDiffusionPipeline, StableDiffusionXLPipeline

    return StableDiffusionXLPipeline if config_family(config_dir).is_sdxl else StableDiffusionPipeline


def pipeline_kwargs(cls) -> dict:
    """Constructor arguments a pipeline class needs beyond its components (no safety checker for SD)."""
    from diffusers import StableDiffusionPipeline

    if cls is StableDiffusionPipeline:
        return {"safety_checker": None, "requires_safety_checker": False}
    return {}


def load_base_pipeline(model_id: str, *, device: torch.device, dtype: torch.dtype, config_dir: str = ""):
    """Return (pipeline, weights_path_or_None). "tiny" or "tiny-sdxl", a diffusers folder, a single-file
    checkpoint + config folder (`config_dir`, else GENERATION_BASE_MODEL_CONFIG), or (only when the hub is
    reachable) a hub id. Folders load their safetensors weights only, never pickled ones."""
    from generation.engine.tiny_model import ensure_tiny_model

    if model_id in (TINY_MODEL_ID, TINY_SDXL_MODEL_ID):
        path = ensure_tiny_model(sdxl=model_id == TINY_SDXL_MODEL_ID)
    else:
        path = Path(model_id).expanduser()
    if path.is_dir():
        cls = _pipeline_class_for(path)
        pipe = cls.from_pretrained(path, torch_dtype=dtype, local_files_only=True, use_safetensors=True,
                                   **pipeline_kwargs(cls))
    elif path.is_file():
        config_dir = config_dir or single_file_config_dir()
        if not config_dir:
            raise EngineError(
                f"{path} is a single-file checkpoint: set GENERATION_BASE_MODEL_CONFIG to its local diffusers "
                "config folder (model_index.json + component configs)."
            )
        cls = _pipeline_class_for(Path(config_dir))
        pipe = cls.from_single_file(
            str(path), config=str(config_dir), torch_dtype=dtype, local_files_only=True, **pipeline_kwargs(cls)
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
