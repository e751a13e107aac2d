"""The finishing stages against plain txt2img at one output size: hires (a native-size render, upscaled, refined
with img2img) and img2img, on an engine. bench/generation.py prints these rows for the engine it measures; run
alone, this measures the configured base model.

    python bench/images.py --device cpu --quick          # tiny model, seconds (CPU figures are labelled CPU)
    GENERATION_BASE_MODEL=/models/sd15 python bench/images.py --device cuda

The output size is the platform's size where the family refines it in one pass (SD 1.x, SDXL: 1080x1350 rounded
to multiples of 8), else the platform's aspect ratio at the family's one-pass maximum (the tiny models: 128x160,
twice their native size). Rows, each rendering an image of exactly that size: txt2img rendered directly at it;
hires (txt2img at the render size, upscaled and refined to it); img2img (strength 0.6) of a photo at it. Each row:
seconds per image and the ratio to the txt2img row, measured in the same run, on the labelled device.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.common import setup_django, timed  # noqa: E402

PROMPT = "photo of a person reading in a park"
NEGATIVE = "blurry"
IMG2IMG_STRENGTH = 0.6


def device_label(device) -> str:
    return {"cpu": "CPU", "cuda": "CUDA"}.get(device.type, device.type.upper())


def output_size(engine, platform: str) -> tuple[tuple[int, int], str]:
    """The size all rows render, and how it relates to the platform's size."""
    from core.platforms import platform_target_size
    from generation.engine.refine import refine_size

    target = platform_target_size(platform)
    size = refine_size(target, long_side_max=engine.family.refine_long_side_max)
    if max(size) < max(target):
        note = (f"{platform} {target[0]}x{target[1]} scaled to the {engine.family.name} family's one-pass maximum "
                f"({engine.family.refine_long_side_max} px long side)")
    else:
        note = f"{platform} {target[0]}x{target[1]}, in multiples of 8"
    return size, note


def cases(engine, *, platform: str, steps: int, lora=None, prompt: str = PROMPT, negative: str = NEGATIVE,
          guidance: float = 7.0) -> list[tuple[str, object]]:
    """(label, request) per row; every request's image comes out at output_size()."""
    from bench.samples import sample_photo
    from generation.engine.families import render_size
    from generation.engine.specs import GenerationRequest

    (width, height), _note = output_size(engine, platform)
    render = render_size(platform=platform, family=engine.family)
    base = dict(prompt=prompt, negative_prompt=negative, seeds=[1], steps=steps, guidance=guidance,
                scheduler="dpmpp_2m_karras", lora=lora)
    return [
        (f"txt2img at {width}x{height}", GenerationRequest(**base, width=width, height=height)),
        (f"hires: txt2img {render[0]}x{render[1]}, upscale, refine to {width}x{height}",
         GenerationRequest(**base, width=render[0], height=render[1], output_size=(width, height))),
        (f"img2img {IMG2IMG_STRENGTH:g} at {width}x{height}",
         GenerationRequest(**base, width=width, height=height, mode="img2img", init_image=sample_photo("astronaut"),
                           strength=IMG2IMG_STRENGTH)),
    ]


def measure(engine, *, platform: str = "instagram", steps: int, repeats: int, lora=None, **texts) -> dict:
    """Seconds per image of each case (after a warm-up call, which on CUDA includes compiling for the size)."""
    size, note = output_size(engine, platform)
    rows = []
    for label, request in cases(engine, platform=platform, steps=steps, lora=lora, **texts):
        produced: list[tuple[int, int]] = []
        _, seconds = timed(lambda r=request, sizes=produced: sizes.append(engine.generate(r)[0].size),
                           engine.device, repeats=repeats)
        if set(produced) != {size}:
            raise SystemExit(f"{label}: rendered {sorted(set(produced))}, not the output size {size}.")
        rows.append({"case": label, "s_per_image": seconds})
    for row in rows:
        row["vs_txt2img"] = row["s_per_image"] / rows[0]["s_per_image"]
    return {"device": device_label(engine.device), "platform": platform, "output_size": list(size),
            "output_note": note, "steps": steps, "repeats": repeats, "rows": rows}


def table(result: dict) -> str:
    width, height = result["output_size"]
    lines = [f"Finishing stages at one output size, {width}x{height} ({result['output_note']}), {result['steps']} "
             f"steps, on {result['device']}:",
             f"| case ({result['device']}) | s/image | vs txt2img |", "|---|---|---|"]
    lines += [f"| {row['case']} | {row['s_per_image']:.3f} | {row['vs_txt2img']:.2f}x |" for row in result["rows"]]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--platform", default="instagram")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="4 steps (a smoke run)")
    args = parser.parse_args(argv)
    setup_django()
    import torch

    from generation.engine.pipelines import Engine

    device = torch.device(args.device)
    engine = Engine(device=device, dtype=torch.float32 if device.type == "cpu" else torch.float16)
    result = measure(engine, platform=args.platform, steps=4 if args.quick else 25, repeats=args.repeats)
    print(table(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
