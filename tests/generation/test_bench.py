"""bench/generation.py end to end on the tiny model (CPU): every metric is there and the numbers are sane."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
@pytest.mark.parametrize("arch", ["tiny", "tiny-sdxl"])  # the SD 1.x and the SDXL code paths
def test_generation_bench_runs_on_cpu_and_reports_every_metric(tmp_path, settings, arch):
    out = tmp_path / "bench.json"
    env = {**os.environ, "PERSONA_STUDIO_VAR_DIR": str(settings.VAR_DIR), "GENERATION_MODEL_CACHE": str(tmp_path)}
    proc = subprocess.run(
        [sys.executable, "bench/generation.py", "--arch", arch, "--device", "cpu", "--quick", "--json", str(out)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=420,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "single image latency (ms)" in proc.stdout and "floor reached" in proc.stdout
    result = json.loads(out.read_text())
    assert result["arch"] == arch and result["device"] == "cpu"
    assert (result["width"], result["height"], result["steps"], result["batch"]) == (64, 64, 4, 2)
    # On CPU the engine runs the plain path (plus hotswap, so the switch is measured through it).
    perf = result["engine_perf"]
    assert perf["lora_hotswap"] and not (perf["compile"] or perf["channels_last"] or perf["fuse_qkv"])
    assert perf["train_sync_every"] == 2  # the engine's training reports in chunks, as on CUDA

    for side in ("plain", "engine"):
        for key in ("single_ms", "batch_images_per_s", "batch_ms_per_image", "train_steps_per_s", "train_step_ms",
                    "time_to_persona_s", "queue_images_per_s"):
            value = result[side][key]
            assert math.isfinite(value) and value > 0, (side, key, value)
        # 1,000 steps can't be faster than 1,000 measured steps.
        assert result[side]["time_to_persona_s"] >= 1000 / result[side]["train_steps_per_s"] * 0.99
    assert result["plain"]["switch_reload_s"] > 0 and result["plain"]["switch_set_adapters_s"] > 0
    assert result["engine"]["switch_s"] > 0 and result["engine"]["switch_mode"] == "hotswap"
    # Swapping LoRA weights in place is cheaper than reloading the whole base model.
    assert result["engine"]["switch_s"] < result["plain"]["switch_reload_s"]

    flops = result["flops"]
    assert flops["unet_step_cfg"] > 0 and flops["vae_decode"] > 0
    assert flops["image"] == result["steps"] * flops["unet_step_cfg"] + flops["vae_decode"]
    assert flops["peak_tflops"] > 0 and flops["floor_ms_per_image"] > 0
    for key, fraction in result["floor_fraction"].items():
        assert 0 < fraction < 1.5, (key, fraction)  # no side beats the compute floor (with timing slack)
    assert result["engine"]["queue_per_job_images_per_s"] > 0 and result["queue_job_variants"] == 1
    assert result["engine"]["train_compiled"] is False  # not asked for on CPU
    assert "queued jobs (img/s): per-job calls | filled" in proc.stdout
    expected_ratios = {"single_latency_speedup", "batch_throughput_speedup", "engine_batch_vs_plain_single",
                       "switch_speedup_vs_reload", "training_speedup", "time_to_persona_speedup",
                       "queue_throughput_speedup", "queue_batching_gain"}
    assert set(result["ratios"]) == expected_ratios
    assert all(math.isfinite(v) and v > 0 for v in result["ratios"].values())
    assert result["ratios"]["single_latency_speedup"] == pytest.approx(
        result["plain"]["single_ms"] / result["engine"]["single_ms"])
    # Same weights, sampler and seed in fp32 on both sides: the same base image.
    assert result["base_image_max_abs_diff"] <= 2

    # The finishing stages at one output size (the tiny models refine 160 px at most: 128x160 for instagram).
    stages = result["stages"]
    assert stages["device"] == "CPU" and stages["output_size"] == [128, 160]
    assert [row["case"].split(":")[0].split(" ")[0] for row in stages["rows"]] == ["txt2img", "hires", "img2img"]
    assert all(math.isfinite(row["s_per_image"]) and row["s_per_image"] > 0 for row in stages["rows"])
    assert stages["rows"][0]["vs_txt2img"] == 1.0
    assert stages["rows"][1]["vs_txt2img"] == pytest.approx(stages["rows"][1]["s_per_image"]
                                                            / stages["rows"][0]["s_per_image"])
    assert "| case (CPU) | s/image | vs txt2img |" in proc.stdout and "at 128x160" in proc.stdout
