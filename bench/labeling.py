"""Per-image CPU cost of the AI-disclosure labeling chain at 1080x1350, step by step.

Baseline, measured in the same run on the same decoded images: a plain JPEG encode (quality 92), i.e. what
exporting an image would cost without any labeling. Each image first gets one untimed warm-up pass.

The robust watermark (RivaGAN, provenance.marks.rivagan) gets its own rows: embedding at the working size, reading
at one and at all crop-scale hypotheses (what the detection check pays), and, once, the full-frame embed
imwatermark itself would do at this size, for comparison. CPU time (process time, all threads) is shown
beside wall time: on a shared machine wall time also counts waiting for a core.

    .venv/bin/python bench/labeling.py            # table
    .venv/bin/python bench/labeling.py --json     # JSON on stdout
    .venv/bin/python bench/labeling.py --json out.json -n 10
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

STEPS = ["fit", "badge", "watermark", "encode", "watermark_check", "c2pa"]
RIVAGAN_ROWS = ["rivagan_embed", "rivagan_read_1_scale", "rivagan_read_all_scales"]
SIZE = (1080, 1350)


@contextmanager
def django_with_throwaway_ca() -> Iterator[None]:
    """Django set up for a bench, signing with a throwaway dev CA: the bench never touches var/c2pa."""
    with tempfile.TemporaryDirectory(prefix="bench-c2pa-") as ca_dir:
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
        os.environ.setdefault("DJANGO_SECRET_KEY", "bench-only-secret-key")
        os.environ.setdefault("PERSONA_STUDIO_VAR_DIR", "var/test")
        os.environ["C2PA_DEV_CA_DIR"] = ca_dir
        import django

        django.setup()
        yield


def _source_image(seed: int) -> bytes:
    """A photo-like 1080x1350 PNG (colour fields, soft shapes, noise), as the generator would hand over."""
    import numpy as np
    from PIL import Image, ImageDraw, ImageFilter

    width, height = SIZE
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    base = np.stack([128 + 100 * np.sin(x / 97 + c) * np.cos(y / 123 - c) for c in (0.0, 1.3, 2.6)], axis=-1)
    image = Image.fromarray(np.clip(base, 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(image)
    for _ in range(25):
        cx, cy, r = int(rng.integers(0, width)), int(rng.integers(0, height)), int(rng.integers(20, 250))
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=tuple(int(v) for v in rng.integers(0, 255, 3)))
    image = image.filter(ImageFilter.GaussianBlur(3))
    noisy = np.asarray(image).astype(np.int16) + rng.normal(0, 6, (height, width, 3)).astype(np.int16)
    buf = io.BytesIO()
    Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8)).save(buf, "PNG")
    return buf.getvalue()


def run(n: int) -> dict:
    from PIL import Image

    from provenance.labeling import JPEG_QUALITY, BadgeOptions, image_label, watermark_payload
    from provenance.signing import signing_credentials_get

    credentials = signing_credentials_get()
    per_step: dict[str, list[float]] = {step: [] for step in STEPS + RIVAGAN_ROWS}
    cpu: dict[str, list[float]] = {step: [] for step in RIVAGAN_ROWS}
    totals: list[float] = []
    baseline: list[float] = []
    sizes: list[int] = []
    for index in range(n):
        source = _source_image(index)
        with Image.open(io.BytesIO(source)) as opened:
            decoded = opened.convert("RGB")

        def plain_jpeg(img=decoded) -> bytes:
            buf = io.BytesIO()
            img.save(buf, "JPEG", quality=JPEG_QUALITY)
            return buf.getvalue()

        def chain(src=source, position=index):
            return image_label(
                source=src,
                size=SIZE,
                watermark=watermark_payload(post_id=1, position=position),
                title=f"1_{position}.jpg",
                base_model="bench-model",
                badge=BadgeOptions(),
                credentials=credentials,
            )

        plain_jpeg()  # warm-up
        chain()
        start = time.perf_counter()
        plain_jpeg()
        baseline.append(time.perf_counter() - start)
        start = time.perf_counter()
        result = chain()
        totals.append(time.perf_counter() - start)
        sizes.append(len(result.data))
        for step in STEPS:
            per_step[step].append(result.timings[step])
        _time_rivagan(decoded, index, per_step, cpu)

    def stats(values: list[float]) -> dict[str, float]:
        return {
            "mean_ms": round(statistics.mean(values) * 1000, 2),
            "median_ms": round(statistics.median(values) * 1000, 2),
            "min_ms": round(min(values) * 1000, 2),
            "max_ms": round(max(values) * 1000, 2),
        }

    baseline_mean = statistics.mean(baseline)
    rows = STEPS + RIVAGAN_ROWS
    full_frame = _rivagan_full_frame(decoded)
    return {
        "images": n,
        "size": list(SIZE),
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "machine": platform.machine(),
        "baseline": {"name": f"plain JPEG encode q{JPEG_QUALITY}", **stats(baseline)},
        "steps": {step: stats(per_step[step]) for step in rows},
        "cpu_s": {step: round(statistics.mean(cpu[step]), 3) for step in RIVAGAN_ROWS},
        "rivagan_full_frame": full_frame,
        "total": stats(totals),
        "ratio_vs_baseline": round(statistics.mean(totals) / baseline_mean, 1),
        "step_ratio_vs_baseline": {step: round(statistics.mean(per_step[step]) / baseline_mean, 1) for step in rows},
        "mean_output_bytes": int(statistics.mean(sizes)),
    }


def _time_rivagan(image, index: int, wall: dict[str, list[float]], cpu: dict[str, list[float]]) -> None:
    from PIL import ImageOps

    from provenance.marks.rivagan import DECODE_SCALES, payload_random, rivagan_embed, rivagan_read

    fitted = ImageOps.fit(image, SIZE)
    payload = payload_random()
    calls = {
        "rivagan_embed": lambda: rivagan_embed(fitted, payload),
        "rivagan_read_1_scale": lambda: rivagan_read(fitted, scales=DECODE_SCALES[:1]),
        "rivagan_read_all_scales": lambda: rivagan_read(fitted, scales=DECODE_SCALES),
    }
    if index == 0:
        calls["rivagan_embed"]()  # loads the ONNX sessions
    for name, call in calls.items():
        start, start_cpu = time.perf_counter(), time.process_time()
        call()
        wall[name].append(time.perf_counter() - start)
        cpu[name].append(time.process_time() - start_cpu)


def _rivagan_full_frame(image) -> dict[str, float]:
    """What imwatermark's RivaGAN costs on the whole 1080x1350 frame (one run: it is slow)."""
    import numpy as np
    from PIL import ImageOps

    from provenance.marks.rivagan import _ENCODER_FILE, _session

    frame = np.asarray(ImageOps.fit(image, SIZE), dtype=np.float32).transpose(2, 0, 1)[None, :, None] / 127.5 - 1
    bits = np.tile(np.array([1, 0], dtype=np.float32), 16)[None]
    start, start_cpu = time.perf_counter(), time.process_time()
    _session(_ENCODER_FILE).run(None, {"frame": frame, "data": bits})
    return {"wall_s": round(time.perf_counter() - start, 2), "cpu_s": round(time.process_time() - start_cpu, 2)}


