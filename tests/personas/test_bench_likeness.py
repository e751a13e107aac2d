"""bench/likeness.py runs and reports scoring throughput at both sizes, with and without a face."""

from __future__ import annotations

import json

from bench import likeness as bench_likeness


def test_likeness_bench_reports_each_size(capsys):
    assert bench_likeness.main(["--json", "-n", "1", "--no-render"]) == 0
    result = json.loads(capsys.readouterr().out)
    rows = {(row["size"], row["picture"]): row for row in result["scoring"]}
    assert set(rows) == {(f"{s}x{s}", kind) for s in (512, 1024) for kind in ("face", "no face")}
    assert all(row["images_per_s"] > 0 and row["device"] == "cpu" for row in rows.values())
    assert result["render"] is None and result["machine"]["dlib_cuda"] is False
