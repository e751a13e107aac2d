"""The engine: tokenizer from the real CLIP vocab, one base load per process, reproducible PNGs, cancellation."""

from __future__ import annotations

import hashlib
import io
import shutil
import zipfile

import numpy as np
import pytest
from PIL import Image

from generation.engine import pipelines as engine_module
from generation.engine import tiny_model
from generation.engine.pipelines import (
    Engine,
    EngineCancelled,
    EngineError,
    GenerationRequest,
    get_engine,
    parameters_text,
    png_bytes_with_parameters,
    prompt_for_persona,
    weights_sha256,
)

RECORD = {
    "prompt": "photo of sks person, woman with silver hair",
    "negative_prompt": "blurry",
    "steps": 25,
    "scheduler": "dpmpp_2m_karras",
    "guidance": 7.0,
    "seed": 123,
    "width": 512,
    "height": 640,
    "base_model": "tiny",
    "base_model_hash": "0123456789abcdef" * 4,
    "lora_adapter": "persona_7_v2",
    "lora_sha256": "fedcba9876543210" * 4,
}


def request(**overrides) -> GenerationRequest:
    fields = dict(prompt="photo of sks person", negative_prompt="blurry", seeds=[5, 6], steps=4, guidance=6.5,
                  scheduler="dpmpp_2m_karras", width=64, height=80)
    return GenerationRequest(**{**fields, **overrides})


def test_tokenizer_is_built_from_the_real_clip_bpe_vocab():
    tokenizer = tiny_model.build_clip_tokenizer()
    assert len(tokenizer) == 49408
    assert tokenizer("photo of sks person").input_ids == [49406, 1125, 539, 48136, 2533, 49407]
    padded = tokenizer("Photo of SKS person!", padding="max_length", max_length=77).input_ids
    assert len(padded) == 77 and padded[:6] == [49406, 1125, 539, 48136, 2533, 256] and padded[-1] == 49407


def test_clip_vocab_path_prefers_the_configured_file(settings, tmp_path):
    wheel = next((p for d in tiny_model._vendor_dirs() if d.is_dir() for p in d.glob("open_clip_torch-*.whl")), None)
    assert wheel is not None, "run `make install` (it downloads open-clip-torch's wheel into var/vendor)"
    copied = tmp_path / "oc.whl"
    shutil.copy(wheel, copied)
    settings.GENERATION_CLIP_VOCAB = str(copied)
    settings.GENERATION_MODEL_CACHE = tmp_path / "cache"
    path = tiny_model.clip_vocab_path()
    assert path.name == "bpe_simple_vocab_16e6.txt.gz" and path.is_relative_to(tmp_path / "cache")
    with zipfile.ZipFile(copied) as zf:
        assert path.read_bytes() == zf.read(tiny_model.CLIP_BPE_MEMBER)


def test_clip_vocab_path_missing_gives_a_clear_error(settings, tmp_path, monkeypatch):
    monkeypatch.delenv("GENERATION_CLIP_VOCAB", raising=False)
    settings.GENERATION_CLIP_VOCAB = ""
    settings.VAR_DIR = tmp_path / "var"
    settings.BASE_DIR = tmp_path
    with pytest.raises(tiny_model.ClipVocabMissing, match="open-clip-torch"):
        tiny_model.clip_vocab_path()


def test_prompt_for_persona_skips_empty_parts():
    assert prompt_for_persona(trigger_token="sks", appearance="woman with silver hair", scene="in a cafe",
                              style_keywords=["film photo", " pastel "]) == (
        "photo of sks person, woman with silver hair, in a cafe, film photo, pastel"
    )
    assert prompt_for_persona(trigger_token="zqx", appearance="man, 30s") == "photo of zqx person, man, 30s"


def test_parameters_text_is_a1111_style():
    assert parameters_text(RECORD) == (
        "photo of sks person, woman with silver hair\n"
        "Negative prompt: blurry\n"
        "Steps: 25, Sampler: DPM++ 2M Karras, CFG scale: 7, Seed: 123, Size: 512x640, "
        'Model hash: 0123456789, Model: tiny, Lora hashes: "persona_7_v2: fedcba987654"'
    )
    no_lora = {**RECORD, "lora_sha256": "", "scheduler": "euler_a", "guidance": 7.5, "negative_prompt": ""}
    text = parameters_text(no_lora)
    assert "Negative prompt" not in text and "Lora hashes" not in text
    assert "Sampler: Euler a, CFG scale: 7.5," in text


def test_png_bytes_carry_parameters_and_are_deterministic():
    image = Image.new("RGB", (16, 20), (10, 200, 30))
    first = png_bytes_with_parameters(image, record=RECORD)
    assert first == png_bytes_with_parameters(image.copy(), record=RECORD)
    reopened = Image.open(io.BytesIO(first))
    assert reopened.text["parameters"] == parameters_text(RECORD)
    assert reopened.size == (16, 20)
    assert first != png_bytes_with_parameters(image, record={**RECORD, "seed": 124})


