"""bench/pages.py at a tiny size: the table (p95, max, the ratio to the small workspace and both query counts for
every page), its JSON, and --profile."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # starts the bench as a process

ROOT = Path(__file__).resolve().parents[2]
TINY = ["--posts", "200", "--baseline-posts", "20", "-n", "3", "--warmup", "1"]


def run_bench(tmp_path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PERSONA_STUDIO_VAR_DIR": str(tmp_path)}
    env.pop("DATABASE_URL", None)
    return subprocess.run([sys.executable, "bench/pages.py", *TINY, *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=300)


def test_the_bench_times_every_page_against_the_small_workspace(tmp_path):
    out = tmp_path / "pages.json"
    # Budgets no page can miss at this size on a busy machine: the test checks the report, not the timings.
    proc = run_bench(tmp_path, "--budget-ms", "100000", "--max-ratio", "1000", "--json", str(out))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "median     p95     max  base med  base p95  base max   ratio  queries  base q  verdict" in proc.stdout
    assert "database: sqlite" in proc.stdout and "frozen (gc.freeze): yes" in proc.stdout
    assert "Machine: " in proc.stdout and " cores for this process; load average " in proc.stdout
    result = json.loads(out.read_text())
    assert result["posts"] == {"Big Brand": 200, "Small Brand": 20}
    pages = {row["page"]: row for row in result["results"]}
    assert list(pages) == ["dashboard", "review queue", "review queue (grid)", "calendar month",
                           "calendar week (persona)", "calendar day", "persona page", "exports"]
    for row in pages.values():
        assert row["ok"] and row["max_ms"] >= row["p95_ms"] >= row["median_ms"] > 0
        assert abs(row["ratio"] - row["p95_ms"] / row["baseline_p95_ms"]) < 0.02  # of the unrounded times
        assert row["queries"] == row["baseline_queries"] > 0  # no query per post, per card, per day


def test_a_page_over_the_budget_fails_the_bench_and_profile_prints_the_top_functions(tmp_path):
    proc = run_bench(tmp_path, "--budget-ms", "0.001")
    assert proc.returncode == 1 and "p95 over 0 ms" in proc.stdout
    proc = run_bench(tmp_path, "--profile", "review-queue", "--top", "5")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "/review/:" in proc.stdout and "of which SQL" in proc.stdout and "Slowest queries" in proc.stdout
    assert "Top 5 by own time" in proc.stdout and "Top 5 by cumulative time" in proc.stdout
