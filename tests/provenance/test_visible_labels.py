"""Visible labels: China's explicit label (letters >= 5% of the shortest side) and the EU "AI" icon."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageOps

from bench.samples import sample_photo
from provenance.marks.visible_labels import (
    LabelDoesNotFit,
    cap_height,
    eu_icon_draw,
    explicit_label_draw,
    font_for_height,
)


@pytest.fixture(scope="module")
def photo() -> Image.Image:
    return ImageOps.fit(sample_photo("grace_hopper"), (1080, 1350))


def ink_rows(before: Image.Image, after: Image.Image, box) -> int:
    """Height of the changed pixels inside `box`."""
    diff = np.abs(np.asarray(after, dtype=int) - np.asarray(before, dtype=int)).sum(axis=2)[
        box[1] : box[3], box[0] : box[2]
    ]
    rows = np.nonzero(diff.max(axis=1) > 0)[0]
    return int(rows[-1] - rows[0] + 1) if rows.size else 0


@pytest.mark.parametrize("size", [(1080, 1350), (1600, 900), (400, 400)])
def test_explicit_label_letters_are_at_least_5_percent_of_the_shortest_side(size):
    image = ImageOps.fit(sample_photo("astronaut"), size)
    drawn = explicit_label_draw(image, text="AI-generated")
    assert drawn.text_height >= 0.05 * min(size)
    # Measured in the pixels: a capital-only label's ink is as tall as the height claimed.
    caps = explicit_label_draw(image, text="AI", position="top-right")
    left, top, right, bottom = caps.box
    white = np.asarray(caps.image.crop(caps.box).convert("L")) > 200
    text_rows = np.nonzero(white.any(axis=1))[0]
    assert text_rows[-1] - text_rows[0] + 1 >= 0.05 * min(size)
    assert right <= size[0] and bottom <= size[1] and left >= 0 and top >= 0


def test_explicit_label_position_and_fit(photo):
    drawn = explicit_label_draw(photo, position="top-right")
    left, top, right, _bottom = drawn.box
    assert top < photo.height // 4 and right > photo.width * 3 // 4
    assert ink_rows(photo, drawn.image, (0, photo.height // 2, photo.width, photo.height)) == 0  # bottom untouched
    with pytest.raises(LabelDoesNotFit, match="shorter label"):
        explicit_label_draw(photo, text="This image was generated entirely by artificial intelligence")
    with pytest.raises(ValueError, match="Position"):
        explicit_label_draw(photo, position="middle")


def test_font_for_height_is_the_smallest_that_reaches_it():
    font = font_for_height(54)
    assert cap_height(font) >= 54
    assert cap_height(font_for_height(54 - 8)) < cap_height(font)


@pytest.mark.parametrize(("background", "expected"), [("white", 0), ("black", 255)])
def test_eu_icon_auto_variant_contrasts_with_the_picture(background, expected):
    image = Image.new("RGB", (1080, 1350), background)
    drawn = eu_icon_draw(image, variant="auto")
    ink = np.asarray(drawn.image.crop(drawn.box).convert("L"))
    assert (ink == expected).any()


def test_eu_icon_variants_and_text(photo):
    solid = eu_icon_draw(photo, variant="black", text="AI-generated")
    half = eu_icon_draw(photo, variant="black-50", text="AI-generated")
    assert solid.box == half.box and solid.text_height >= 0.05 * 1080
    original = np.asarray(photo, dtype=int)
    change_solid = np.abs(np.asarray(solid.image, dtype=int) - original).sum()
    change_half = np.abs(np.asarray(half.image, dtype=int) - original).sum()
    assert 0.4 * change_solid < change_half < 0.6 * change_solid  # 50% opacity: half the change
    with pytest.raises(ValueError, match="variant"):
        eu_icon_draw(photo, variant="red")