@pytest.mark.slow
def test_engine_is_a_singleton_that_loads_the_base_model_once():
    engine = get_engine()
    assert get_engine() is engine
    assert engine.base_load_count == 1
    assert engine.base_model_id == "tiny"
    assert str(engine.device) == "cpu" and engine.dtype.is_floating_point
    assert engine.native_resolution == 64 and engine.family.name == "tiny" and not engine.is_sdxl
    files = sorted(p for p in tiny_model.ensure_tiny_model().rglob("*.safetensors"))
    expected = hashlib.sha256("".join(hashlib.sha256(p.read_bytes()).hexdigest() for p in files).encode())
    assert engine.base_model_hash == expected.hexdigest()


@pytest.mark.slow
def test_same_request_gives_byte_identical_pngs():
    engine = get_engine()
    progress = []
    first = engine.generate(request(), on_step=lambda step, total: progress.append((step, total)) or True)
    second = engine.generate(request())
    assert len(first) == 2 and first[0].size == (64, 80) and first[0].mode == "RGB"
    record = {**RECORD, "seed": 5}
    assert png_bytes_with_parameters(first[0], record=record) == png_bytes_with_parameters(second[0], record=record)
    assert progress == [(i, 4) for i in range(1, 5)]
    # Different seeds in one batch give different variants.
    assert not np.array_equal(np.asarray(first[0]), np.asarray(first[1]))


@pytest.mark.slow
def test_each_variant_depends_only_on_its_own_seed():
    engine = get_engine()
    batch = engine.generate(request(seeds=[5, 6]))
    alone = engine.generate(request(seeds=[6]))
    diff = np.abs(np.asarray(batch[1], dtype=np.int16) - np.asarray(alone[0], dtype=np.int16)).max()
    assert diff <= 2  # batched vs single matmuls may round differently; the content is the same


@pytest.mark.slow
def test_schedulers_differ_and_unknown_ones_are_rejected():
    engine = get_engine()
    dpm = engine.generate(request(seeds=[1]))
    euler = engine.generate(request(seeds=[1], scheduler="euler_a"))
    assert not np.array_equal(np.asarray(dpm[0]), np.asarray(euler[0]))
    with pytest.raises(EngineError, match="scheduler"):
        engine.generate(request(scheduler="ddim"))
    with pytest.raises(EngineError, match="multiples of 8"):
        engine.generate(request(width=65))
    # The pipeline's own scheduler is never swapped or mutated by a request.
    assert type(engine.pipe.scheduler).__name__ == "DPMSolverMultistepScheduler"
    assert engine.pipe.scheduler.config.use_karras_sigmas is False


@pytest.mark.slow
def test_generation_cancel_raises_engine_cancelled():
    engine = get_engine()
    steps_seen = []

    def on_step(step, total):
        steps_seen.append(step)
        return step < 2

    with pytest.raises(EngineCancelled):
        engine.generate(request(steps=6), on_step=on_step)
    assert steps_seen == [1, 2]
    # The engine is still usable afterwards.
    assert len(engine.generate(request(seeds=[1], steps=2))) == 1


@pytest.mark.slow
def test_a_local_diffusers_folder_loads_through_the_same_path(settings, tmp_path):
    folder = tiny_model.ensure_tiny_model()
    settings.GENERATION_MODEL_CACHE = tmp_path / "cache"
    engine = Engine(str(folder))
    assert engine.base_load_count == 1
    assert engine.base_model_hash == get_engine().base_model_hash
    assert list((tmp_path / "cache" / "hashes").glob("*.json"))  # hash cached in a sidecar
    a = engine.generate(request(seeds=[3], steps=2))
    b = get_engine().generate(request(seeds=[3], steps=2))
    assert np.array_equal(np.asarray(a[0]), np.asarray(b[0]))


def test_missing_base_model_offline_gives_a_clear_error(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(EngineError, match="offline"):
        engine_module.load_base_pipeline("someone/not-here", device=engine_module.torch.device("cpu"),
                                         dtype=engine_module.torch.float32)


def test_single_file_checkpoint_needs_a_config_folder(tmp_path, settings, monkeypatch):
    monkeypatch.delenv("GENERATION_BASE_MODEL_CONFIG", raising=False)
    settings.GENERATION_BASE_MODEL_CONFIG = ""
    checkpoint = tmp_path / "model.safetensors"
    checkpoint.write_bytes(b"x")
    with pytest.raises(EngineError, match="GENERATION_BASE_MODEL_CONFIG"):
        engine_module.load_base_pipeline(str(checkpoint), device=engine_module.torch.device("cpu"),
                                         dtype=engine_module.torch.float32)


def test_weights_hash_of_a_single_file_is_its_sha256(tmp_path, settings):
    settings.GENERATION_MODEL_CACHE = tmp_path / "cache"
    checkpoint = tmp_path / "model.safetensors"
    checkpoint.write_bytes(b"weights")
    assert weights_sha256(checkpoint) == hashlib.sha256(b"weights").hexdigest()
    assert weights_sha256(checkpoint) == hashlib.sha256(b"weights").hexdigest()  # from the sidecar
