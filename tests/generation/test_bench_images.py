"""bench/images.py runs on CPU and prints its three rows at one output size, labelled CPU."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.slow


def test_images_bench_runs_on_cpu(capsys):
    from bench import images

    assert images.main(["--device", "cpu", "--quick", "--repeats", "1"]) == 0
    out = capsys.readouterr().out
    # The tiny model refines at most 160 px in one pass: instagram's 4:5 at that size, for all three rows.
    assert "128x160 (instagram 1080x1350 scaled to the tiny family's one-pass maximum" in out and "on CPU" in out
    assert "| case (CPU) | s/image | vs txt2img |" in out
    assert "| txt2img at 128x160 | " in out and "| 1.00x |" in out
    assert "| hires: txt2img 64x80, upscale, refine to 128x160 |" in out and "| img2img 0.6 at 128x160 |" in out
