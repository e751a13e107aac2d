"""A base model's files: checked before it is registered, and its weights hashed. Torch-free: registration (the
admin, the API, `manage.py base_model_add`) runs it in the web process; nothing here unpickles or loads a tensor.

Accepted: a local diffusers folder (model_index.json, one sub-folder per component), or a single-file
`.safetensors` checkpoint (the A1111 / Civitai layout) with a diffusers config folder that describes it. Pickled
weights (.ckpt, .pt, .bin) are refused: loading one runs whatever code it carries.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import struct
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

from core.errors import ValidationFailed
from generation.engine.families import PIPELINE_IS_SDXL, Family, model_family
from generation.engine.specs import WEIGHT_SUFFIXES, EngineError, file_sha256

logger = logging.getLogger(__name__)

PICKLED_SUFFIXES = (".ckpt", ".pt", ".pth", ".bin", ".pkl")
# The components each supported pipeline needs; those in WEIGHTED_COMPONENTS carry weights.
REQUIRED_COMPONENTS = {
    "StableDiffusionPipeline": ("unet", "vae", "text_encoder", "tokenizer", "scheduler"),
    "StableDiffusionXLPipeline": ("unet", "vae", "text_encoder", "text_encoder_2", "tokenizer", "tokenizer_2",
                                  "scheduler"),
}
WEIGHTED_COMPONENTS = ("unet", "vae", "text_encoder", "text_encoder_2")
_CONFIG_FILES = {"scheduler": ("scheduler_config.json",),
                 "tokenizer": ("vocab.json", "tokenizer.json", "tokenizer_config.json"),
                 "tokenizer_2": ("vocab.json", "tokenizer.json", "tokenizer_config.json")}
_HEADER_MAX = 100 * 1024 * 1024  # a safetensors JSON header is kilobytes; more means a corrupt length field


class LAYOUT:
    FOLDER = "folder"
    SINGLE_FILE = "single_file"


@dataclass(frozen=True)
class CheckedModel:
    layout: str  # LAYOUT.FOLDER or LAYOUT.SINGLE_FILE
    location: str  # absolute path of the folder or file
    config_dir: str  # a single file's config folder ("" for a folder)
    family: Family
    sha256: str
    size_bytes: int


def _invalid(message: str, code: str) -> ValidationFailed:
    return ValidationFailed(message, code=code)


def safetensors_check(path: Path) -> None:
    """Refuse a file that is not a complete safetensors file: its header must parse and every tensor's bytes
    must lie inside the file (a download cut short fails here, not on the GPU worker)."""
    size = path.stat().st_size
    try:
        with open(path, "rb") as fh:
            raw_length = fh.read(8)
            if len(raw_length) < 8:
                raise ValueError("shorter than a safetensors header")
            (length,) = struct.unpack("<Q", raw_length)
            if length > min(_HEADER_MAX, size - 8):
                raise ValueError("header length runs past the end of the file")
            header = json.loads(fh.read(length))
        if not isinstance(header, dict):
            raise ValueError("header is not a JSON object")
        end = 0
        for name, entry in header.items():
            if name == "__metadata__":
                continue
            begin, stop = entry["data_offsets"]
            end = max(end, int(stop))
    except (ValueError, KeyError, TypeError) as exc:
        raise _invalid(f"{path.name} is not a readable safetensors file ({exc}).", "invalid_weights") from None
    if 8 + length + end > size:
        raise _invalid(f"{path.name} is truncated: its header describes {8 + length + end:,} bytes, the file has "
                       f"{size:,}. Download or copy it again.", "truncated_weights")


def _read_index(config_dir: Path) -> dict:
    index = config_dir / "model_index.json"
    if not index.is_file():
        raise _invalid(f"{config_dir} has no model_index.json: it is not a diffusers model folder.", "no_model_index")
    try:
        data = json.loads(index.read_text())
    except (OSError, ValueError):
        data = None
    if not isinstance(data, dict):
        raise _invalid(f"{index} is not valid JSON.", "no_model_index")
    class_name = data.get("_class_name")
    if class_name not in PIPELINE_IS_SDXL:
        raise _invalid(f"Unknown model family: {index} names the pipeline {class_name!r}; supported are "
                       f"{', '.join(sorted(PIPELINE_IS_SDXL))} (SD 1.x, SD 2.x, SDXL).", "unknown_family")
    return data


def _components_check(config_dir: Path, index: dict, *, weights: bool) -> None:
    """Every component the pipeline needs has its folder and config (and, with `weights`, safetensors weights)."""
    missing: list[str] = []
    for component in REQUIRED_COMPONENTS[index["_class_name"]]:
        folder = config_dir / component
        expected = _CONFIG_FILES.get(component, ("config.json",))
        if not folder.is_dir() or not any((folder / name).is_file() for name in expected):
            missing.append(f"{component}/{expected[0]}")
            continue
        if not weights or component not in WEIGHTED_COMPONENTS:
            continue
        files = [p for p in folder.iterdir() if p.is_file()]
        if not any(p.name.endswith(".safetensors") for p in files):
            if any(p.name.endswith(PICKLED_SUFFIXES) for p in files):
                raise _invalid(f"{component}/ holds only pickled weights (.bin/.ckpt/.pt); loading them would run "
                               "arbitrary code. Convert them to .safetensors first.", "pickled_weights")
            missing.append(f"{component}/*.safetensors")
    if missing:
        raise _invalid(f"{config_dir} is incomplete: missing {', '.join(missing)}.", "incomplete_model")


def model_files_check(path: str, *, config_dir: str = "") -> CheckedModel:
    """Check a model's files and hash its weights; raises ValidationFailed with the reason otherwise."""
    if not str(path).strip() or "\x00" in str(path) or "\x00" in str(config_dir):
        raise _invalid(f"No file or folder at {path!r}.", "path_missing")
    target = Path(path).expanduser()
    if not target.exists():
        raise _invalid(f"No file or folder at {path!r}.", "path_missing")
    target = target.resolve()
    if target.is_dir():
        index = _read_index(target)
        _components_check(target, index, weights=True)
        for weights in weights_files(target):
            if weights.name.endswith(".safetensors"):
                safetensors_check(weights)
        layout, config = LAYOUT.FOLDER, ""
    else:
        if target.name.lower().endswith(PICKLED_SUFFIXES):
            raise _invalid(f"{target.name} is a pickled checkpoint: loading it would run arbitrary code. Use the "
                           ".safetensors release of this model, or convert it.", "pickled_weights")
        if not target.name.lower().endswith(".safetensors"):
            raise _invalid(f"{target.name} is not a .safetensors file.", "invalid_weights")
        if not config_dir:
            raise _invalid(f"{target.name} is a single-file checkpoint: give its diffusers config folder (a "
                           "model_index.json and one config per component) with it.", "config_required")
        config_path = Path(config_dir).expanduser()
        if not config_path.is_dir():
            raise _invalid(f"The config folder {config_dir!r} does not exist.", "path_missing")
        config_path = config_path.resolve()
        _components_check(config_path, _read_index(config_path), weights=False)
        safetensors_check(target)
        layout, config = LAYOUT.SINGLE_FILE, str(config_path)
    try:
        family = model_family(str(target), config_dir=config or None, strict=True)
    except EngineError as exc:
        raise _invalid(f"Unknown model family: {exc}", "unknown_family") from None
    files = weights_files(target)
    return CheckedModel(layout=layout, location=str(target), config_dir=config, family=family,
                        sha256=weights_sha256(target), size_bytes=sum(p.stat().st_size for p in files))


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
