"""The engine's image-to-image stages with the tiny model on CPU: img2img strength, inpainting that keeps what is
outside the mask, hires to exactly a platform's size, the face detail pass, and byte-identical re-renders."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw
from skimage import data as skdata

from core.platforms import platform_target_size
from generation.engine import refine
from generation.engine.faces import face_boxes
from generation.engine.pipelines import EngineError, GenerationRequest, get_engine
from generation.engine.specs import png_bytes_with_parameters


def request(**overrides) -> GenerationRequest:
    fields = dict(prompt="photo of sks person", negative_prompt="blurry", seeds=[5], steps=4, guidance=6.5,
                  scheduler="dpmpp_2m_karras", width=64, height=80)
    return GenerationRequest(**{**fields, **overrides})


def pixels(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("RGB"), dtype=np.int16)


def photo(size=(64, 80)) -> Image.Image:
    return Image.fromarray(skdata.astronaut()).resize(size, Image.Resampling.LANCZOS)


def test_refine_size_rounds_up_to_multiples_of_8_within_the_family_limit():
    assert refine.refine_size((1080, 1350), long_side_max=1600) == (1080, 1352)
    assert refine.refine_size((1600, 900), long_side_max=1600) == (1600, 904)
    assert refine.refine_size((1080, 1350), long_side_max=160) == (128, 160)
    assert refine.fit_exact(Image.new("RGB", (1080, 1352)), (1080, 1350)).size == (1080, 1350)
    same = Image.new("RGB", (1080, 1350))
    assert refine.fit_exact(same, (1080, 1350)) is same


def test_steps_for_strength_always_denoises_at_least_one_step():
    assert refine.steps_for_strength(25, 0.35) == 25
    assert refine.steps_for_strength(4, 0.1) == 10
    assert int(refine.steps_for_strength(4, 0.1) * 0.1) >= 1
    with pytest.raises(EngineError, match="Strength"):
        refine.steps_for_strength(4, 0)


def test_feathered_mask_never_reaches_outside_the_mask():
    mask = Image.new("L", (40, 40), 0)
    ImageDraw.Draw(mask).rectangle((10, 10, 29, 29), fill=255)
    soft = np.asarray(refine.feathered(mask))
    assert soft[:10].max() == 0 and soft[:, 30:].max() == 0
    assert soft[20, 20] == 255 and 0 < soft[10, 20] < 255


@pytest.mark.slow
def test_img2img_changes_the_image_less_as_the_strength_falls():
    engine = get_engine()
    init = photo()
    distances = {}
    for strength in (1.0, 0.6, 0.3, 0.1):
        req = request(mode="img2img", init_image=init, strength=strength, seeds=[7], steps=20)
        out = engine.render_batch([req])[0][0]
        assert out.image.size == (64, 80) and out.stages == {"img2img": {"strength": strength}}
        distances[strength] = float(np.abs(pixels(out.image) - pixels(init)).mean())
    # 20 steps: strength 0.1 denoises 2 of them (with few steps every low strength starts at the same, last one).
    assert distances[1.0] > distances[0.6] > distances[0.3] > distances[0.1]
    assert distances[0.1] < distances[1.0] / 2


@pytest.mark.slow
def test_img2img_needs_an_init_image_and_a_strength_in_range():
    engine = get_engine()
    with pytest.raises(EngineError, match="init image"):
        engine.generate(request(mode="img2img"))
    with pytest.raises(EngineError, match="strength"):
        engine.generate(request(mode="img2img", init_image=photo(), strength=1.5))


@pytest.mark.slow
def test_inpainting_keeps_pixels_outside_the_mask_and_changes_those_inside():
    engine = get_engine()
    init = photo((160, 200))
    mask = Image.new("L", init.size, 0)
    ImageDraw.Draw(mask).rectangle((40, 50, 119, 129), fill=255)
    rendered = engine.render_batch([request(mode="inpaint", init_image=init, mask=mask, strength=1.0, seeds=[3, 4])])
    first, second = rendered[0]
    inside = np.asarray(mask) == 255
    for out in (first, second):
        assert out.image.size == init.size
        diff = np.abs(pixels(out.image) - pixels(init)).max(axis=2)
        assert diff[~inside].max() == 0  # tolerance 0: outside the mask the input's pixels are pasted back
        assert diff[inside].mean() > 10
        stage = out.stages["inpaint"]
        assert stage["unet"] == "masked-latent blending" and stage["strength"] == 1.0
    assert not np.array_equal(pixels(first.image), pixels(second.image))  # one variant per seed


@pytest.mark.slow
def test_inpainting_refuses_an_empty_or_mis_sized_mask():
    engine = get_engine()
    init = photo()
    with pytest.raises(EngineError, match="nothing to repaint"):
        engine.generate(request(mode="inpaint", init_image=init, mask=Image.new("L", init.size, 0)))
    with pytest.raises(EngineError, match="mask is"):
        engine.generate(request(mode="inpaint", init_image=init, mask=Image.new("L", (8, 8), 255)))


@pytest.mark.slow
def test_hires_gives_exactly_the_platform_size_and_reproduces_byte_for_byte():
    engine = get_engine()
    target = platform_target_size("instagram")
    req = request(seeds=[11], output_size=target)
    first = engine.render_batch([req])[0]
    again = engine.render_batch([req])[0]
    assert [r.image.size for r in first] == [target]
    stage = first[0].stages["hires"]
    assert (stage["width"], stage["height"]) == target and stage["strength"] == 0.35
    assert (stage["refine_width"], stage["refine_height"]) == (128, 160)  # the tiny family's 2x-native cap
    # The export's fit to the platform size is then the identity: no resize.
    assert refine.fit_exact(first[0].image, target) is first[0].image
    record = {"prompt": "p", "seed": 11, "steps": 4, "width": target[0], "height": target[1]}
    assert png_bytes_with_parameters(first[0].image, record=record) == png_bytes_with_parameters(again[0].image,
                                                                                                  record=record)
    native = engine.generate(request(seeds=[11]))[0]
    assert native.size == (64, 80)


@pytest.mark.slow
def test_face_detail_leaves_an_image_without_a_face_untouched():
    engine = get_engine()
    plain = engine.render_batch([request(seeds=[21])])[0][0].image
    detailed = engine.render_batch([request(seeds=[21], face_detail=True)])[0][0]
    assert detailed.stages["face_detail"]["faces"] == 0
    assert np.array_equal(pixels(detailed.image), pixels(plain))


@pytest.mark.slow
def test_face_detail_re_renders_the_face_and_nothing_else():
    engine = get_engine()
    astronaut = Image.fromarray(skdata.astronaut())  # 512x512: her face (and a face-like patch on the suit)
    faces = face_boxes(astronaut)
    assert faces and faces[0][1] < 200  # the largest first: hers
    req = request(seeds=[9], face_detail=True)
    out = refine.face_detail(
        refine.pipeline_view(engine.pipe, "img2img", scheduler=_scheduler(engine), is_sdxl=False),
        request=req, image=astronaut, seed=9, long_side=engine.family.render_long_side,
    )
    stage = out.stages["face_detail"]
    assert stage["faces"] == len(faces) and stage["detector"] == "dlib-hog"
    diff = np.abs(pixels(out.image) - pixels(astronaut)).max(axis=2)
    outside = np.ones_like(diff, dtype=bool)
    for left, top, right, bottom in stage["boxes"]:
        outside[top:bottom, left:right] = False
    assert diff[outside].max() == 0
    assert diff[~outside].mean() > 5


def _scheduler(engine):
    from generation.engine.pipelines import make_scheduler

    return make_scheduler("dpmpp_2m_karras", engine.pipe.scheduler.config)
