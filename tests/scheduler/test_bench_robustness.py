"""bench/robustness.py --quick end to end: the attack table for the four attacks the target names."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_robustness_bench_quick_prints_the_table_and_meets_the_target(tmp_path, settings):
    out = tmp_path / "robustness.json"
    env = {**os.environ, "PERSONA_STUDIO_VAR_DIR": str(settings.VAR_DIR)}
    proc = subprocess.run(
        [sys.executable, "bench/robustness.py", "--quick", "--json", str(out)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "| attack | dwtDctSvd | RivaGAN | C2PA | IPTC XMP | fingerprint | any mark | x base |" in proc.stdout
    result = json.loads(out.read_text())
    assert list(result["rows"]) == ["none", "resize 50%", "crop 10%", "JPEG q50", "re-encode 1080w"]
    # Unattacked, every layer reads; after a re-encode the metadata is gone, as on the platforms.
    assert all(share == 1.0 for share in result["rows"]["none"].values())
    assert result["rows"]["JPEG q50"]["C2PA"] == 0.0 and result["rows"]["JPEG q50"]["IPTC XMP"] == 0.0
    assert result["targets"] == dict.fromkeys(["resize 50%", "crop 10%", "JPEG q50", "re-encode 1080w"], True)
    assert result["misidentified"] == []
    strangers = result["strangers"]
    assert strangers["false_matches"] == [] and strangers["count"] >= 10
    assert strangers["closest_fingerprint_bits"] > strangers["match_max_distance"]
