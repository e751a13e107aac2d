"""core.platforms: the platform table, X's weighted length and the image rules (caption and hashtag rules:
tests/core/test_captions.py)."""

import pytest

from core.captions import validate_content
from core.platforms import PLATFORM_RULES, Platform, images_problems, platform_target_size, weighted_length_x

# A size that every platform's ratio rule accepts is not possible (TikTok is 9:16 only), so each test
# picks an image that suits the platform under test.
GOOD_SIZE = {
    "instagram": (1080, 1350),
    "tiktok": (1080, 1920),
    "x": (1600, 900),
    "threads": (1080, 1350),
    "facebook": (1080, 1350),
    "linkedin": (1200, 1200),
    "pinterest": (1000, 1500),
}


def check(platform, caption="", hashtags=None, sizes=None):
    sizes = [GOOD_SIZE[platform]] if sizes is None else sizes
    return validate_content(platform=platform, caption=caption, hashtags=hashtags or [], image_sizes=sizes)


def test_every_platform_has_exactly_one_rule():
    assert set(PLATFORM_RULES) == set(Platform.values)


def test_x_weighting_latin_cjk_emoji_and_urls():
    assert weighted_length_x("hello") == 5
    assert weighted_length_x("日本語") == 6
    assert weighted_length_x("😀") == 2
    # A ZWJ family, a skin-toned thumb and a flag each count as one emoji.
    assert weighted_length_x("👨\u200d👩\u200d👧") == 2
    assert weighted_length_x("👍🏽") == 2
    assert weighted_length_x("🇫🇷") == 2
    # Curly quotes and the en dash are in the light ranges.
    assert weighted_length_x("“a” – b") == 7
    # Any URL counts 23, however long; trailing punctuation is not part of it.
    assert weighted_length_x("https://example.com/" + "x" * 200) == 23
    assert weighted_length_x("see https://t.co/a.") == len("see ") + 23 + 1
    assert weighted_length_x("visit example.com now") == len("visit ") + 23 + len(" now")


@pytest.mark.parametrize(
    ("platform", "maximum"),
    [
        ("instagram", 10),
        ("x", 4),
        ("tiktok", 35),
        ("threads", 20),
        ("facebook", 10),
        ("linkedin", 20),
        ("pinterest", 5),
    ],
)
def test_image_count_limits(platform, maximum):
    size = GOOD_SIZE[platform]
    assert check(platform, "hi", sizes=[size] * maximum) == []
    errors = check(platform, "hi", sizes=[size] * (maximum + 1))
    assert errors == [
        f"{PLATFORM_RULES[platform].label} allows at most {maximum} images per post; this post has {maximum + 1}."
    ]
    assert images_problems(platform=platform, image_sizes=[size] * (maximum + 1)) == errors
    assert "at least 1 image" in check(platform, "hi", sizes=[])[0]


def test_instagram_aspect_ratio_between_4_5_and_1_91():
    assert check("instagram", "hi", sizes=[(1080, 1350), (1080, 1080), (1910, 1000)]) == []
    errors = check("instagram", "hi", sizes=[(1080, 1350), (1080, 1920)])
    assert len(errors) == 1 and errors[0].startswith("Image 2 is 1080x1920") and "4:5 and 1.91:1" in errors[0]
    assert check("instagram", "hi", sizes=[(2000, 1000)]) != []


def test_tiktok_needs_9_16_with_a_small_tolerance():
    assert check("tiktok", "hi", sizes=[(1080, 1920), (1082, 1920)]) == []
    assert "9:16" in check("tiktok", "hi", sizes=[(1080, 1350)])[0]


def test_linkedin_ratio_range_and_permissive_platforms():
    assert check("linkedin", "hi", sizes=[(2400, 1000)]) == []
    assert check("linkedin", "hi", sizes=[(3000, 1000)]) != []
    assert check("x", "hi", sizes=[(3000, 500)]) == []
    assert check("pinterest", "hi", sizes=[(500, 3000)]) == []


def test_target_sizes_match_the_ratio_rules():
    assert platform_target_size("instagram") == (1080, 1350)
    assert platform_target_size("tiktok") == (1080, 1920)
    assert platform_target_size("x") == (1600, 900)
    for platform in Platform.values:
        assert check(platform, "hi", sizes=[platform_target_size(platform)]) == []
    with pytest.raises(ValueError, match="Unknown platform"):
        platform_target_size("myspace")

