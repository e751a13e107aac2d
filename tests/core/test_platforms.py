import pytest

from core.platforms import (
    PLATFORM_RULES,
    Platform,
    hashtags_in,
    platform_target_size,
    text_as_posted,
    validate_content,
    weighted_length_x,
)

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


@pytest.mark.parametrize(
    ("platform", "limit"),
    [
        ("instagram", 2200),
        ("tiktok", 4000),
        ("x", 280),
        ("threads", 500),
        ("linkedin", 3000),
        ("facebook", 63206),
        ("pinterest", 500),
    ],
)
def test_caption_limit_boundary(platform, limit):
    assert check(platform, "a" * limit) == []
    errors = check(platform, "a" * (limit + 1))
    assert len(errors) == 1
    assert f"{limit:,}" in errors[0] and "1 too many" in errors[0]


def test_hashtags_count_towards_the_caption_length_with_a_joining_space():
    # 2,190 + " " + "#lisbon" (7) + " " + "#x" (2) = 2,201 on Instagram
    assert text_as_posted("a" * 2190, ["#lisbon", "#x"]) == "a" * 2190 + " #lisbon #x"
    assert check("instagram", "a" * 2189, ["#lisbon", "#x"]) == []
    assert "1 too many" in check("instagram", "a" * 2190, ["#lisbon", "#x"])[0]


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


def test_x_limit_uses_weighted_length():
    assert check("x", "日" * 140) == []
    assert "281" in check("x", "日" * 140 + "a")[0]
    url = "https://example.com/" + "long-path/" * 30
    caption = "a" * (280 - 24) + " " + url  # 256 + 1 + 23 = 280
    assert check("x", caption) == []
    assert check("x", caption + "!") != []
    # On code-point platforms the same emoji counts 1.
    assert check("threads", "😀" * 500) == []


def test_instagram_hashtag_cap_counts_caption_and_list_together():
    assert check("instagram", "Hi #one #two", ["#three", "#four", "#five"]) == []
    errors = check("instagram", "Hi #one #two", ["#three", "#four", "#five", "#six"])
    assert len(errors) == 1 and "at most 5 hashtags" in errors[0] and "this post has 6" in errors[0]


def test_threads_allows_one_topic_tag_and_duplicates_count_once():
    assert check("threads", "Coffee #Coffee", ["#coffee"]) == []
    assert "at most 1 hashtag per post" in check("threads", "Coffee", ["#coffee", "#paris"])[0]


def test_hashtags_in_ignores_html_entities_and_mid_word_hashes():
    assert hashtags_in("a#b &#39; #Real #real #ok_2") == ["#real", "#ok_2"]


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

