from __future__ import annotations

import pytest

from config.exceptions import ValidationFailed
from generation import families
from scheduler.platforms import ASPECT_TOLERANCE, PLATFORM_RULES

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
