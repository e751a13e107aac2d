"""One worker, several base models: it loads the model each job asks for, keeps them least recently used within
its budget, and renders each model's sample gallery. Real engine, tiny SD and tiny SDXL models."""

from __future__ import annotations

import pytest

from generation import selectors, services
from generation.engine import pipelines as engine_module
from generation.engine import tiny_model
from generation.engine.specs import BaseModelRef
from generation.library import gallery
from generation.library import services as base_models
from generation.models import GeneratedImage, JobStatus, SamplesStatus
from generation.training import runs as training_runs
from tests.factories import PersonaFactory, ReferenceImageFactory
from tests.generation.workflow_fixtures import *  # noqa: F403 - fixtures

pytestmark = pytest.mark.slow


@pytest.fixture
def quick_samples(monkeypatch):
    """Reviewer samples and galleries with few steps: these tests are about which model renders them."""
    monkeypatch.setattr(training_runs, "SAMPLE_STEPS", 2)
    monkeypatch.setattr(training_runs, "SAMPLE_COUNT", 1)
    monkeypatch.setattr(gallery, "SAMPLE_STEPS", 2)


def _persona_with_refs(workspace, marketer):
    persona = PersonaFactory(workspace=workspace, created_by=marketer)
    for _ in range(3):
        ReferenceImageFactory(persona=persona)
    return persona


def test_lru_evicts_past_the_budget_and_reloads_on_demand(settings, fresh_pool):
    settings.GENERATION_MAX_LOADED_MODELS = 1
    sd = engine_module.get_engine(BaseModelRef(location="tiny"))
    xl = engine_module.get_engine(BaseModelRef(location="tiny-sdxl"))
    assert xl.is_sdxl and not sd.is_sdxl
    assert engine_module.loaded_base_models() == ["tiny-sdxl"] and sd.pipe is None  # evicted, memory released
    again = engine_module.get_engine(BaseModelRef(location="tiny"))
    assert again is not sd and again.base_model_hash == sd.base_model_hash
    assert engine_module.loaded_base_models() == ["tiny"]

    settings.GENERATION_MAX_LOADED_MODELS = 3
    xl = engine_module.get_engine(BaseModelRef(location="tiny-sdxl"))
    assert engine_module.get_engine(BaseModelRef(location="tiny")) is again  # kept warm: no reload
    assert engine_module.loaded_base_models() == ["tiny-sdxl", "tiny"]  # least recently used first
    # A byte budget that holds one of them evicts the least recently used.
    settings.GENERATION_MAX_LOADED_BYTES = max(again.memory_bytes, xl.memory_bytes) + 1
    engine_module.get_engine(BaseModelRef(location="tiny-sdxl"))
    assert engine_module.loaded_base_models() == ["tiny-sdxl"]


def test_a_registered_hash_the_weights_do_not_match_is_refused(fresh_pool):
    folder = tiny_model.ensure_tiny_model()
    with pytest.raises(engine_module.EngineError, match="changed since the model was registered"):
        engine_module.get_engine(BaseModelRef(location=str(folder), sha256="0" * 64))
    assert engine_module.loaded_base_models() == []


def test_two_personas_on_two_models_train_and_generate_on_one_worker(workspace, marketer, settings, after_commit,
                                                                     fresh_pool, quick_samples):
    settings.GENERATION_MAX_LOADED_MODELS = 1
    sd = selectors.base_model_default()
    xl = base_models.base_model_register(actor=None, path="tiny-sdxl", name="Tiny XL", render_samples=False)
    on_sd, on_xl = _persona_with_refs(workspace, marketer), _persona_with_refs(workspace, marketer)
    base_models.persona_base_model_set(actor=marketer, persona=on_xl, base_model_id=xl.pk)

    versions = []
    for persona in (on_sd, on_xl):
        with after_commit():
            version = services.lora_training_start(actor=marketer, persona=persona, steps=2)
        version.refresh_from_db()
        assert version.status == JobStatus.SUCCEEDED, version.error
        versions.append(version)
    assert [v.base_model_family for v in versions] == ["tiny", "tiny-sdxl"]
    xl.refresh_from_db()
    assert xl.sha256 and versions[1].base_model_sha256 == xl.sha256  # recorded when the worker first loaded it

    jobs = []
    for persona in (on_sd, on_xl, on_sd):  # the worker switches models twice
        with after_commit():
            jobs.append(services.generation_job_create(actor=marketer, persona=persona, scene="at the beach",
                                                       platform="instagram", num_variants=1, steps=2, seed=5))
    for job in jobs:
        job.refresh_from_db()
        assert job.status == JobStatus.SUCCEEDED, job.error
    images = [GeneratedImage.objects.get(job=job) for job in jobs]
    assert [image.base_model for image in images] == ["tiny", "tiny-sdxl", "tiny"]
    assert images[0].base_model_hash == images[2].base_model_hash != images[1].base_model_hash
    assert [image.lora_sha256 for image in images] == [versions[0].sha256, versions[1].sha256, versions[0].sha256]
    assert engine_module.loaded_base_models() == ["tiny"]
    assert sd.generation_jobs.filter(is_sample=False).count() == 2


