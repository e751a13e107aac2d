"""Per-platform publishing rules, in one table. Checked at review (submit/approve) and at schedule time.

This module owns the table, X's weighted length and the image rules; the caption and hashtag rules that read the
table live in core.captions (which imports this module, never the other way round).

Numbers are the platforms' documented limits for organic posts published through their APIs (as of 2026);
where a platform documents a soft recommendation and a hard limit, the hard limit is used.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from django.db import models


class Platform(models.TextChoices):
    INSTAGRAM = "instagram", "Instagram"
    TIKTOK = "tiktok", "TikTok"
    X = "x", "X"
    THREADS = "threads", "Threads"
    FACEBOOK = "facebook", "Facebook"
    LINKEDIN = "linkedin", "LinkedIn"
    PINTEREST = "pinterest", "Pinterest"


@dataclass(frozen=True)
class PlatformRule:
    label: str
    caption_max: int
    # None: the platform documents no cap we need to enforce.
    hashtags_max: int | None
    images_min: int
    images_max: int
    # Width / height bounds. None: no documented bound the product enforces.
    aspect_min: float | None
    aspect_max: float | None
    target_size: tuple[int, int]
    # X counts characters with twitter-text weighting; everything else counts code points.
    weighted: bool = False
    aspect_label: str = ""
    # The image files a platform's publishing API fetches: largest size in bytes and the formats it takes (PIL's
    # names). None: no documented limit the product enforces.
    image_bytes_max: int | None = None
    image_formats: tuple[str, ...] | None = None


# Small tolerance on ratio bounds: real exports are off by a pixel or two after resizing.
ASPECT_TOLERANCE = 0.01

PLATFORM_RULES: dict[str, PlatformRule] = {
    # Caption 2,200; hashtags capped at 5 per post since December 2025; the content-publishing API takes
    # carousels of up to 10 items; feed images must be between 4:5 (portrait) and 1.91:1 (landscape).
    Platform.INSTAGRAM: PlatformRule(
        label="Instagram",
        caption_max=2200,
        hashtags_max=5,
        images_min=1,
        images_max=10,
        aspect_min=4 / 5,
        aspect_max=1.91,
        target_size=(1080, 1350),
        aspect_label="between 4:5 and 1.91:1",
        # Content Publishing API: JPEG only, 8 MB at most.
        image_bytes_max=8 * 1024 * 1024,
        image_formats=("JPEG",),
    ),
    # Photo-mode description 4,000; photo posts take up to 35 images; full-screen 9:16.
    Platform.TIKTOK: PlatformRule(
        label="TikTok",
        caption_max=4000,
        hashtags_max=None,
        images_min=1,
        images_max=35,
        aspect_min=9 / 16,
        aspect_max=9 / 16,
        target_size=(1080, 1920),
        aspect_label="9:16",
    ),
    # 280 weighted characters (URLs count 23, CJK and emoji count 2); at most 4 images; any ratio.
    Platform.X: PlatformRule(
        label="X",
        caption_max=280,
        hashtags_max=None,
        images_min=1,
        images_max=4,
        aspect_min=None,
        aspect_max=None,
        target_size=(1600, 900),
        weighted=True,
    ),
    # 500 characters; one topic tag per post; carousels of up to 20 items; ratios up to 10:1 either way.
    Platform.THREADS: PlatformRule(
        label="Threads",
        caption_max=500,
        hashtags_max=1,
        images_min=1,
        images_max=20,
        aspect_min=1 / 10,
        aspect_max=10,
        target_size=(1080, 1350),
        aspect_label="between 1:10 and 10:1",
        # Threads API: JPEG or PNG, 8 MB at most.
        image_bytes_max=8 * 1024 * 1024,
        image_formats=("JPEG", "PNG"),
    ),
    # 63,206 characters; the product publishes at most 10 photos per Page post (multi-photo post cap
    # used by the scheduling tools we benchmark against); any ratio.
    Platform.FACEBOOK: PlatformRule(
        label="Facebook",
        caption_max=63206,
        hashtags_max=None,
        images_min=1,
        images_max=10,
        aspect_min=None,
        aspect_max=None,
        target_size=(1080, 1350),
    ),
    # Commentary 3,000; multi-image posts take up to 20 images; images between 1:2.4 and 2.4:1.
    Platform.LINKEDIN: PlatformRule(
        label="LinkedIn",
        caption_max=3000,
        hashtags_max=None,
        images_min=1,
        images_max=20,
        aspect_min=1 / 2.4,
        aspect_max=2.4,
        target_size=(1200, 1200),
        aspect_label="between 1:2.4 and 2.4:1",
    ),
    # Pin description 500. A standard Pin has one image; the API's carousel Pins take 2 to 5 images,
    # so 5 is the documented maximum. Pinterest recommends 2:3 but accepts any ratio.
    Platform.PINTEREST: PlatformRule(
        label="Pinterest",
        caption_max=500,
        hashtags_max=None,
        images_min=1,
        images_max=5,
        aspect_min=None,
        aspect_max=None,
        target_size=(1000, 1500),
    ),
}


def rule_for(platform: str) -> PlatformRule:
    try:
        return PLATFORM_RULES[platform]
    except KeyError:
        names = ", ".join(PLATFORM_RULES)
        raise ValueError(f"Unknown platform '{platform}'; choose one of: {names}.") from None


def platform_target_size(platform: str) -> tuple[int, int]:
    """The (width, height) generation should render for this platform."""
    return rule_for(platform).target_size


# --- X (twitter-text v3) weighting -----------------------------------------------------------------

# Code point ranges that weigh 1 (100 of scale 100); everything else weighs 2.
_X_LIGHT_RANGES = ((0x0000, 0x10FF), (0x2000, 0x200D), (0x2010, 0x201F), (0x2032, 0x2037))
X_URL_WEIGHT = 23
# URLs with a scheme or www., plus bare domains on common TLDs (twitter-text links those too). core.captions
# finds and removes a caption's links with the same pattern.
URL_RE = re.compile(
    r"(?:https?://|www\.)[^\s<>\"]+"
    r"|(?<![\w@.])(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)+(?:com|net|org|io|co|ai|app|dev|me|ly|tv|fr|de|uk|es|it)"
    r"(?:/[^\s<>\"]*)?(?![\w])",
    re.IGNORECASE,
)
URL_TRAILING = ".,!?;:)'\""


def _is_light(cp: int) -> bool:
    return any(lo <= cp <= hi for lo, hi in _X_LIGHT_RANGES)


def _is_emoji_modifier(cp: int) -> bool:
    # Variation selectors, skin tones, keycap, tag characters: part of the preceding emoji.
    return cp in (0xFE0E, 0xFE0F, 0x20E3) or 0x1F3FB <= cp <= 0x1F3FF or 0xE0020 <= cp <= 0xE007F


def _is_regional_indicator(cp: int) -> bool:
    return 0x1F1E6 <= cp <= 0x1F1FF


def _weigh_plain(text: str) -> int:
    """Weight of text without URLs. An emoji sequence (ZWJ family, skin tone, flag) counts once, as 2."""
    if not text or max(text) <= "\u10ff":  # only light code points, none an emoji modifier: one each
        return len(text)
    weight = 0
    chars = [ord(c) for c in text]
    i = 0
    while i < len(chars):
        cp = chars[i]
        if _is_light(cp) and not (i + 1 < len(chars) and _is_emoji_modifier(chars[i + 1])):
            weight += 1
            i += 1
            continue
        # Heavy code point, or a light one turned emoji by a modifier (keycap 1️⃣, ©️).
        weight += 2
        i += 1
        if _is_regional_indicator(cp) and i < len(chars) and _is_regional_indicator(chars[i]):
            i += 1  # a flag is a pair of regional indicators
            continue
        # Swallow modifiers and ZWJ-joined parts of the same emoji sequence.
        while i < len(chars):
            if _is_emoji_modifier(chars[i]):
                i += 1
            elif chars[i] == 0x200D and i + 1 < len(chars):
                i += 2
            else:
                break
    return weight


def weighted_length_x(text: str) -> int:
    """Length of `text` as X counts it: twitter-text v3 weights, every URL 23, NFC-normalised."""
    text = unicodedata.normalize("NFC", text)
    total = 0
    pos = 0
    for match in URL_RE.finditer(text):
        url = match.group(0)
        stripped = url.rstrip(URL_TRAILING)
        total += _weigh_plain(text[pos : match.start()]) + X_URL_WEIGHT
        # Trailing punctuation is not part of the link.
        total += _weigh_plain(url[len(stripped) :])
        pos = match.end()
    return total + _weigh_plain(text[pos:])


# --- Images ----------------------------------------------------------------------------------------

def _ratio_text(width: int, height: int) -> str:
    return f"{width}x{height} ({width / height:.2f}:1)"


def images_problems(*, platform: str, image_sizes: list[tuple[int, int]]) -> list[str]:
    """Every image rule `platform` would break with images of these (width, height) sizes, as messages."""
    rule = rule_for(platform)
    errors: list[str] = []
    count = len(image_sizes)
    if count < rule.images_min:
        errors.append(f"{rule.label} posts need at least {rule.images_min} image; this post has none.")
    elif count > rule.images_max:
        errors.append(f"{rule.label} allows at most {rule.images_max} images per post; this post has {count}.")

    if rule.aspect_min is not None and rule.aspect_max is not None:
        for position, (width, height) in enumerate(image_sizes, start=1):
            if not width or not height:
                errors.append(f"Image {position} has no known size.")
                continue
            ratio = width / height
            low = rule.aspect_min * (1 - ASPECT_TOLERANCE)
            high = rule.aspect_max * (1 + ASPECT_TOLERANCE)
            if not low <= ratio <= high:
                errors.append(
                    f"Image {position} is {_ratio_text(width, height)}; {rule.label} needs an aspect ratio "
                    f"{rule.aspect_label}."
                )
    return errors



def _megabytes(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MB"


def image_files_problems(*, platform: str, files: list[tuple[int, str]]) -> list[str]:
    """Every file rule `platform` would break with image files of these (size in bytes, PIL format), as messages."""
    rule = rule_for(platform)
    errors: list[str] = []
    for position, (size, fmt) in enumerate(files, start=1):
        if rule.image_bytes_max is not None and size > rule.image_bytes_max:
            errors.append(f"Image {position} is {_megabytes(size)}; {rule.label} takes image files of at most "
                          f"{_megabytes(rule.image_bytes_max)}.")
        if rule.image_formats is not None and fmt not in rule.image_formats:
            errors.append(f"Image {position} is a {fmt or 'unknown'} file; {rule.label} takes "
                          f"{' or '.join(rule.image_formats)} only.")
    return errors
