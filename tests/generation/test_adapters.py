"""Persona LoRAs on the engine without hotswap: past GENERATION_MAX_LOADED_ADAPTERS the least recently used one is
unloaded, and a persona loaded again draws exactly what it drew before."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from generation.engine.pipelines import (
    Engine,
    EngineError,
    GenerationRequest,
    LoraRef,
    PerfOptions,
    TrainingConfig,
    get_engine,
)
from generation.engine.specs import file_sha256

CAPTION = "photo of sks person"


def request(lora: LoraRef | None = None) -> GenerationRequest:
    return GenerationRequest(prompt=CAPTION, negative_prompt="blurry", seeds=[7], steps=3, guidance=5.0,
                             scheduler="dpmpp_2m_karras", width=64, height=64, lora=lora)


def image_bytes(engine: Engine, lora: LoraRef | None) -> bytes:
    return np.asarray(engine.generate(request(lora))[0]).tobytes()


def test_the_limit_is_a_setting_of_at_least_one(settings):
    assert PerfOptions.for_device(torch.device("cpu")).max_loaded_adapters == 8
    settings.GENERATION_MAX_LOADED_ADAPTERS = "3"
    assert PerfOptions.for_device(torch.device("cpu")).max_loaded_adapters == 3
    assert PerfOptions.for_device(torch.device("cuda")).max_loaded_adapters == 3  # a device name only
    for bad in ("0", "many"):
        settings.GENERATION_MAX_LOADED_ADAPTERS = bad
        with pytest.raises(EngineError, match="GENERATION_MAX_LOADED_ADAPTERS"):
            PerfOptions.for_device(torch.device("cpu"))


@pytest.fixture(scope="module")
def three_personas(tmp_path_factory):
    """Three distinct persona LoRAs: one trained, two more with its up-projections scaled (cheaper than training)."""
    from safetensors.torch import load_file, save_file

    out = tmp_path_factory.mktemp("personas")
    trained = get_engine().train_lora(
        images=[Image.new("RGB", (64, 64), (220, 30, 30)), Image.new("RGB", (64, 64), (30, 200, 60))],
        captions=[CAPTION], output_dir=out / "a",
        config=TrainingConfig(rank=4, steps=6, learning_rate=1e-2, resolution=64, seed=1))
    weights = load_file(trained.weights_path)
    loras = [LoraRef(path=trained.weights_path, sha256=trained.sha256, adapter_name="persona_a")]
    for name, factor in (("persona_b", -1.5), ("persona_c", 2.5)):
        path = out / name / trained.weights_path.name
        path.parent.mkdir()
        save_file({key: value * factor if "lora_B" in key or "lora.up" in key else value
                   for key, value in weights.items()}, path)
        loras.append(LoraRef(path=path, sha256=file_sha256(path), adapter_name=name))
    return loras


@pytest.mark.slow
def test_past_the_limit_the_least_recently_used_adapter_is_unloaded_and_reloads_the_same(three_personas):
    lora_a, lora_b, lora_c = three_personas
    engine = Engine("tiny", perf=PerfOptions(max_loaded_adapters=2))
    loads = []
    load = engine.pipe.load_lora_weights
    engine.pipe.load_lora_weights = lambda *args, **kw: loads.append(kw["adapter_name"]) or load(*args, **kw)
    base = image_bytes(engine, None)

    first = {"a": image_bytes(engine, lora_a), "b": image_bytes(engine, lora_b)}
    assert engine.loaded_adapters() == ["persona_a", "persona_b"]
    assert image_bytes(engine, lora_a) == first["a"]  # a loaded persona switches back without a load...
    assert engine.loaded_adapters() == ["persona_b", "persona_a"]  # ...and becomes the most recently used

    first["c"] = image_bytes(engine, lora_c)
    # The limit holds, and the one evicted is B (used before A's second use), not A (loaded first).
    assert engine.loaded_adapters() == ["persona_a", "persona_c"]
    assert set(engine.pipe.unet.peft_config) == {"persona_a", "persona_c"}  # really gone from the UNet
    assert len(set(first.values()) | {base}) == 4  # the three personas and the base model all differ

    again_b = image_bytes(engine, lora_b)
    assert engine.loaded_adapters() == ["persona_c", "persona_b"]
    assert again_b == first["b"]  # reloaded after eviction: the very same image for the same seed
    assert image_bytes(engine, lora_c) == first["c"] and image_bytes(engine, None) == base
    assert loads == ["persona_a", "persona_b", "persona_c", "persona_b"]
    assert engine.base_load_count == 1

    engine.unload_adapter("persona_c")
    assert engine.loaded_adapters() == ["persona_b"] and set(engine.pipe.unet.peft_config) == {"persona_b"}
