"""The template caption writer: the default, needing no model or service.

A caption is chosen among a few templates for the persona's tone (read from `Persona.voice`) and a topic line
for the scene (read from the scene's words). The choice is keyed by the job's seed, so the same job always
drafts the same caption. The AI-disclosure label always closes the caption, and the whole text (caption plus
hashtags) is kept inside the platform's caption-length and hashtag caps.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass

from core.captions import caption_length, hashtags_in, text_as_posted
from core.platforms import rule_for
from personas.models import Persona
from personas.selectors import disclosure_label_for
from scheduler.captions.localized import localized_templates, localized_topic_lines

# Tone families and the voice words that select them, most specific first.
TONE_KEYWORDS: dict[str, tuple[str, ...]] = {
    "playful": ("playful", "fun", "cheeky", "witty", "bubbly", "energetic", "silly", "quirky", "emoji"),
    "polished": ("professional", "polished", "elegant", "luxury", "sophisticated", "expert", "formal", "refined"),
    "minimal": ("minimal", "calm", "quiet", "understated", "zen", "serene", "laconic", "dry"),
    "warm": ("warm", "friendly", "cozy", "kind", "caring", "gentle", "sincere"),
}
DEFAULT_TONE = "warm"

TEMPLATES: dict[str, tuple[str, ...]] = {
    "playful": (
        "Plot twist: {scene}! {topic}",
        "Current status: {scene}. {topic}",
        "Nobody asked, but here I am {scene_lower}. {topic}",
        "{scene}. Yes, again. {topic}",
    ),
    "polished": (
        "{scene}. {topic}",
        "A study in detail: {scene_lower}. {topic}",
        "Today's edit: {scene_lower}. {topic}",
    ),
    "minimal": (
        "{scene}.",
        "{scene}. {topic}",
        "Just this: {scene_lower}.",
    ),
    "warm": (
        "{scene}. {topic}",
        "Little moments like this: {scene_lower}. {topic}",
        "Sharing a bit of my day: {scene_lower}. {topic}",
        "Hope your day feels like this one: {scene_lower}. {topic}",
    ),
}

# Topic: the scene words that select it, one-line follow-ups and topic hashtags.
TOPICS: dict[str, tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]] = {
    "coffee": (
        ("coffee", "cafe", "café", "latte", "espresso", "cappuccino", "tea", "bakery"),
        ("Fuelled by caffeine and good ideas.", "Slow mornings are underrated.", "Same order, every time."),
        ("#coffee", "#cafelife"),
    ),
    "travel": (
        ("beach", "city", "street", "travel", "trip", "mountain", "sea", "ocean", "airport", "harbour", "rooftop"),
        ("Collecting places, not things.", "Where should I go next?", "Postcard energy."),
        ("#travel", "#wanderlust"),
    ),
    "fitness": (
        ("gym", "run", "running", "yoga", "workout", "hike", "hiking", "pilates", "bike", "cycling", "swim"),
        ("Consistency over intensity.", "Showing up is the hard part.", "Earned the rest day."),
        ("#fitness", "#wellness"),
    ),
    "food": (
        ("dinner", "brunch", "lunch", "breakfast", "restaurant", "food", "cooking", "kitchen", "pasta", "market"),
        ("Good food, good mood.", "Recipe in the comments?", "Eat first, post later."),
        ("#foodie", "#brunch"),
    ),
    "fashion": (
        ("outfit", "dress", "fashion", "style", "jacket", "sneakers", "boutique", "look", "wearing"),
        ("Outfit details on request.", "Dressing for the mood, not the weather.", "New favourite look."),
        ("#ootd", "#style"),
    ),
    "night": (
        ("night", "neon", "party", "concert", "club", "sunset", "evening", "stars"),
        ("The city looks better after dark.", "Golden hour, then blue hour.", "Stayed out a little too late."),
        ("#nightlife", "#goldenhour"),
    ),
}
DEFAULT_TOPIC_LINES = ("Moments worth keeping.", "More soon.", "Saving this one.")


@dataclass(frozen=True)
class CaptionDraft:
    caption: str
    hashtags: list[str]
    tone: str
    topic: str


def tone_for_voice(voice: str) -> str:
    """The tone family whose words appear most in the persona's voice description."""
    words = re.findall(r"[a-z]+", (voice or "").lower())
    best, best_hits = DEFAULT_TONE, 0
    for tone, keywords in TONE_KEYWORDS.items():
        hits = sum(1 for word in words if word in keywords)
        if hits > best_hits:
            best, best_hits = tone, hits
    return best


