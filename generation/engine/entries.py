"""Worker side: the engine of a library entry, loaded by the pool in generation.engine.pipelines, and a LoRA
version's weights as the engine takes them. The engine module is imported inside the function, so the web
process (which imports the worker's task modules) never loads torch."""

from __future__ import annotations

from django.conf import settings

from core.errors import ValidationFailed
from core.storage import media_fetch
from generation.engine import specs
from generation.models import BaseModel, LoraVersion
from generation.selectors import base_model_ref, lora_adapter_name


def engine_for(base_model: BaseModel | None = None):
    """The process's engine for a library entry (None: GENERATION_BASE_MODEL). A built-in model's hash is recorded
    the first time a worker loads it."""
    from generation.engine import pipelines as engine_module

    engine = engine_module.get_engine(base_model_ref(base_model))
    if base_model is not None and not base_model.sha256 and engine.base_model_hash:
        taken = BaseModel.objects.filter(sha256=engine.base_model_hash, status=base_model.status).exists()
        if not taken:
            BaseModel.objects.filter(pk=base_model.pk, sha256="").update(sha256=engine.base_model_hash)
            base_model.sha256 = engine.base_model_hash
    return engine


def lora_ref_fetch(version: LoraVersion) -> specs.LoraRef:
    """The version's weights as a local file: this worker's cached copy, fetched from media storage on first use
    and checked against the recorded sha256."""
    if not version.weights_path or not version.sha256:
        raise ValidationFailed(f"LoRA v{version.version} has no weights file.")
    local = media_fetch(version.weights_path, sha256=version.sha256, cache_dir=settings.WORKER_CACHE_DIR)
    return specs.LoraRef(path=local, sha256=version.sha256, adapter_name=lora_adapter_name(version))