def table(result: dict) -> str:
    rows = [("step", "mean ms", "median ms", "min ms", "max ms", "x baseline")]
    base = result["baseline"]
    rows.append(("baseline: " + base["name"], *_cells(base), "1.0"))
    for step, values in result["steps"].items():
        rows.append((step, *_cells(values), str(result["step_ratio_vs_baseline"][step])))
    rows.append(("total chain", *_cells(result["total"]), str(result["ratio_vs_baseline"])))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [
        f"Labeling chain, {result['images']} images at {result['size'][0]}x{result['size'][1]}, "
        f"{result['cpu_count']} CPUs, Python {result['python']}"
    ]
    for number, row in enumerate(rows):
        lines.append(
            "  ".join(
                cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in enumerate(zip(row, widths, strict=True))
            )
        )
        if number == 0:
            lines.append("  ".join("-" * w for w in widths))
    lines.append(f"mean output size: {result['mean_output_bytes'] / 1024:.0f} KiB")
    cpu = ", ".join(f"{name} {seconds:.2f} s" for name, seconds in result["cpu_s"].items())
    lines.append(f"RivaGAN CPU time per image (all threads): {cpu}")
    full = result["rivagan_full_frame"]
    lines.append(
        f"RivaGAN on the full {result['size'][0]}x{result['size'][1]} frame instead (imwatermark's way, 1 run): "
        f"{full['wall_s']:.1f} s wall, {full['cpu_s']:.1f} s CPU"
    )
    return "\n".join(lines)


def _cells(values: dict[str, float]) -> tuple[str, ...]:
    return tuple(f"{values[k]:.1f}" for k in ("mean_ms", "median_ms", "min_ms", "max_ms"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", "--images", type=int, default=10, help="Images to label (default 10).")
    parser.add_argument(
        "--json", nargs="?", const="-", default=None, metavar="FILE", help="Write JSON to FILE (or stdout)."
    )
    args = parser.parse_args(argv)
    if args.images < 1:
        parser.error("--images must be at least 1")
    with django_with_throwaway_ca():
        result = run(args.images)
    if args.json == "-":
        print(json.dumps(result, indent=2))
    else:
        print(table(result))
        if args.json:
            Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
