from __future__ import annotations

import pytest

from core.captions import caption_length, hashtags_in, text_as_posted, validate_content
from core.languages import LANGUAGES
from core.platforms import PLATFORM_RULES
from scheduler.captions import caption_draft, tone_for_voice, topic_for_scene
from scheduler.captions.localized import LOCALIZED, PLAYFUL_OPENERS, QUESTIONS
from tests.factories import PersonaFactory


def test_every_label_language_has_templates():
    assert set(LOCALIZED) | {"en"} == set(LANGUAGES) == set(QUESTIONS) == set(PLAYFUL_OPENERS)


def test_tone_and_topic_detection():
    assert tone_for_voice("warm, playful, short sentences, playful emoji") == "playful"
    assert tone_for_voice("Polished and professional") == "polished"
    assert tone_for_voice("") == "warm"
    assert topic_for_scene("Drinking an espresso at the corner café") == "coffee"
    assert topic_for_scene("sunset over the harbour") in {"travel", "night"}
    assert topic_for_scene("reading a book") == ""


@pytest.mark.django_db
def test_caption_is_deterministic_for_a_seed_and_varies_across_seeds():
    persona = PersonaFactory()
    drafts = [caption_draft(persona=persona, scene="coffee at a cafe terrace", platform="instagram", seed=s)
              for s in range(12)]
    again = caption_draft(persona=persona, scene="coffee at a cafe terrace", platform="instagram", seed=3)
    assert again == drafts[3]
    assert len({d.caption for d in drafts}) > 1


@pytest.mark.django_db
@pytest.mark.parametrize("platform", list(PLATFORM_RULES))
def test_caption_has_scene_label_and_fits_the_platform(platform):
    persona = PersonaFactory(
        voice="playful", disclosure_label="AI-generated virtual influencer #AI",
        default_hashtags=["#virtualinfluencer", "mira", "#coffee lover", "#ootd", "#travel", "#fun"],
    )
    draft = caption_draft(persona=persona, scene="Drinking coffee at a cafe terrace #sponsored", platform=platform,
                          seed=7)
    assert "AI-generated virtual influencer #AI" in draft.caption
    assert "coffee at a cafe terrace" in draft.caption.lower()
    assert "#sponsored" not in draft.caption  # scene text never adds hashtags
    assert all(tag.startswith("#") and " " not in tag for tag in draft.hashtags)
    assert validate_content(platform=platform, caption=draft.caption, hashtags=draft.hashtags,
                            image_sizes=[PLATFORM_RULES[platform].target_size]) == []
    rule = PLATFORM_RULES[platform]
    if rule.hashtags_max is not None:
        assert len(hashtags_in(text_as_posted(draft.caption, draft.hashtags))) <= rule.hashtags_max


@pytest.mark.django_db
def test_long_scene_is_shortened_for_x_but_keeps_the_label():
    persona = PersonaFactory()
    scene = "walking through the old town " * 40
    draft = caption_draft(persona=persona, scene=scene, platform="x", seed=1)
    assert caption_length("x", text_as_posted(draft.caption, draft.hashtags)) <= 280
    assert draft.caption.endswith(persona.disclosure_label)
    assert "…" in draft.caption


@pytest.mark.django_db
def test_default_hashtags_and_topic_tags_are_deduplicated():
    persona = PersonaFactory(default_hashtags=["#Coffee", "#mira"])
    draft = caption_draft(persona=persona, scene="latte art", platform="tiktok", seed=2)
    assert draft.hashtags == ["#Coffee", "#mira", "#cafelife"]
