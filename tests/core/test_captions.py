"""core.captions, the one home of caption, label and hashtag rules: the label table and the label a caption in a
language carries, hashtags, #ad and links, length and the platforms' caption caps (X weighted), and the rules every
caption is held to after the writer: label once in the caption's language, #ad and the paid-partnership flag, banned
words, must-include phrases, links, hashtag and length caps."""

from __future__ import annotations

import pytest

from core.captions import (
    BILINGUAL_LABEL_SEPARATOR,
    DEFAULT_LABELS,
    MAX_CAPTION_CHARS,
    CaptionBrief,
    CaptionRefused,
    caption_enforce,
    caption_length,
    caption_problems,
    caption_with_label,
    disclosure_label_compose,
    hashtag_clean,
    hashtags_in,
    hashtags_normalise,
    label_count,
    label_remove,
    label_table,
    label_table_needed,
    mentions_ad,
    text_as_posted,
    urls_in,
    urls_remove,
    validate_content,
)
from core.errors import ValidationFailed
from core.languages import LANGUAGES
from core.lookalikes import INVISIBLE_RE
from core.platforms import rule_for

LABEL = "AI-generated virtual influencer"


def brief(**kwargs) -> CaptionBrief:
    return CaptionBrief(**{"platform": "instagram", "scene": "coffee", "language": "en", "label": LABEL, **kwargs})


def check(platform, caption="", hashtags=None):
    """validate_content with an image that suits the platform: only the caption and hashtag rules can fail."""
    return validate_content(platform=platform, caption=caption, hashtags=hashtags or [],
                            image_sizes=[rule_for(platform).target_size])


# --- Disclosure labels ---------------------------------------------------------------------------------------


def test_every_language_has_a_label_and_workspaces_override_it():
    # Every language's templates exist too: tests/scheduler/captions/test_captions.py.
    assert set(DEFAULT_LABELS) == set(LANGUAGES)
    assert label_table({"de": "KI-erstellt", "xx": "nope", "es": " "})["de"] == "KI-erstellt"
    assert label_table({"es": " "})["es"] == "Generado con IA"


def test_labels_count_as_words_and_in_cjk_text():
    assert label_count("Bild KI-generiert. ki-generiert", "KI-generiert") == 2
    assert label_count("NICHTKI-generiert", "KI-generiert") == 0
    assert label_count("今日のカフェ。AI生成", "AI生成") == 1
    assert label_remove("Hello AI-generated virtual influencer world", LABEL) == "Hello world"


def test_a_label_that_only_looks_like_the_label_counts_and_goes():
    fakes = [
        "AI\u200b-generated virtual influencer",  # a zero-width space
        "\u0410I-generated virtual influencer",  # a Cyrillic А
        "ＡＩ－ｇｅｎｅｒａｔｅｄ virtual influencer",  # fullwidth
        "Al-generated virtual influencer",  # l for I
        "\u202eAI-generated virtual influencer\u202c",  # bidirectional controls
        "AI\u2011generated  virtual\u00a0influencer",  # a non-breaking hyphen and space
        "ai generated virtual influencer",
    ]
    for fake in fakes:
        assert label_count(f"Coffee. {fake}", LABEL) == 1, fake
        assert label_remove(f"Coffee. {fake} Run.", LABEL) == "Coffee. Run.", fake
        edited = caption_with_label(f"Coffee. {fake}", LABEL)  # a person's edit: the real label, once, visible
        assert label_count(edited, LABEL) == 1 and LABEL in edited, fake
        assert not INVISIBLE_RE.search(edited), fake
    assert label_count("Généré par IA, genere par ia", "Généré par IA") == 2
    assert label_count("MAI-generated", "AI-generated") == 0  # still a word of its own
    result = caption_enforce(text="Coffee first. AI-gеnerated virtual influencer", hashtags=[], brief=brief())
    assert result.caption == f"Coffee first.\n\n{LABEL}"
    assert "look-alike of the disclosure label replaced" in result.repairs


def test_the_label_of_a_caption_language_english_is_the_personas_own():
    workspace = {"de": "KI-erstellt"}
    assert disclosure_label_compose("en", persona_label=LABEL, workspace_labels=workspace) == LABEL
    assert disclosure_label_compose("xx", persona_label=LABEL, workspace_labels=None) == LABEL
    assert disclosure_label_compose("", persona_label=LABEL, workspace_labels=None) == LABEL
    assert disclosure_label_compose("de", persona_label=LABEL, workspace_labels=workspace) == "KI-erstellt"
    assert disclosure_label_compose("fr", persona_label=LABEL, workspace_labels=workspace) == "Généré par IA"
    assert disclosure_label_compose("de+en", persona_label=LABEL, workspace_labels=None) == (
        f"KI-generiert{BILINGUAL_LABEL_SEPARATOR}{LABEL}"
    )
    # Equal labels appear once.
    assert disclosure_label_compose("ja+zh", persona_label=LABEL, workspace_labels=None) == "AI生成"
    assert not label_table_needed("en") and not label_table_needed("xx") and not label_table_needed("")
    assert label_table_needed("de") and label_table_needed("en+de")


def test_caption_with_label_appends_it_once_and_refuses_megabytes():
    assert caption_with_label("  Coffee first. ", LABEL) == f"Coffee first.\n\n{LABEL}"
    assert caption_with_label(f"Coffee. {LABEL.upper()}", LABEL) == f"Coffee. {LABEL.upper()}"
    assert caption_with_label(None, LABEL) == LABEL
    assert caption_with_label("a" * MAX_CAPTION_CHARS, LABEL).endswith(LABEL)
    with pytest.raises(ValidationFailed, match="no platform allows more than"):
        caption_with_label("a" * (MAX_CAPTION_CHARS + 1), LABEL)


