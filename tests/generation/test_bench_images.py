"""bench/images.py runs on CPU and prints its three rows, labelled CPU."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.slow


def test_images_bench_runs_on_cpu(capsys):
    from bench import images

    assert images.main(["--device", "cpu", "--quick", "--repeats", "1"]) == 0
    out = capsys.readouterr().out
    assert "| case (CPU) |" in out and "+ hires to 1080x1350" in out and "img2img 0.6" in out
