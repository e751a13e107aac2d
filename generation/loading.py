"""Loading the base model and hashing its weights (the hash goes into every image's reproduction record)."""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path

import torch
from django.conf import settings

from .families import config_family, single_file_config_dir
from .specs import TINY_MODEL_ID, WEIGHT_SUFFIXES, EngineError, file_sha256

logger = logging.getLogger(__name__)


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


def _pipeline_class_for(config_dir: Path):
    from diffusers import StableDiffusionPipeline, StableDiffusionXLPipeline

    return StableDiffusionXLPipeline if config_family(config_dir).is_sdxl else StableDiffusionPipeline


def pipeline_kwargs(cls) -> dict:
    """Constructor arguments a pipeline class needs beyond its components (no safety checker for SD)."""
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
        pipe = cls.from_pretrained(path, torch_dtype=dtype, local_files_only=True, **pipeline_kwargs(cls))
    elif path.is_file():
        config_dir = single_file_config_dir()
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
