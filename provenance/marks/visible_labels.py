"""Visible AI labels drawn into the pixels: China's explicit label and the EU "AI" icon.

Explicit label (GB 45438-2025, images): a text label whose characters are at least 5% of the image's
shortest side tall. The height measured is the capital-letter height of the font, the smallest part of
the text a reader sees, so every glyph is at least that tall. Pillow's bundled font has Latin glyphs only;
a label in Chinese needs a CJK font file (font_path).

EU icon: the Code of Practice on marking and labelling AI-generated content (June 2026) offers an "AI"
icon in four variations (black, white, and both at 50% opacity), best shown with a short text label. The
official artwork is not bundled here: this draws the same idea (the letters "AI" in a rounded square) so a
workspace can use the style now; "auto" picks black or white from the picture under it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from PIL import Image, ImageDraw, ImageFont, ImageStat

from core.constants import BadgePosition

EXPLICIT_MIN_HEIGHT = 0.05  # of the shortest side
ICON_VARIANTS = ("auto", "black", "white", "black-50", "white-50")
ICON_SIDE = 0.09  # of the shortest side: the letters inside stay above the 5% height too
_CAPS_SAMPLE = "AIHE"


class LabelDoesNotFit(ValueError):
    """The label cannot be drawn at the required size inside the image."""


def _font(size: int, font_path: str | None) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    if font_path:
        return ImageFont.truetype(font_path, size)
    return ImageFont.load_default(size=size)


def cap_height(font: ImageFont.FreeTypeFont | ImageFont.ImageFont) -> int:
    """Ink height of capital letters in `font`, in pixels."""
    left, top, right, bottom = font.getbbox(_CAPS_SAMPLE)
    return bottom - top


def font_for_height(min_height: int, font_path: str | None = None) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """The smallest font whose capital letters are at least `min_height` px tall."""
    size = max(4, min_height)
    font = _font(size, font_path)
    while cap_height(font) < min_height:
        size += max(1, math.ceil((min_height - cap_height(font)) * size / max(cap_height(font), 1)))
        font = _font(size, font_path)
    return font


def _corner(position: str, image_size: tuple[int, int], box: tuple[int, int], margin: int) -> tuple[int, int]:
    if position not in BadgePosition.values:
        raise ValueError(f"Position '{position}' is not one of: {', '.join(BadgePosition.values)}.")
    width, height = image_size
    x = margin if position.endswith("left") else width - margin - box[0]
    y = margin if position.startswith("top") else height - margin - box[1]
    return x, y


@dataclass(frozen=True)
class DrawnLabel:
    image: Image.Image
    box: tuple[int, int, int, int]  # where the label went: left, top, right, bottom
    text_height: int  # capital-letter height used, px


def explicit_label_draw(
    image: Image.Image,
    *,
    text: str = "AI-generated",
    position: str = BadgePosition.BOTTOM_LEFT,
    font_path: str | None = None,
) -> DrawnLabel:
    """White text on a 75%-black pill, its capitals at least 5% of the shortest side tall."""
    if not text.strip():
        raise ValueError("Label text cannot be empty.")
    width, height = image.size
    min_height = math.ceil(EXPLICIT_MIN_HEIGHT * min(width, height))
    font = font_for_height(min_height, font_path)
    caps = cap_height(font)
    overlay = Image.new("RGBA", image.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(overlay)
    left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
    pad_x, pad_y = round(caps * 0.5), round(caps * 0.35)
    pill = ((right - left) + 2 * pad_x, (bottom - top) + 2 * pad_y)
    margin = round(min(width, height) * 0.025)
    if pill[0] + 2 * margin > width or pill[1] + 2 * margin > height:
        raise LabelDoesNotFit(
            f"'{text}' at {min_height} px letters is {pill[0]} px wide; the image is {width} px wide. "
            "Use a shorter label."
        )
    x0, y0 = _corner(position, image.size, pill, margin)
    box = (x0, y0, x0 + pill[0], y0 + pill[1])
    draw.rounded_rectangle(box, radius=pill[1] // 2, fill=(0, 0, 0, 191))
    draw.text((x0 + pad_x - left, y0 + pad_y - top), text, font=font, fill=(255, 255, 255, 255))
    out = Image.alpha_composite(image.convert("RGBA"), overlay).convert("RGB")
    return DrawnLabel(image=out, box=box, text_height=caps)


def _icon_colour(image: Image.Image, box: tuple[int, int, int, int], variant: str) -> tuple[int, int, int, int]:
    if variant not in ICON_VARIANTS:
        raise ValueError(f"Icon variant '{variant}' is not one of: {', '.join(ICON_VARIANTS)}.")
    if variant == "auto":
        luminance = ImageStat.Stat(image.convert("L").crop(box)).mean[0]
        variant = "black" if luminance >= 128 else "white"
    shade = 0 if variant.startswith("black") else 255
    alpha = 128 if variant.endswith("-50") else 255
    return (shade, shade, shade, alpha)


def eu_icon_draw(
    image: Image.Image,
    *,
    position: str = BadgePosition.TOP_RIGHT,
    variant: str = "auto",
    text: str = "",
    font_path: str | None = None,
) -> DrawnLabel:
    """The "AI" icon in a corner, optionally followed by a short text label in the same colour."""
    width, height = image.size
    shortest = min(width, height)
    side = max(24, round(ICON_SIDE * shortest))
    stroke = max(2, round(side * 0.07))
    letters = font_for_height(math.ceil(side * 0.55) - 2 * stroke, font_path)
    label_font = font_for_height(math.ceil(EXPLICIT_MIN_HEIGHT * shortest), font_path) if text else None
    gap = round(side * 0.25)
    label_width = 0
    if label_font is not None:
        text_left, _top, text_right, _bottom = label_font.getbbox(text)
        label_width = gap + (text_right - text_left)
    margin = round(shortest * 0.025)
    total = (side + label_width, side)
    if total[0] + 2 * margin > width:
        raise LabelDoesNotFit(f"The icon with '{text}' does not fit a {width} px wide image.")
    x0, y0 = _corner(position, image.size, total, margin)
    colour = _icon_colour(image, (x0, y0, x0 + total[0], y0 + total[1]), variant)

    overlay = Image.new("RGBA", image.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(overlay)
    draw.rounded_rectangle((x0, y0, x0 + side, y0 + side), radius=round(side * 0.22), outline=colour, width=stroke)
    left, top, right, bottom = draw.textbbox((0, 0), "AI", font=letters)
    draw.text(
        (x0 + (side - (right - left)) / 2 - left, y0 + (side - (bottom - top)) / 2 - top),
        "AI",
        font=letters,
        fill=colour,
        stroke_width=max(1, stroke // 3),
        stroke_fill=colour,
    )
    if label_font is not None:
        left, top, right, bottom = draw.textbbox((0, 0), text, font=label_font)
        draw.text((x0 + side + gap - left, y0 + (side - (bottom - top)) / 2 - top), text, font=label_font, fill=colour)
    out = Image.alpha_composite(image.convert("RGBA"), overlay).convert("RGB")
    caps = cap_height(label_font) if label_font is not None else cap_height(letters)
    return DrawnLabel(image=out, box=(x0, y0, x0 + total[0], y0 + total[1]), text_height=caps)
