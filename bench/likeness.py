"""Likeness scoring throughput (personas/identity/faces.py): images per second at 512x512 and 1024x1024 on CPU, for a
photo with a face (detect, align, embed, compare) and one without (detect only), beside the time to render one
image with the configured base model, so the overhead per draft is known.

dlib-bin is a CPU build (dlib.DLIB_USE_CUDA is false): scoring runs on the default (CPU) queue, never on the GPU
one, and there is no CUDA row unless a CUDA build of dlib is installed. CPU time (process time, all threads) is
shown beside wall time: on a shared machine wall time also counts waiting for a core.

    .venv/bin/python bench/likeness.py                 # table
    .venv/bin/python bench/likeness.py --json -n 5     # JSON on stdout
    .venv/bin/python bench/likeness.py --no-render     # scoring only
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

SIZES = (512, 1024)


def _pictures(side: int):
    import numpy as np
    import skimage.data
    from PIL import Image

    face = Image.fromarray(skimage.data.astronaut()).resize((side, side), Image.Resampling.BICUBIC)
    noise = Image.fromarray(np.random.default_rng(side).integers(0, 256, (side, side, 3), dtype=np.uint8))
    return {"face": face, "no face": noise}


def _time(fn, n: int) -> tuple[float, float]:
    """Median wall and CPU seconds of `fn` over n runs (after one untimed warm-up)."""
    fn()
    walls, cpus = [], []
    for _ in range(n):
        w0, c0 = time.perf_counter(), time.process_time()
        fn()
        walls.append(time.perf_counter() - w0)
        cpus.append(time.process_time() - c0)
    return statistics.median(walls), statistics.median(cpus)


def bench_scoring(n: int) -> list[dict]:
    from personas.identity import faces as identity
    from personas.identity.backend import backend_get

    backend = backend_get()
    centroid = identity.face_analyse(_pictures(512)["face"], backend=backend).embedding
    rows = []
    for side in SIZES:
        for kind, picture in _pictures(side).items():
            wall, cpu = _time(lambda p=picture: identity.likeness(identity.face_analyse(p, backend=backend),
                                                                  centroid, backend=backend), n)
            rows.append({"size": f"{side}x{side}", "picture": kind, "device": "cpu", "wall_s": round(wall, 4),
                         "cpu_s": round(cpu, 4), "images_per_s": round(1 / wall, 2) if wall else None})
    return rows


def bench_render(n: int) -> dict | None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("DJANGO_SECRET_KEY", "bench-only-secret-key")
    os.environ.setdefault("PERSONA_STUDIO_VAR_DIR", "var/test")
    import django

    django.setup()
    from django.conf import settings

    from generation.engine.families import render_size
    from generation.engine.pipelines import GenerationRequest, get_engine

    engine = get_engine()
    width, height = render_size(platform="instagram", base_model=settings.GENERATION_BASE_MODEL)
    request = GenerationRequest(prompt="photo of sks person, portrait", negative_prompt="", seeds=[1], steps=20,
                                guidance=7.0, scheduler="dpmpp_2m_karras", width=width, height=height)
    wall, cpu = _time(lambda: engine.generate(request), max(1, n // 2))
    return {"base_model": str(settings.GENERATION_BASE_MODEL), "size": f"{width}x{height}", "steps": 20,
            "wall_s": round(wall, 4), "cpu_s": round(cpu, 4)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", type=int, default=5, help="timed runs per row (median reported)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("--no-render", action="store_true", help="skip the render-time baseline")
    args = parser.parse_args(argv)

    import dlib

    result = {
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "dlib": dlib.__version__,
                    "dlib_cuda": bool(dlib.DLIB_USE_CUDA)},
        "scoring": bench_scoring(args.n),
        "render": None if args.no_render else bench_render(args.n),
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"likeness scoring, dlib {result['machine']['dlib']} (CUDA build: {result['machine']['dlib_cuda']}), "
          f"{result['machine']['cpus']} CPUs, median of {args.n}")
    print(f"{'size':10} {'picture':8} {'device':6} {'wall s':>8} {'cpu s':>8} {'images/s':>9}")
    for row in result["scoring"]:
        print(f"{row['size']:10} {row['picture']:8} {row['device']:6} {row['wall_s']:8.3f} {row['cpu_s']:8.3f} "
              f"{row['images_per_s']:9.2f}")
    render = result["render"]
    if render:
        face_512 = next(r for r in result["scoring"] if r["size"] == "512x512" and r["picture"] == "face")
        print(f"one render: {render['base_model']} {render['size']}, {render['steps']} steps: {render['wall_s']:.3f} s "
              f"wall; scoring a 512x512 draft adds {face_512['wall_s'] / render['wall_s']:.1%} of it")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
