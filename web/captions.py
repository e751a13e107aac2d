"""What the review page shows of caption alternatives: the captions each post was offered, and the rewrites a
marketer can ask for (shorter, more playful, add a question, ...). The actions are in review.py."""

from __future__ import annotations

from collections.abc import Iterable

from core.languages import language_name
from personas.selectors import persona_caption_languages
from scheduler.captions.alternative_selectors import caption_alternatives_by_post
from scheduler.captions.prompts import REWRITES
from scheduler.models import CaptionStatus, Post

REWRITE_LABELS = {
    "shorter": "Shorter",
    "playful": "More playful",
    "question": "Add a question",
    "polished": "More polished",
    "emoji": "Add emoji",
    "translate": "Translation",
}
# One choice per rewrite the writer knows; translations are offered per post, into its persona's other languages.
REWRITE_CHOICES = [(key, REWRITE_LABELS.get(key, key.capitalize())) for key in REWRITES if key != "translate"]


def caption_alternatives_attach(posts: Iterable[Post]) -> None:
    """post.caption_options: the captions offered for each post (one query for all)."""
    posts = list(posts)
    by_post = caption_alternatives_by_post(post_ids=[post.pk for post in posts])
    for post in posts:
        post.translate_choices = [
            (f"translate:{code}", f"Translate to {language_name(code)}")
            for code in persona_caption_languages(post.persona) if code != post.language
        ]
        post.caption_options = by_post.get(post.pk, [])
        for option in post.caption_options:
            option.in_use = option.status == CaptionStatus.READY and option.caption == post.caption
            option.label = REWRITE_LABELS.get(option.instruction, "Drafted") if option.instruction else "Drafted"
            if option.language != post.language:
                option.label = f"{option.label} ({language_name(option.language)})"
