"""The engine's SDXL code paths (two text encoders, pooled text and size conditioning) on a tiny SDXL-architecture
model with random weights: loading a diffusers folder, generation, batching, LoRA training and hotswap."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from safetensors import safe_open

from generation.engine.pipelines import Engine, GenerationRequest, LoraRef, PerfOptions, TrainingConfig
from generation.engine.tiny_model import build_tiny_sdxl_pipeline

pytestmark = pytest.mark.slow

CAPTION = "photo of sks person"


def request(lora: LoraRef | None = None, **overrides) -> GenerationRequest:
    fields = dict(prompt=CAPTION, negative_prompt="blurry", seeds=[1, 2], steps=4, guidance=5.0,
                  scheduler="dpmpp_2m_karras", width=64, height=64, lora=lora)
    return GenerationRequest(**{**fields, **overrides})


def as_array(images: list[Image.Image]) -> np.ndarray:
    return np.stack([np.asarray(im, dtype=np.float32) for im in images])


@pytest.fixture(scope="module")
def sdxl_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tiny-sdxl")
    build_tiny_sdxl_pipeline().save_pretrained(folder, safe_serialization=True)
    return folder


@pytest.fixture(scope="module")
def sdxl(sdxl_folder):
    return Engine(str(sdxl_folder))


@pytest.fixture(scope="module")
def red_persona(sdxl, tmp_path_factory):
    refs = [Image.new("RGB", (64, 64), (220, 30, 30)), Image.new("RGB", (64, 64), (200, 60, 20))]
    result = sdxl.train_lora(images=refs, captions=[CAPTION], output_dir=tmp_path_factory.mktemp("lora"),
                             config=TrainingConfig(rank=4, steps=30, learning_rate=1e-2, resolution=64, seed=1))
    return result, LoraRef(path=result.weights_path, sha256=result.sha256, adapter_name="red")


def test_a_diffusers_sdxl_folder_loads_as_sdxl_and_renders_reproducibly(sdxl, sdxl_folder):
    assert sdxl.is_sdxl and sdxl.pipe.__class__.__name__ == "StableDiffusionXLPipeline"
    assert sdxl.native_resolution == 64 and len(sdxl.base_model_hash) == 64
    first = sdxl.generate(request())
    assert [im.size for im in first] == [(64, 64), (64, 64)]
    assert np.array_equal(as_array(first), as_array(sdxl.generate(request())))
    assert not np.array_equal(as_array(first[:1]), as_array(first[1:]))  # each seed its own image
    # Requests batched into one call render what that call renders alone, split per request.
    batched = sdxl.generate_batch([request(seeds=[1]), request(seeds=[2], prompt="photo of sks person, beach")])
    together = sdxl.generate_batch([request(seeds=[1, 2])])[0]
    assert np.array_equal(as_array(batched[0]), as_array(together[:1]))


def test_sdxl_lora_training_pulls_images_to_the_persona(sdxl, red_persona):
    result, lora = red_persona
    assert result.hyperparameters["base_model"] == sdxl.base_model_id
    assert result.loss_curve[-1] < result.loss_curve[1]
    with safe_open(str(result.weights_path), framework="pt") as fh:
        keys = list(fh.keys())
    assert keys and all(key.startswith("unet.") for key in keys)  # UNet-only: hotswappable
    base = as_array(sdxl.generate(request())).mean(axis=(0, 1, 2))
    persona = as_array(sdxl.generate(request(lora))).mean(axis=(0, 1, 2))
    # Red references: red goes up, green and blue go down.
    assert persona[0] > base[0] + 15 and persona[1] < base[1] - 15 and persona[2] < base[2] - 15


def test_sdxl_hotswap_renders_what_loading_the_adapter_renders(sdxl, sdxl_folder, red_persona):
    _result, lora = red_persona
    hot = Engine(str(sdxl_folder), perf=PerfOptions(lora_hotswap=True, max_lora_rank=8))
    for ref in (lora, None, lora):
        assert np.abs(as_array(hot.generate(request(ref))) - as_array(sdxl.generate(request(ref)))).max() <= 1
    assert hot.base_load_count == 1