def test_registration_renders_the_sample_gallery_on_the_worker(db, after_commit, fresh_pool, quick_samples):
    with after_commit():
        entry = base_models.base_model_register(actor=None, path="tiny-sdxl", name="Tiny XL")
    entry.refresh_from_db()
    assert entry.samples_status == SamplesStatus.READY, entry.samples_error
    samples = list(entry.samples.all())
    assert [(s.prompt, s.seed) for s in samples] == list(gallery.SAMPLE_PROMPTS)
    assert all((s.width, s.height) == (64, 64) and s.base_model_hash == entry.sha256 for s in samples)
    # A second delivery of the task leaves the finished gallery alone.
    assert gallery.base_model_samples_render(base_model_id=entry.pk).samples.count() == len(samples)


def test_single_file_checkpoints_load_through_the_real_loading_code(db, tmp_path, fresh_pool):
    """The tiny SD and SDXL models written as A1111-layout single files, registered with their config folders, load
    through diffusers' from_single_file with every weight where it belongs (bit for bit, contiguous), and render what
    their diffusers folders render, to within rounding.

    Pixels are not compared exactly: equal weights loaded from a single file lie in memory differently from those
    loaded from a folder, and a CPU's kernels may then take another path and round differently (the tiny SDXL
    renders differed by 1/255 on another machine). A weight in the wrong place changes the render far more."""
    import numpy as np
    import torch

    from generation.engine import tiny_checkpoint
    from generation.engine.specs import GenerationRequest
    from generation.models import BaseModelLayout

    request = GenerationRequest(prompt="photo of sks person", negative_prompt="", seeds=[3], steps=2, guidance=5.0,
                                scheduler="euler_a", width=64, height=64)
    for sdxl, family in ((False, "tiny"), (True, "tiny-sdxl")):
        folder = tiny_model.ensure_tiny_model(sdxl=sdxl)
        single = tiny_checkpoint.write_single_file(folder, tmp_path / f"{family}.safetensors")
        entry = base_models.base_model_register(actor=None, path=str(single), config_dir=str(folder),
                                                name=f"{family} single file", render_samples=False)
        assert (entry.layout, entry.family) == (BaseModelLayout.SINGLE_FILE, family)
        engine = engine_module.get_engine(selectors.base_model_ref(entry))
        assert engine.is_sdxl == sdxl and engine.base_model_hash == entry.sha256
        from_folder = engine_module.Engine(str(folder))
        for name in ("unet", "vae", "text_encoder", *(("text_encoder_2",) if sdxl else ())):
            loaded, expected = (getattr(e.pipe, name).state_dict() for e in (engine, from_folder))
            assert loaded.keys() == expected.keys(), name
            for key, want in expected.items():
                got = loaded[key]
                assert got.dtype == want.dtype and torch.equal(got, want), f"{family} {name}.{key}"
                # A strided view left by the checkpoint conversion would take slower kernel paths every step.
                assert got.is_contiguous(), f"{family} {name}.{key} is not contiguous after loading"
        rendered, reference = (np.asarray(e.generate(request)[0]).astype(np.int16) for e in (engine, from_folder))
        assert rendered.shape == reference.shape == (64, 64, 3)
        assert reference.std() > 1, "a flat render would make the comparison below prove nothing"
        diff = np.abs(rendered - reference)
        # At most 2/255 anywhere, and on average a small fraction of one level.
        assert diff.max() <= 2 and diff.mean() <= 0.25, (family, int(diff.max()), float(diff.mean()))
        from_folder.close()


def _single_file_entry(tmp_path, *, sdxl: bool):
    from generation.engine import tiny_checkpoint

    folder = tiny_model.ensure_tiny_model(sdxl=sdxl)
    single = tiny_checkpoint.write_single_file(folder, tmp_path / f"{'xl' if sdxl else 'sd'}.safetensors")
    return base_models.base_model_register(actor=None, path=str(single), config_dir=str(folder),
                                           name=f"{'XL' if sdxl else 'SD'} single file", render_samples=False)


def test_the_lru_evicts_and_reloads_a_single_file_model(db, settings, tmp_path, fresh_pool):
    settings.GENERATION_MAX_LOADED_MODELS = 1
    entry = _single_file_entry(tmp_path, sdxl=False)
    ref = selectors.base_model_ref(entry)
    single = engine_module.get_engine(ref)
    engine_module.get_engine(BaseModelRef(location="tiny"))
    assert engine_module.loaded_base_models() == ["tiny"] and single.pipe is None  # evicted
    again = engine_module.get_engine(ref)
    assert again is not single and again.base_model_hash == single.base_model_hash == entry.sha256
    assert engine_module.loaded_base_models() == [entry.location]


def test_a_persona_on_the_sdxl_single_file_trains_and_generates(workspace, marketer, tmp_path, after_commit,
                                                                fresh_pool, quick_samples):
    entry = _single_file_entry(tmp_path, sdxl=True)
    persona = _persona_with_refs(workspace, marketer)
    base_models.persona_base_model_set(actor=marketer, persona=persona, base_model_id=entry.pk)
    with after_commit():
        version = services.lora_training_start(actor=marketer, persona=persona, steps=2)
    version.refresh_from_db()
    assert version.status == JobStatus.SUCCEEDED, version.error
    assert (version.base_model_entry, version.base_model_family) == (entry, "tiny-sdxl")
    assert version.base_model_sha256 == entry.sha256
    with after_commit():
        job = services.generation_job_create(actor=marketer, persona=persona, scene="at the beach",
                                             platform="instagram", num_variants=1, steps=2, seed=5)
    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED, job.error
    image = GeneratedImage.objects.get(job=job)
    assert (image.base_model_hash, image.lora_sha256) == (entry.sha256, version.sha256)
    assert engine_module.loaded_base_models() == [entry.location]
