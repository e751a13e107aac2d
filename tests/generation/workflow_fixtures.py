"""Fixtures shared by the generation workflow tests (services, API, tasks). Import them by name."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from django.conf import settings
from PIL import Image

from generation.engine import pipelines as engine_module
from generation.engine.specs import Rendered
from generation.models import JobStatus, LoraVersion
from tests.factories import GenerationJobFactory, LoraVersionFactory, ReferenceImageFactory

__all__ = [
    "FakeEngine", "active_lora", "after_commit", "fake_engine", "fresh_pool", "install_lora", "lora_weights_file",
    "persona_with_refs",
]


def _queued_version(persona, marketer, steps=5):
    return LoraVersionFactory(
        persona=persona, version=1, status=JobStatus.QUEUED, created_by=marketer,
        hyperparameters={"steps": steps, "rank": 4, "resolution": 64}, total_steps=steps,
    )


def _job(persona, marketer, lora=None, **kwargs):
    params = {"num_variants": 2, "steps": 4, "seed": 100, "width": 64, "height": 80, "created_by": marketer,
              "lora_version": lora, "prompt": "photo of sks person, at a cafe", "total_steps": 4}
    return GenerationJobFactory(persona=persona, **{**params, **kwargs})


@pytest.fixture
def after_commit(django_capture_on_commit_callbacks):
    """`with after_commit():` runs the on-commit hooks (e.g. the drafting task, eagerly) at its end, as the commit
    of a worker's transaction would; the test's own transaction never commits."""
    return lambda: django_capture_on_commit_callbacks(execute=True)


@pytest.fixture
def persona_with_refs(persona):
    for _ in range(3):
        ReferenceImageFactory(persona=persona)
    return persona


@pytest.fixture(scope="session")
def lora_weights_file(tmp_path_factory) -> Path:
    """One tiny LoRA trained once per session; tests copy it into their own MEDIA_ROOT."""
    out = tmp_path_factory.mktemp("lora")
    images = [Image.new("RGB", (64, 64), (40 * i, 120, 90)) for i in range(3)]
    result = engine_module.get_engine().train_lora(
        images=images,
        captions=["photo of sks person"] * 3,
        output_dir=out,
        config=engine_module.TrainingConfig(steps=2, resolution=64),
    )
    return Path(result.weights_path)


def install_lora(persona, weights: Path, *, version: int = 1, active: bool = True) -> LoraVersion:
    relative = f"workspaces/{persona.workspace_id}/personas/{persona.pk}/loras/v{version}/{weights.name}"
    target = Path(settings.MEDIA_ROOT) / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(weights, target)
    return LoraVersionFactory(
        persona=persona,
        version=version,
        status=JobStatus.SUCCEEDED,
        is_active=active,
        weights_path=relative,
        sha256=engine_module.file_sha256(target),
        base_model=settings.GENERATION_BASE_MODEL,
    )


@pytest.fixture
def active_lora(persona, lora_weights_file) -> LoraVersion:
    return install_lora(persona, lora_weights_file)


class FakeEngine:
    """Calls the callbacks like the real engine, without any ML. `hook(step)` runs inside each step."""

    base_model_id = "tiny"
    base_model_hash = "f" * 64

    def __init__(self, *, steps_hook=None, fail_with: Exception | None = None, max_batch: int = 1):
        self.steps_hook = steps_hook
        self.fail_with = fail_with
        self.max_batch = max_batch
        self.generate_calls = 0
        self.batches: list[list[int]] = []  # the seeds of each pipeline call
        self.train_calls = 0

    def generate_batch(self, requests, *, on_step=None):
        self.generate_calls += 1
        self.batches.append([seed for request in requests for seed in request.seeds])
        if len({engine_module.batch_key(request) for request in requests}) != 1:
            raise engine_module.EngineError("One pipeline call needs one LoRA, size, steps, scheduler, guidance.")
        steps = requests[0].steps
        for step in range(1, steps + 1):
            if self.steps_hook:
                self.steps_hook(step)
            if self.fail_with is not None and step == 2:
                raise self.fail_with
            if on_step is not None and on_step(step, steps) is False:
                raise engine_module.EngineCancelled("Generation cancelled.")
        return [[Image.new("RGB", (r.width, r.height), (seed % 255, 10, 10)) for seed in r.seeds] for r in requests]

    def render_batch(self, requests, *, on_step=None):
        return [[Rendered(image, {}) for image in images] for images in self.generate_batch(requests, on_step=on_step)]

    def environment(self) -> dict:
        return {"device": "cpu", "dtype": "float32"}

    def train_lora(self, *, images, captions, output_dir, config, on_step=None, class_images=None):
        self.train_calls += 1
        self.class_images = class_images
        losses = []
        for step in range(1, config.steps + 1):
            if self.steps_hook:
                self.steps_hook(step)
            if self.fail_with is not None and step == 2:
                raise self.fail_with
            losses.append(1.0 / step)
            if on_step is not None and on_step(step, config.steps, 1.0 / step) is False:
                raise engine_module.EngineCancelled("Training cancelled.")
        Path(output_dir).mkdir(parents=True, exist_ok=True)
        path = Path(output_dir) / "pytorch_lora_weights.safetensors"
        path.write_bytes(b"fake-weights")
        return engine_module.TrainingResult(
            weights_path=path, sha256=engine_module.file_sha256(path), loss_curve=losses,
            hyperparameters={"rank": config.rank, "steps": config.steps,
                             "num_class_images": len(class_images) if config.prior_preservation else 0},
        )


@pytest.fixture
def fake_engine(monkeypatch):
    from generation.jobs import render as worker

    fake = FakeEngine()
    monkeypatch.setattr(engine_module, "get_engine", lambda base_model=None: fake)
    # The fake's steps take microseconds: report every one of them (the throttle has its own test).
    monkeypatch.setattr(worker, "GENERATION_PROGRESS_INTERVAL_S", 0.0)
    return fake


@pytest.fixture
def fresh_pool():
    """An empty engine pool, restored afterwards, so other tests find the engines they expect."""
    saved = dict(engine_module._engines)
    engine_module._engines.clear()
    yield engine_module._engines
    for engine in engine_module._engines.values():
        if engine not in saved.values():
            engine.close()
    engine_module._engines.clear()
    engine_module._engines.update(saved)
