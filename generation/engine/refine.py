"""The engine's image-to-image stages: variations of an init image, inpainting, the hires upscale and the face detail
pass. Worker-side only (torch, diffusers); generation.engine.pipelines calls these with its loaded pipeline, whose
components (and persona LoRA) every stage shares: a stage builds a view of another pipeline class over them, never a
copy.

Every stage is deterministic for a given seed (CPU generators, as the txt2img render), so its output reproduces.
"""

from __future__ import annotations

import contextlib
import inspect
import math
from collections.abc import Callable, Sequence
from dataclasses import replace

import numpy as np
import torch
from PIL import Image, ImageOps

from generation.engine.specs import EngineCancelled, EngineError, GenerationRequest, Rendered

LANCZOS = Image.Resampling.LANCZOS
# Pixels of feathering where a re-rendered region meets the untouched image (none outside the mask itself).
FEATHER = 4
# Context kept around a mask's or face's box, as a share of the box's size, so the re-render sees its surroundings.
REGION_MARGIN = 0.35
OnStep = Callable[[int, int], bool] | None


def _pipeline_class(kind: str, *, is_sdxl: bool):
    import diffusers

    names = {
        ("img2img", False): "StableDiffusionImg2ImgPipeline",
        ("img2img", True): "StableDiffusionXLImg2ImgPipeline",
        ("inpaint", False): "StableDiffusionInpaintPipeline",
        ("inpaint", True): "StableDiffusionXLInpaintPipeline",
    }
    return getattr(diffusers, names[(kind, is_sdxl)])


def pipeline_view(pipe, kind: str, *, scheduler, is_sdxl: bool):
    """A `kind` ("img2img" or "inpaint") pipeline over `pipe`'s components, with its own scheduler."""
    cls = _pipeline_class(kind, is_sdxl=is_sdxl)
    accepted = inspect.signature(cls.__init__).parameters
    components = {k: v for k, v in pipe.components.items() if k in accepted}
    components["scheduler"] = scheduler
    extra = {k: pipe.config[k] for k in ("requires_safety_checker", "force_zeros_for_empty_prompt")
             if k in pipe.config and k in accepted}
    view = cls(**components, **extra)
    view.set_progress_bar_config(disable=True)
    return view


def steps_for_strength(steps: int, strength: float) -> int:
    """Scheduler steps for an image-to-image call: diffusers denoises int(steps * strength) of them, which must be at
    least one (a low strength with few steps would otherwise denoise nothing and fail)."""
    if not 0 < strength <= 1:
        raise EngineError(f"Strength must be in (0, 1]; got {strength:g}.")
    return max(int(steps), math.ceil(1 / strength - 1e-9))


@contextlib.contextmanager
def vae_tiling(pipe, width: int, height: int, area: int):
    """Tiled VAE above `area` pixels (bounds memory at large sizes); the VAE is shared, so the flag is restored."""
    tile = bool(area) and width * height > area and hasattr(pipe.vae, "enable_tiling")
    if tile:
        pipe.vae.enable_tiling()
    try:
        yield
    finally:
        if tile:
            pipe.vae.disable_tiling()


def _callback(on_step: OnStep, total: int):
    def callback(_pipe, step, _timestep, callback_kwargs):
        if on_step is not None and on_step(step + 1, total) is False:
            raise EngineCancelled("Generation cancelled.")
        return callback_kwargs

    return callback


def image_to_image(
    view,
    *,
    request: GenerationRequest,
    images: Sequence[Image.Image],
    seeds: Sequence[int],
    strength: float,
    prompts: Sequence[str] | None = None,
    negative_prompts: Sequence[str] | None = None,
    masks: Sequence[Image.Image] | None = None,
    on_step: OnStep = None,
    vae_tiling_area: int = 0,
) -> list[Image.Image]:
    """One call of an img2img or inpaint view: image i is refined from images[i] with seeds[i] (same sizes)."""
    n = len(images)
    if not n:
        return []
    width, height = images[0].size
    if any(im.size != (width, height) for im in images) or width % 8 or height % 8:
        raise EngineError("One image-to-image call needs images of one size, in multiples of 8.")
    steps = steps_for_strength(request.steps, strength)
    kwargs = {}
    if masks is not None:
        kwargs = {"mask_image": list(masks), "width": width, "height": height}
    generators = [torch.Generator("cpu").manual_seed(int(seed)) for seed in seeds]
    with vae_tiling(view, width, height, vae_tiling_area), torch.inference_mode():
        result = view(
            prompt=list(prompts) if prompts is not None else [request.prompt] * n,
            negative_prompt=list(negative_prompts) if negative_prompts is not None else [request.negative_prompt] * n,
            image=list(images),
            strength=float(strength),
            num_inference_steps=steps,
            guidance_scale=request.guidance,
            generator=generators,
            callback_on_step_end=_callback(on_step, int(steps * strength)),
            output_type="pil",
            **kwargs,
        )
    return list(result.images)


# --- sizes -----------------------------------------------------------------------------------------------------