def topic_for_scene(scene: str) -> str:
    words = set(re.findall(r"[\wé]+", (scene or "").lower()))
    for topic, (keywords, _lines, _tags) in TOPICS.items():
        if words.intersection(keywords):
            return topic
    return ""


def _clean_scene(scene: str) -> str:
    # No hashtags or line breaks from the scene text: they would count against the platform caps.
    text = re.sub(r"\s+", " ", (scene or "").replace("#", "")).strip().rstrip(".!?,;: ")
    return text[:1].upper() + text[1:] if text else "A new day"


def _normalise_tag(tag: str) -> str:
    tag = re.sub(r"[^\w]", "", str(tag).lstrip("#"))
    return f"#{tag}" if tag else ""


def _shorten(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    cut = text[: max(limit - 1, 1)].rsplit(" ", 1)[0].rstrip(",;: ")
    return f"{cut}…"


def caption_draft(*, persona: Persona, scene: str, platform: str, seed: int, language: str = "en") -> CaptionDraft:
    """A caption and hashtags for one generated post, deterministic for (persona, scene, platform, seed).

    `language` is a caption language code, or "de+en" for a bilingual caption (one paragraph per language);
    the caption closes with that language's disclosure label."""
    rng = random.Random(f"{seed}:{platform}:{scene}")
    rule = rule_for(platform)
    tone = tone_for_voice(persona.voice)
    topic = topic_for_scene(scene)
    topic_lines, topic_tags = (TOPICS[topic][1], TOPICS[topic][2]) if topic else (DEFAULT_TOPIC_LINES, ())
    languages = language.split("+")
    templates = [TEMPLATES[tone] if code == "en" else localized_templates(code) for code in languages]
    lines = [topic_lines if code == "en" else localized_topic_lines(code) for code in languages]
    picks = [(rng.choice(options), rng.choice(line_options)) for options, line_options in zip(templates, lines,
                                                                                             strict=True)]
    label = disclosure_label_for(persona, language)

    tags: list[str] = []
    for tag in [*(persona.default_hashtags or []), *topic_tags]:
        norm = _normalise_tag(tag)
        if norm and norm.lower() not in {t.lower() for t in tags}:
            tags.append(norm)

    scene_text = _clean_scene(scene)

    def build(scene_part: str, with_topic: bool) -> str:
        body = "\n\n".join(
            template.format(
                scene=scene_part,
                scene_lower=scene_part[:1].lower() + scene_part[1:],
                topic=topic_line if with_topic else "",
            ).strip()
            for template, topic_line in picks
        )
        return f"{body}\n\n{label}"

    caption = build(scene_text, True)
    # The label itself may carry hashtags; they count against the cap too.
    if rule.hashtags_max is not None:
        room = max(rule.hashtags_max - len(hashtags_in(caption)), 0)
        tags = tags[:room]

    # Fit the platform's length cap: drop hashtags, then the topic line, then shorten the scene.
    while tags and caption_length(platform, text_as_posted(caption, tags)) > rule.caption_max:
        tags.pop()
    if caption_length(platform, caption) > rule.caption_max:
        caption = build(scene_text, False)
    limit = len(scene_text)
    while caption_length(platform, caption) > rule.caption_max and limit > 8:
        limit = max(limit - max(caption_length(platform, caption) - rule.caption_max, 1), 8)
        caption = build(_shorten(scene_text, limit), False)
    return CaptionDraft(caption=caption, hashtags=tags, tone=tone, topic=topic)
