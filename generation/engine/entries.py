"""Worker side: the engine of a library entry, loaded by the pool in generation.engine.pipelines. The engine
module is imported inside the function, so the web process (which imports the worker's task modules) never
loads torch."""

from __future__ import annotations

from generation.models import BaseModel
from generation.selectors import base_model_ref


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
