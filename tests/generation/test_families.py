from __future__ import annotations

import pytest

from core.errors import ValidationFailed
from core.platforms import ASPECT_TOLERANCE, PLATFORM_RULES
from generation.engine import families

# --- sizing ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("platform", list(PLATFORM_RULES))
@pytest.mark.parametrize("base_model", ["tiny", "/models/sd15", "/models/sdxl-base"])
def test_render_size_keeps_platform_aspect_and_multiples_of_8(platform, base_model):
    width, height = families.render_size(platform=platform, base_model=base_model)
    assert width % 8 == 0 and height % 8 == 0
    rule = PLATFORM_RULES[platform]
    target_w, target_h = rule.target_size
    assert abs(width / height - target_w / target_h) / (target_w / target_h) <= ASPECT_TOLERANCE
    long_side = max(width, height)
    if base_model == "tiny":
        assert 64 <= long_side <= 128
    elif "xl" in base_model:
        assert 768 <= long_side <= 1600
    else:
        assert 576 <= long_side <= 1200


def test_render_size_examples():
    assert families.render_size(platform="instagram", base_model="tiny") == (64, 80)
    assert families.render_size(platform="tiktok", base_model="tiny") == (72, 128)
    assert families.render_size(platform="tiktok", base_model="/m/sdxl") == (576, 1024)
    with pytest.raises(ValidationFailed):
        families.render_size(platform="myspace")


def test_render_size_reads_the_pipeline_class_of_a_local_model(tmp_path, settings):
    import json

    fine_tune = tmp_path / "juggernaut-v9"  # an SDXL fine-tune whose name doesn't say so
    fine_tune.mkdir()
    (fine_tune / "model_index.json").write_text(json.dumps({"_class_name": "StableDiffusionXLPipeline"}))
    assert families.render_size(platform="tiktok", base_model=str(fine_tune)) == (576, 1024)
    # A single-file checkpoint is sized by its config folder; a name alone is only a hint.
    checkpoint = tmp_path / "realistic-xl-looking-name.safetensors"
    checkpoint.write_bytes(b"weights")
    sd15_config = tmp_path / "sd15-config"
    sd15_config.mkdir()
    (sd15_config / "model_index.json").write_text(json.dumps({"_class_name": "StableDiffusionPipeline"}))
    settings.GENERATION_BASE_MODEL_CONFIG = str(sd15_config)
    assert max(families.render_size(platform="tiktok", base_model=str(checkpoint))) < 1024
    assert families.render_size(platform="tiktok", base_model="/only/on/the/gpu/workers/sdxl") == (576, 1024)


# --- model families --------------------------------------------------------------------------------


def _diffusers_folder(root, class_name, *, sample_size=None, cross_attention_dim=None, vae_blocks=4):
    import json

    root.mkdir(parents=True)
    (root / "model_index.json").write_text(json.dumps({"_class_name": class_name}))
    if sample_size is not None:
        (root / "unet").mkdir()
        (root / "unet" / "config.json").write_text(json.dumps(
            {"sample_size": sample_size, "cross_attention_dim": cross_attention_dim}))
        (root / "vae").mkdir()
        (root / "vae" / "config.json").write_text(json.dumps({"block_out_channels": [32] * vae_blocks}))
    return root


def test_model_family_reads_a_local_folder_and_falls_back_to_the_name(tmp_path, settings):
    sd15 = _diffusers_folder(tmp_path / "a", "StableDiffusionPipeline", sample_size=64, cross_attention_dim=768)
    sd2 = _diffusers_folder(tmp_path / "b", "StableDiffusionPipeline", sample_size=96, cross_attention_dim=1024)
    sdxl = _diffusers_folder(tmp_path / "c", "StableDiffusionXLPipeline", sample_size=128, cross_attention_dim=2048)
    tiny_xl = _diffusers_folder(tmp_path / "d", "StableDiffusionXLPipeline", sample_size=16, vae_blocks=3)
    assert [(f.name, f.native_size, f.is_sdxl) for f in map(families.model_family, map(str, (sd15, sd2, sdxl)))] == [
        ("sd15", 512, False), ("sd2", 768, False), ("sdxl", 1024, True)]
    assert families.model_family(str(tiny_xl)) == families.Family(name="tiny-sdxl", native_size=64)
    assert families.model_family("tiny").name == "tiny"
    settings.GENERATION_BASE_MODEL = str(sdxl)
    assert families.model_family().name == "sdxl"
    # Not readable here (a hub id, a path only the GPU workers have, a broken folder): judged by its name.
    broken = tmp_path / "broken-xl"
    broken.mkdir()
    assert families.model_family("stabilityai/sdxl-turbo").name == "sdxl"
    assert families.model_family(str(broken)).name == "sdxl"
    assert families.model_family("/gpu/only/realistic-vision").name == "sd15"


def test_a_family_decides_render_size_and_training_defaults(tmp_path):
    tiny_xl = _diffusers_folder(tmp_path / "tiny-xl", "StableDiffusionXLPipeline", sample_size=16, vae_blocks=3)
    # A tiny SDXL-architecture model renders at tiny sizes, not at SDXL's 1024.
    assert families.render_size(platform="tiktok", base_model=str(tiny_xl)) == (72, 128)
    assert families.model_family(str(tiny_xl)).training_defaults == {"resolution": 64, "steps": 100}
    assert families.model_family("/m/sdxl").training_defaults == {"resolution": 1024}
    assert families.model_family("/m/sd15").training_defaults == {"resolution": 512}


def test_the_engine_and_a_loaded_pipeline_agree_with_the_files(tmp_path):
    from generation.engine.tiny_model import build_tiny_pipeline

    pipe = build_tiny_pipeline()
    folder = tmp_path / "tiny-folder"
    pipe.save_pretrained(folder, safe_serialization=True)
    assert families.family_of_pipeline(pipe) == families.model_family(str(folder)) == families.Family("tiny", 64)


def test_unsupported_pipelines_are_named(tmp_path):
    from generation.engine.specs import EngineError

    flux = _diffusers_folder(tmp_path / "flux", "FluxPipeline")
    with pytest.raises(EngineError, match="Unsupported pipeline 'FluxPipeline'"):
        families.config_family(flux)
    with pytest.raises(EngineError, match="missing or not a diffusers model_index.json"):
        families.config_family(tmp_path)
    assert families.model_family(str(flux)).name == "sd15"  # sizing in the web process never fails
