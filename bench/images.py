"""The finishing stages against plain txt2img at the same output size: hires (render at the model's size, upscale,
refine) and img2img, on the engine with the tiny model on CPU or a real base model on a GPU.

    python bench/images.py --device cpu --quick          # tiny model, seconds (CPU figures are labelled CPU)
    GENERATION_BASE_MODEL=/models/sd15 python bench/images.py --device cuda

Rows: txt2img rendered directly at the output size; txt2img at the render size then hires to the output size;
img2img (strength 0.6) of a photo at the render size. Each row: seconds per image and the ratio to the first row.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.generation import _setup_django  # noqa: E402


def run(args) -> list[tuple[str, float]]:
    _setup_django()
    import torch
    from PIL import Image
    from skimage import data as skdata

    from core.platforms import platform_target_size
    from generation.engine import Engine
    from generation.families import render_size
    from generation.specs import GenerationRequest

    device = torch.device(args.device)
    engine = Engine(device=device, dtype=torch.float32 if device.type == "cpu" else torch.float16)
    width, height = render_size(platform=args.platform, base_model=engine.base_model_id)
    target = platform_target_size(args.platform)
    # The direct row renders at the largest size the family refines in one pass (the platform size on SD / SDXL).
    from generation.refine import refine_size

    direct = refine_size(target, long_side_max=engine.family.refine_long_side_max)
    steps = 4 if args.quick else 25
    base = dict(prompt="photo of a person reading in a park", negative_prompt="blurry", seeds=[1], steps=steps,
                guidance=7.0, scheduler="dpmpp_2m_karras")
    photo = Image.fromarray(skdata.astronaut())
    cases = [
        (f"txt2img at {direct[0]}x{direct[1]}", GenerationRequest(**base, width=direct[0], height=direct[1])),
        (f"txt2img {width}x{height} + hires to {target[0]}x{target[1]}",
         GenerationRequest(**base, width=width, height=height, output_size=target)),
        (f"img2img 0.6 at {width}x{height} + hires", GenerationRequest(
            **base, width=width, height=height, mode="img2img", init_image=photo, strength=0.6, output_size=target)),
    ]
    rows = []
    for label, request in cases:
        engine.render_batch([request])  # warm-up
        start = time.perf_counter()
        for _ in range(args.repeats):
            engine.render_batch([request])
        if device.type == "cuda":
            torch.cuda.synchronize()
        rows.append((label, (time.perf_counter() - start) / args.repeats))
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--platform", default="instagram")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="4 steps (a smoke run)")
    args = parser.parse_args(argv)
    rows = run(args)
    label = "CPU" if args.device == "cpu" else args.device
    print(f"| case ({label}) | s/image | vs first row |\n|---|---|---|")
    for name, seconds in rows:
        print(f"| {name} | {seconds:.3f} | {seconds / rows[0][1]:.2f}x |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