def refine_size(target: tuple[int, int], *, long_side_max: int) -> tuple[int, int]:
    """The size a refine pass renders for a `target` output: the target, rounded up to multiples of 8, unless its
    long side exceeds what the family can denoise in one pass (then scaled down to that, keeping the ratio)."""
    width, height = target
    scale = min(1.0, long_side_max / max(width, height))
    return max(8, math.ceil(width * scale / 8) * 8), max(8, math.ceil(height * scale / 8) * 8)


def fit_exact(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    """`image` at exactly `size`: as is when it already is, else resized and centre-cropped (a rounded-up multiple
    of 8 loses only its extra rows or columns)."""
    if image.size == tuple(size):
        return image
    return ImageOps.fit(image, tuple(size), method=LANCZOS, centering=(0.5, 0.5))


def init_for_request(image: Image.Image, width: int, height: int) -> Image.Image:
    """An init image at the render size: resized and centre-cropped to the job's aspect ratio."""
    return fit_exact(image.convert("RGB"), (width, height))


# --- hires -----------------------------------------------------------------------------------------------------


def hires(
    view,
    *,
    request: GenerationRequest,
    images: Sequence[Image.Image],
    seeds: Sequence[int],
    long_side_max: int,
    on_step: OnStep = None,
    vae_tiling_area: int = 0,
    prompts: Sequence[str] | None = None,
    negative_prompts: Sequence[str] | None = None,
) -> list[Rendered]:
    """Upscale each native render (pixels, LANCZOS) to the refine size, refine it with image-to-image at
    request.hires_strength, and give it back at exactly request.output_size."""
    assert request.output_size is not None
    target = (int(request.output_size[0]), int(request.output_size[1]))
    size = refine_size(target, long_side_max=long_side_max)
    upscaled = [image.convert("RGB").resize(size, LANCZOS) for image in images]
    refined = image_to_image(view, request=request, images=upscaled, seeds=seeds, strength=request.hires_strength,
                             prompts=prompts, negative_prompts=negative_prompts, on_step=on_step,
                             vae_tiling_area=vae_tiling_area)
    stage = {"upscale": "pixel-lanczos", "refine_width": size[0], "refine_height": size[1],
             "strength": request.hires_strength, "width": target[0], "height": target[1]}
    return [Rendered(fit_exact(image, target), {"hires": stage}) for image in refined]


# --- regions: inpainting and the face detail pass ------------------------------------------------------------------


def mask_box(mask: Image.Image) -> tuple[int, int, int, int] | None:
    """Bounding box of the mask's white (to repaint) pixels, or None when nothing is masked."""
    return mask.convert("L").point(lambda v: 255 if v >= 128 else 0).getbbox()


def region_box(box: tuple[int, int, int, int], size: tuple[int, int], *, margin: float = REGION_MARGIN):
    """`box` grown by `margin` of its size on each side, squared off towards the image's shape, within the image."""
    left, top, right, bottom = box
    width, height = size
    grow_x = int((right - left) * margin) + FEATHER * 2
    grow_y = int((bottom - top) * margin) + FEATHER * 2
    return (max(0, left - grow_x), max(0, top - grow_y), min(width, right + grow_x), min(height, bottom + grow_y))


def _work_size(crop: tuple[int, int], long_side: int) -> tuple[int, int]:
    width, height = crop
    scale = long_side / max(width, height)
    return max(8, round(width * scale / 8) * 8), max(8, round(height * scale / 8) * 8)


def feathered(mask: Image.Image, radius: int = FEATHER) -> Image.Image:
    """The binary mask with a linear ramp `radius` pixels wide inside its edge: every pixel outside the mask keeps
    weight 0, and those deeper inside than the ramp weight 255."""
    import cv2

    binary = (np.asarray(mask.convert("L")) >= 128).astype(np.uint8)
    if radius <= 0:
        return Image.fromarray(binary * 255)
    # Distance to the nearest unmasked pixel (the image border counts as masked: regions may touch it).
    padded = np.pad(binary, 1, constant_values=1)
    distance = cv2.distanceTransform(padded, cv2.DIST_L2, 3)[1:-1, 1:-1]
    return Image.fromarray((np.clip(distance / (radius + 1), 0, 1) * 255).round().astype(np.uint8) * binary)


def region_rerender(
    view,
    *,
    request: GenerationRequest,
    image: Image.Image,
    box: tuple[int, int, int, int],
    mask: Image.Image,
    seed: int,
    strength: float,
    long_side: int,
    inpaint: bool,
    on_step: OnStep = None,
) -> Image.Image:
    """Re-render the `box` region of `image` at `long_side` (the family's comfortable size, so a small region gets
    more pixels than it had) and blend it back through `mask` (full-image size, white = the new pixels). Only
    masked pixels change; the rest are the input's bytes."""
    crop = image.crop(box)
    work = _work_size(crop.size, long_side)
    crop_mask = mask.crop(box)
    result = image_to_image(
        view, request=request, images=[crop.resize(work, LANCZOS)], seeds=[seed], strength=strength,
        masks=[crop_mask.resize(work, Image.Resampling.NEAREST)] if inpaint else None, on_step=on_step,
    )[0].resize(crop.size, LANCZOS)
    out = image.copy()
    out.paste(result, box[:2], feathered(crop_mask))
    return out


def inpaint(
    view,
    *,
    request: GenerationRequest,
    seeds: Sequence[int],
    long_side: int,
    on_step: OnStep = None,
) -> list[Rendered]:
    """Repaint the masked part of request.init_image, once per seed. The region around the mask is re-rendered at
    the family's size (so a large draft needs no full-size pass) with diffusers' inpaint pipeline: an inpainting
    UNet where the base model has one (9 input channels), else the standard UNet blending the masked latents."""
    image, mask = request.init_image, request.mask
    if image is None or mask is None:
        raise EngineError("Inpainting needs an init image and a mask.")
    if image.size != mask.size:
        raise EngineError(f"The mask is {mask.size[0]}x{mask.size[1]}; the image is {image.size[0]}x{image.size[1]}.")
    box = mask_box(mask)
    if box is None:
        raise EngineError("The mask marks nothing to repaint.")
    region = region_box(box, image.size)
    unet = "inpainting" if view.unet.config.in_channels == 9 else "masked-latent blending"
    stage = {"box": list(region), "unet": unet, "strength": request.strength}
    return [
        Rendered(region_rerender(view, request=request, image=image.convert("RGB"), box=region, mask=mask, seed=seed,
                                 strength=request.strength, long_side=long_side, inpaint=True, on_step=on_step),
                 {"inpaint": stage})
        for seed in seeds
    ]


def face_detail(
    view,
    *,
    request: GenerationRequest,
    image: Image.Image,
    seed: int,
    long_side: int,
    max_faces: int = 4,
    on_step: OnStep = None,
) -> Rendered:
    """Re-render each detected face (with its margin) at the family's size with image-to-image and the persona
    LoRA, and blend it back. An image without a face comes back untouched (the same object)."""
    from generation.engine.faces import DETECTOR_NAME, face_boxes

    faces = face_boxes(image)[:max_faces]
    stage: dict = {"detector": DETECTOR_NAME, "faces": len(faces), "boxes": [],
                   "strength": request.face_detail_strength}
    out = image
    for face in faces:
        region = region_box(face, image.size, margin=0.5)
        mask = Image.new("L", image.size, 0)
        mask.paste(255, region)
        out = region_rerender(view, request=request, image=out, box=region, mask=mask, seed=seed,
                              strength=request.face_detail_strength, long_side=long_side, inpaint=False,
                              on_step=on_step)
        stage["boxes"].append(list(region))
    return Rendered(out, {"face_detail": stage})


# --- the stages of one engine call ------------------------------------------------------------------------------


def from_init(view, *, request: GenerationRequest, long_side: int, on_step: OnStep = None,
              vae_tiling_area: int = 0) -> list[Rendered]:
    """img2img: variations of the init image (fitted to the render size), one per seed; inpaint: see inpaint()."""
    if request.mode == "inpaint":
        if request.output_size is not None:
            raise EngineError("Inpainting keeps the image's size; it takes no hires output size.")
        return inpaint(view("inpaint"), request=request, seeds=request.seeds, long_side=long_side, on_step=on_step)
    init = init_for_request(request.init_image, request.width, request.height)
    images = image_to_image(view("img2img"), request=request, images=[init] * len(request.seeds),
                            seeds=request.seeds, strength=request.strength, on_step=on_step,
                            vae_tiling_area=vae_tiling_area)
    return [Rendered(image, {"img2img": {"strength": request.strength}}) for image in images]


def finishing(view, *, request: GenerationRequest, rendered: list[Rendered], prompts: Sequence[str],
              negative_prompts: Sequence[str], family, on_step: OnStep = None,
              vae_tiling_area: int = 0) -> list[Rendered]:
    """The hires upscale (to request.output_size) and the face detail pass, when the request asks for them."""
    if request.output_size is not None:
        upscaled = hires(view("img2img"), request=request, images=[r.image for r in rendered], seeds=request.seeds,
                         long_side_max=family.refine_long_side_max, on_step=on_step, vae_tiling_area=vae_tiling_area,
                         prompts=prompts, negative_prompts=negative_prompts)
        rendered = [Rendered(new.image, {**old.stages, **new.stages}) for old, new in zip(rendered, upscaled,
                                                                                          strict=True)]
    if request.face_detail:
        finished = []
        img2img = view("img2img")
        for seed, prompt, negative, item in zip(request.seeds, prompts, negative_prompts, rendered, strict=True):
            one = replace(request, prompt=prompt, negative_prompt=negative)
            detailed = face_detail(img2img, request=one, image=item.image, seed=seed,
                                   long_side=family.render_long_side, on_step=on_step)
            finished.append(Rendered(detailed.image, {**item.stages, **detailed.stages}))
        rendered = finished
    return rendered