# --- Hashtags, #ad and links ---------------------------------------------------------------------------------


def test_hashtags_are_cleaned_and_normalised():
    assert hashtag_clean(" travel ") == "#travel" and hashtag_clean("#Travel") == "#Travel"
    assert hashtag_clean("two words") is None and hashtag_clean("#a-b") is None
    assert hashtags_normalise(None) == [] and hashtags_normalise("travel") == ["#travel"]
    assert hashtags_normalise(["travel", "#Travel ", "#coffee, ootd", ""]) == ["#travel", "#coffee", "#ootd"]
    with pytest.raises(ValidationFailed, match="'a-b' is not a valid hashtag"):
        hashtags_normalise(["ok", "a-b"])


def test_ad_tag_and_links():
    assert mentions_ad("New shoes #AD") and not mentions_ad("#adventure") and not mentions_ad("##ad")
    assert not mentions_ad(None)
    assert urls_in("see https://t.co/a. and example.com!") == ["https://t.co/a", "example.com"]
    assert urls_remove("Shop at https://example.com/x now.") == "Shop at now."


def test_hashtags_in_ignores_html_entities_and_mid_word_hashes():
    assert hashtags_in("a#b &#39; #Real #real #ok_2") == ["#real", "#ok_2"]


# --- Length and the platforms' caption caps ------------------------------------------------------------------


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
    assert caption_problems(platform=platform, caption="a" * (limit + 1), hashtags=None) == errors


def test_hashtags_count_towards_the_caption_length_with_a_joining_space():
    # 2,190 + " " + "#lisbon" (7) + " " + "#x" (2) = 2,201 on Instagram
    assert text_as_posted("a" * 2190, ["#lisbon", "#x"]) == "a" * 2190 + " #lisbon #x"
    assert check("instagram", "a" * 2189, ["#lisbon", "#x"]) == []
    assert "1 too many" in check("instagram", "a" * 2190, ["#lisbon", "#x"])[0]


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


# --- Enforcement ---------------------------------------------------------------------------------------------


def test_the_label_ends_the_caption_exactly_once():
    result = caption_enforce(text=f"{LABEL}\n\nCoffee first. {LABEL}", hashtags=[], brief=brief())
    assert result.caption == f"Coffee first.\n\n{LABEL}" and "disclosure label placed once" in result.repairs
    result = caption_enforce(text="Coffee first.", hashtags=[], brief=brief(language="ja", label="AI生成"))
    assert result.caption == "Coffee first.\n\nAI生成"


def test_sponsored_and_brand_mentions_get_ad_once():
    result = caption_enforce(text="New shoes! #ad", hashtags=["#run"], brief=brief(sponsored=True))
    assert result.paid_partnership and result.hashtags.count("#ad") == 1 and "#ad added" not in str(result.repairs)
    result = caption_enforce(text="My #stride shoes.", hashtags=[], brief=brief(brands=("Stride",)))
    assert result.paid_partnership and result.hashtags == ["#ad"]
    result = caption_enforce(text="Plain day.", hashtags=[], brief=brief(brands=("Stride",)))
    assert not result.paid_partnership and result.hashtags == []


def test_banned_words_refuse_and_must_include_is_added():
    with pytest.raises(CaptionRefused, match='banned word "crypto"'):
        caption_enforce(text="Into Crypto today", hashtags=[], brief=brief(banned_words=("crypto",)))
    with pytest.raises(CaptionRefused, match='banned word "crypto"'):
        caption_enforce(text="Hi", hashtags=["#crypto"], brief=brief(banned_words=("crypto",)))
    # A word that only contains a banned one is fine.
    caption_enforce(text="Cryptography class", hashtags=[], brief=brief(banned_words=("crypto",)))
    result = caption_enforce(text="Run day.", hashtags=[], brief=brief(must_include=("@stride",)))
    assert result.caption == f"Run day. @stride\n\n{LABEL}"


def test_links_are_removed_unless_allowed():
    text = "Shop at https://example.com/x now"
    assert "example.com" not in caption_enforce(text=text, hashtags=[], brief=brief()).caption
    assert "https://example.com/x" in caption_enforce(text=text, hashtags=[], brief=brief(urls_allowed=True)).caption


def test_hashtag_caps_keep_ad_and_the_label():
    tags = ["#one", "#two", "#three", "#four", "#five", "#six"]
    result = caption_enforce(text="Hi #inline", hashtags=tags, brief=brief(sponsored=True))
    assert len(hashtags_in(text_as_posted(result.caption, result.hashtags))) == 5 and result.hashtags[0] == "#ad"
    result = caption_enforce(text="Hi #inline #words here", hashtags=tags, brief=brief(platform="threads",
                                                                                        sponsored=True))
    assert hashtags_in(text_as_posted(result.caption, result.hashtags)) == ["#ad"]
    with pytest.raises(CaptionRefused, match="Threads allows 1"):
        caption_enforce(text="Hi", hashtags=[], brief=brief(platform="threads", label="#AI #virtual"))


def test_x_weighted_length_with_emoji_and_cjk():
    text = "走る🏃" * 200
    result = caption_enforce(text=text, hashtags=["#run"], brief=brief(platform="x", language="ja", label="AI生成"))
    assert caption_length("x", text_as_posted(result.caption, result.hashtags)) <= 280
    assert len(result.caption) < 280 and result.caption.endswith("AI生成")


def test_empty_or_label_only_replies_are_refused():
    for text in ("", "   ", f'"{LABEL}"', "```\n```"):
        with pytest.raises(CaptionRefused, match="no caption text"):
            caption_enforce(text=text, hashtags=[], brief=brief())
