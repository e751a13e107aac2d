"""Engine speed options: off on CPU, request batching (generate_batch) and LoRA hotswap keep every image the same."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from generation.engine.pipelines import (
    HOTSWAP_SLOT,
    Engine,
    EngineCancelled,
    EngineError,
    GenerationRequest,
    LoraRef,
    PerfOptions,
    TrainingConfig,
    get_engine,
)

CAPTION = "photo of sks person"


def request(**overrides) -> GenerationRequest:
    fields = dict(prompt=CAPTION, negative_prompt="blurry", seeds=[5], steps=3, guidance=5.0,
                  scheduler="dpmpp_2m_karras", width=64, height=64)
    return GenerationRequest(**{**fields, **overrides})


def as_array(images: list[Image.Image]) -> np.ndarray:
    return np.stack([np.asarray(im, dtype=np.int16) for im in images])


# -- settings --------------------------------------------------------------------------------------------------


def test_cuda_speed_options_are_all_off_on_cpu_even_when_configured(settings, monkeypatch):
    monkeypatch.delenv("GENERATION_MAX_BATCH", raising=False)
    settings.GENERATION_MAX_BATCH = ""
    settings.GENERATION_COMPILE = "1"
    settings.GENERATION_LORA_HOTSWAP = "1"
    assert PerfOptions.for_device(torch.device("cpu")) == PerfOptions()
    off = PerfOptions()
    assert not (off.sdpa or off.channels_last or off.fuse_qkv or off.compile or off.lora_hotswap or off.train_compile)
    assert off.vae_tiling_area == 0 and off.max_batch == 1


def test_max_batch_is_honoured_on_cpu_and_checked(settings):
    # Batching changes no per-image output beyond rounding and is recorded, so it is not a CUDA-only option.
    settings.GENERATION_MAX_BATCH = "16"
    assert PerfOptions.for_device(torch.device("cpu")) == PerfOptions(max_batch=16)
    for bad in ("0", "eight"):
        settings.GENERATION_MAX_BATCH = bad
        with pytest.raises(EngineError, match="GENERATION_MAX_BATCH"):
            PerfOptions.for_device(torch.device("cpu"))


def test_cuda_defaults_are_fast_and_each_setting_overrides(settings, monkeypatch):
    for name in ("GENERATION_COMPILE", "GENERATION_FUSE_QKV", "GENERATION_LORA_HOTSWAP", "GENERATION_MAX_BATCH"):
        monkeypatch.delenv(name, raising=False)
        setattr(settings, name, "")
    cuda = torch.device("cuda")  # only a device name: nothing here touches a GPU
    fast = PerfOptions.for_device(cuda)
    assert fast.sdpa and fast.channels_last and fast.fuse_qkv and fast.compile and fast.train_compile
    assert fast.lora_hotswap and fast.max_lora_rank == 64  # compiling implies hotswap: no recompiles per persona
    assert fast.vae_tiling_area == 1024 * 1024 and fast.max_batch == 8 and fast.train_sync_every == 10

    settings.GENERATION_COMPILE = "off"
    settings.GENERATION_FUSE_QKV = "0"
    settings.GENERATION_MAX_BATCH = "4"
    eager = PerfOptions.for_device(cuda)
    assert not eager.compile and not eager.fuse_qkv and not eager.lora_hotswap and eager.max_batch == 4
    settings.GENERATION_LORA_HOTSWAP = "true"
    assert PerfOptions.for_device(cuda).lora_hotswap

    settings.GENERATION_COMPILE = "maybe"
    with pytest.raises(EngineError, match="GENERATION_COMPILE"):
        PerfOptions.for_device(cuda)


@pytest.mark.slow
def test_the_cpu_engine_runs_the_plain_path():
    engine = get_engine()
    assert engine.perf == PerfOptions()
    assert not getattr(engine.pipe.unet, "_compiled_call_impl", None)
    assert engine.pipe.unet.conv_in.weight.is_contiguous()  # not channels_last
    assert not getattr(engine.pipe, "fusing_vae", False)


# -- batching ----------------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_generate_batch_renders_compatible_requests_in_one_call_with_progress():
    engine = get_engine()
    with pytest.raises(EngineError, match="One pipeline call"):
        engine.generate_batch([request(seeds=[1]), request(seeds=[2], steps=4)])
    steps = []
    result = engine.generate_batch([request(seeds=[1]), request(seeds=[2, 3])],
                                   on_step=lambda step, total: steps.append((step, total)) is None)
    assert steps == [(1, 3), (2, 3), (3, 3)]  # one call: each step reported once for all three images
    assert [len(images) for images in result] == [1, 2]
    assert np.array_equal(as_array(result[0] + result[1]), as_array(engine.generate(request(seeds=[1, 2, 3]))))
    with pytest.raises(EngineCancelled):
        engine.generate_batch([request()], on_step=lambda step, total: step < 2)


@pytest.mark.slow
def test_generate_batch_renders_different_prompts_and_returns_results_in_request_order():
    engine = get_engine()
    queue = [request(seeds=[1], prompt="photo of sks person at the beach"), request(seeds=[2]),
             request(seeds=[3], prompt="photo of sks person in a cafe", negative_prompt="")]
    batched = engine.generate_batch(queue)
    assert [len(images) for images in batched] == [1, 1, 1]
    for req, images in zip(queue, batched, strict=True):
        separate = engine.generate(req)
        # Batched vs single matmuls may round differently; each image is still its own request's image.
        assert np.abs(as_array(images) - as_array(separate)).max() <= 2
    assert not np.array_equal(as_array(batched[0]), as_array(batched[2]))  # each prompt is used for its own image


@pytest.mark.slow
def test_generate_batch_validates_every_request_before_any_work():
    engine = get_engine()
    with pytest.raises(EngineError, match="scheduler"):
        engine.generate_batch([request(), request(scheduler="ddim")])
    assert engine.generate_batch([]) == []


# -- LoRA hotswap ----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def two_personas(tmp_path_factory):
    """Two LoRAs of different rank and alpha (hotswap must pad ranks and carry each one's scaling)."""
    engine = get_engine()
    out = tmp_path_factory.mktemp("hotswap")
    red = [Image.new("RGB", (64, 64), (220, 30, 30)), Image.new("RGB", (64, 64), (200, 60, 20))]
    green = [Image.new("RGB", (64, 64), (30, 200, 60)), Image.new("RGB", (64, 64), (60, 220, 30))]
    a = engine.train_lora(images=red, captions=[CAPTION], output_dir=out / "a",
                          config=TrainingConfig(rank=4, steps=6, learning_rate=1e-2, resolution=64, seed=1))
    b = engine.train_lora(images=green, captions=[CAPTION], output_dir=out / "b",
                          config=TrainingConfig(rank=2, alpha=4, steps=6, learning_rate=1e-2, resolution=64, seed=2))
    return (LoraRef(path=a.weights_path, sha256=a.sha256, adapter_name="persona_a"),
            LoraRef(path=b.weights_path, sha256=b.sha256, adapter_name="persona_b"))


@pytest.mark.slow
def test_hotswap_switching_gives_each_persona_its_own_images(two_personas):
    lora_a, lora_b = two_personas
    plain = get_engine()
    hot = Engine("tiny", perf=PerfOptions(lora_hotswap=True, max_lora_rank=8))
    half_a = LoraRef(**{**lora_a.__dict__, "scale": 0.5})
    sequence = [lora_a, lora_b, lora_a, None, half_a, lora_b, None]
    for lora in sequence:
        swapped = as_array(hot.generate(request(seeds=[1, 2], lora=lora)))
        reference = as_array(plain.generate(request(seeds=[1, 2], lora=lora)))
        assert np.abs(swapped - reference).max() <= 1, lora  # fp32: at most uint8 rounding
    # One slot whose weights were swapped in place; the base model was never reloaded.
    assert list(hot.pipe.unet.peft_config) == [HOTSWAP_SLOT]
    assert hot.loaded_adapters() == ["persona_b"] and hot.base_load_count == 1
    # The personas really differ from each other and from the base model.
    images = {name: as_array(hot.generate(request(lora=lora))) for name, lora in
              (("a", lora_a), ("b", lora_b), ("base", None))}
    assert np.abs(images["a"] - images["b"]).max() > 20 and np.abs(images["a"] - images["base"]).max() > 20
    # Forgetting the persona leaves the slot at scale 0: base images.
    hot.unload_adapter("persona_b")
    assert hot.loaded_adapters() == []
    assert np.array_equal(as_array(hot.generate(request())), images["base"])


@pytest.mark.slow
def test_hotswap_refuses_what_the_slot_cannot_take(two_personas, tmp_path):
    from safetensors.torch import load_file, save_file

    lora_a, lora_b = two_personas
    hot = Engine("tiny", perf=PerfOptions(lora_hotswap=True, max_lora_rank=2))
    with pytest.raises(EngineError, match="rank is 4.*GENERATION_MAX_LORA_RANK=2"):
        hot.generate(request(lora=lora_a))
    with_text_encoder = tmp_path / "te.safetensors"
    save_file({**load_file(lora_b.path), "text_encoder.text_model.encoder.layers.0.self_attn.q_proj.lora.down.weight":
               torch.zeros(2, 32)}, with_text_encoder)
    with pytest.raises(EngineError, match="text-encoder"):
        hot.generate(request(lora=LoraRef(path=with_text_encoder, sha256="", adapter_name="te")))
    # Nothing half-loaded: a valid persona still works afterwards.
    assert len(hot.generate(request(lora=lora_b))) == 1 and hot.loaded_adapters() == ["persona_b"]


@pytest.mark.slow
def test_a_compiled_engine_switches_personas_without_recompiling(two_personas):
    """The CUDA fast path's compile + hotswap logic, run on CPU (inductor's C++ backend): one graph serves every
    persona, the base model and every LoRA scale; images match the eager engine's up to rounding."""
    from torch._dynamo.utils import counters

    lora_a, lora_b = two_personas
    plain = get_engine()
    compiled = Engine("tiny", perf=PerfOptions(compile=True, lora_hotswap=True, max_lora_rank=8))
    compiled.generate(request(seeds=[1, 2], lora=lora_a))  # compiles once
    graphs = counters["stats"]["unique_graphs"]
    assert graphs >= 1
    with torch._dynamo.config.patch(error_on_recompile=True):  # any recompile fails the test
        for lora in (lora_b, None, LoraRef(**{**lora_a.__dict__, "scale": 0.5}), lora_a):
            swapped = as_array(compiled.generate(request(seeds=[1, 2], lora=lora)))
            assert np.abs(swapped - as_array(plain.generate(request(seeds=[1, 2], lora=lora)))).max() <= 2, lora
    assert counters["stats"]["unique_graphs"] == graphs
    assert compiled.base_load_count == 1 and list(compiled.pipe.unet.peft_config) == [HOTSWAP_SLOT]


@pytest.mark.slow
def test_the_whole_cuda_option_set_runs_end_to_end_on_cpu_in_bf16(tmp_path):
    """What a GPU worker runs, minus the CUDA kernels: bf16, SDPA, channels_last, fused VAE QKV, a compiled
    training UNet, a compiled generation UNet with the hotswap slot. Outputs stay within bf16 rounding of the fp32
    eager engine's, and switching between the persona and the base model never recompiles."""
    from torch._dynamo.utils import counters

    perf = PerfOptions(sdpa=True, channels_last=True, fuse_qkv=True, compile=True, lora_hotswap=True,
                       max_lora_rank=8, max_batch=8, train_compile=True)
    fast = Engine("tiny", dtype=torch.bfloat16, perf=perf)
    plain = get_engine()
    red = [Image.new("RGB", (64, 64), (220, 30, 30)), Image.new("RGB", (64, 64), (200, 60, 20))]
    # Batch 2: at batch 1 this torch's CPU compiler gets LoRA gradients wrong, and training falls back to eager.
    trained = fast.train_lora(images=red, captions=[CAPTION], output_dir=tmp_path / "lora",
                              config=TrainingConfig(rank=4, steps=6, learning_rate=1e-2, resolution=64, seed=1,
                                                    batch_size=2))
    assert trained.hyperparameters["compiled_unet"] is True  # passed the first-step check against eager
    assert len(trained.loss_curve) == 6 and all(0 < loss < 10 for loss in trained.loss_curve)
    # The compiled training UNet was a copy: the serving UNet has no training adapter.
    assert "default" not in (getattr(fast.pipe.unet, "peft_config", None) or {})
    lora = LoraRef(path=trained.weights_path, sha256=trained.sha256, adapter_name="red")

    def both(lora_ref):
        return (as_array(fast.generate(request(seeds=[1, 2], lora=lora_ref))),
                as_array(plain.generate(request(seeds=[1, 2], lora=lora_ref))))

    persona_fast, persona_plain = both(lora)  # compiles
    graphs = counters["stats"]["unique_graphs"]
    with torch._dynamo.config.patch(error_on_recompile=True):
        base_fast, base_plain = both(None)
        again_fast, _ = both(lora)
    assert counters["stats"]["unique_graphs"] == graphs
    assert np.array_equal(again_fast, persona_fast)  # the slot swaps back exactly
    rounding = max(np.abs(persona_fast - persona_plain).mean(), np.abs(base_fast - base_plain).mean())
    assert rounding < 4  # bf16 vs fp32, on random weights that amplify it (0-255 scale)
    # ...and far below what the persona changes: the fast engine renders the same persona.
    assert np.abs(persona_plain - base_plain).mean() > 3 * rounding


@pytest.mark.slow
def test_large_sizes_decode_in_tiles_close_to_the_plain_decode(monkeypatch):
    tiled = Engine("tiny", perf=PerfOptions(vae_tiling_area=64 * 64))
    calls = []
    original = tiled.pipe.vae.tiled_decode
    monkeypatch.setattr(tiled.pipe.vae, "tiled_decode", lambda *a, **k: calls.append(1) or original(*a, **k))
    large = request(seeds=[3], width=96, height=128)
    images = as_array(tiled.generate(large))
    assert calls, "the decode was not tiled"
    assert not tiled.pipe.vae.use_tiling  # the shared VAE's flag is restored
    plain = as_array(get_engine().generate(large))
    assert images.shape == plain.shape == (1, 128, 96, 3)
    assert np.abs(images - plain).mean() < 3  # blended tile seams, otherwise the same image
    calls.clear()
    tiled.generate(request(seeds=[3]))  # 64x64: at the limit, decoded whole
    assert not calls


@pytest.mark.slow
def test_persona_switches_hash_a_lora_file_once_and_again_only_when_it_changes(two_personas, tmp_path,
                                                                               monkeypatch):
    import os
    import shutil

    from generation.engine import adapters

    lora_a, lora_b = two_personas
    copy_a = tmp_path / "a.safetensors"
    shutil.copyfile(lora_a.path, copy_a)
    lora_a = LoraRef(path=copy_a, sha256=lora_a.sha256, adapter_name="persona_a")
    hashed = []
    real_hash = adapters.file_sha256
    monkeypatch.setattr(adapters, "file_sha256", lambda path: hashed.append(path.name) or real_hash(path))
    hot = Engine("tiny", perf=PerfOptions(lora_hotswap=True, max_lora_rank=8))
    with hot._lock:
        for lora in (lora_a, lora_b, lora_a, lora_b, lora_a):
            hot._activate_lora(lora)
    assert sorted(hashed) == sorted([copy_a.name, lora_b.path.name])
    # Someone rewrites persona A's file in place: the next switch to it hashes again and refuses it.
    data = bytearray(copy_a.read_bytes())
    data[-1] ^= 0xFF
    copy_a.write_bytes(bytes(data))
    os.utime(copy_a, ns=(1, 1))  # even with an old mtime: size/inode/ctime still tell
    with hot._lock:
        hot._activate_lora(lora_b)
        with pytest.raises(EngineError, match="do not match their recorded sha256"):
            hot._activate_lora(lora_a)
