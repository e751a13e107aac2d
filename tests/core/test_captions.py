"""The rules every caption is held to after the writer: label once in the caption's language, #ad and the
paid-partnership flag, banned words, must-include phrases, links, hashtag and length caps (X weighted)."""

from __future__ import annotations

import pytest

from core.captions import CaptionBrief, CaptionRefused, caption_enforce
from core.languages import LANGUAGES, label_count, label_remove, label_table
from core.platforms import caption_length, hashtags_in, text_as_posted
from scheduler.captions.localized import LOCALIZED, PLAYFUL_OPENERS, QUESTIONS

LABEL = "AI-generated virtual influencer"


def brief(**kwargs) -> CaptionBrief:
    return CaptionBrief(**{"platform": "instagram", "scene": "coffee", "language": "en", "label": LABEL, **kwargs})


def test_every_label_language_has_templates():
    assert set(LOCALIZED) | {"en"} == set(LANGUAGES) == set(QUESTIONS) == set(PLAYFUL_OPENERS)
    assert label_table({"de": "KI-erstellt", "xx": "nope", "es": " "})["de"] == "KI-erstellt"
    assert label_table({"es": " "})["es"] == "Generado con IA"


def test_labels_count_as_words_and_in_cjk_text():
    assert label_count("Bild KI-generiert. ki-generiert", "KI-generiert") == 2
    assert label_count("NICHTKI-generiert", "KI-generiert") == 0
    assert label_count("今日のカフェ。AI生成", "AI生成") == 1
    assert label_remove("Hello AI-generated virtual influencer world", LABEL) == "Hello world"


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
