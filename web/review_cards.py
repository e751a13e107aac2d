"""What the review queue's cards show, formatted once in Python: links, dates, labels and the rewrite choices.

A page holds 20 review cards and up to 20 drafts, each with a dozen links and dates; {% url %}, the date filter
and number localisation cost tens of microseconds each in a template, so the page did most of its work there.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import ROUND_HALF_UP, Decimal

from django.utils.html import format_html_join
from django.utils.timezone import localtime

from scheduler.models import Post
from web.fragments import render_fragments, row_values
from web.presenters import media_url, media_url_prefix, short_datetime, url_format

CARD_URLS = {
    "persona": ("personas:detail", "persona_id"),
    "comments": ("post_comments", "pk"),
    "decide": ("review_decide", "pk"),
    "caption": ("post_caption_page", "pk"),
    "submit": ("post_submit_page", "pk"),
    "rewrite": ("post_caption_rewrite", "pk"),
}


def card_url_formats() -> dict[str, str]:
    """Each card link reversed once, as a str.format pattern."""
    formats = {key: url_format(name, field) for key, (name, field) in CARD_URLS.items()}
    formats["use_caption"] = url_format("post_caption_use", "pk", "option")
    return formats


def two_decimals(value: float) -> str:
    """The floatformat:2 filter's text (half up, from the float's repr), without its localisation machinery."""
    return str(Decimal(repr(value)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


def review_cards_prepare(posts: Iterable[Post], drafts: Iterable[Post]) -> None:
    """Set on each post (review_page's, with its candidates and caption options attached) the strings its card
    shows: `urls`, `submitted_label`, `local_target_label`, and on its images, candidates, transitions and
    caption options theirs."""
    formats = card_url_formats()
    media = media_url_prefix()
    for post in [*posts, *drafts]:
        fields = {"pk": post.pk, "persona_id": post.persona_id}
        post.urls = {key: pattern.format(**fields) for key, pattern in formats.items() if key != "use_caption"}
        for option in getattr(post, "caption_options", []):
            option.use_url = formats["use_caption"].format(pk=post.pk, option=option.pk)
    for post in posts:
        submitted = getattr(post, "submitted_at", None)
        post.submitted_label = short_datetime(submitted) if submitted else ""
        local = getattr(post, "local_target", None)
        # In the persona's own zone, as stored on the post (not converted to the server's).
        post.local_target_label = f"{local:%a} {local.day} {local:%b %Y %H:%M}" if local else ""
        for image in post.image_list:
            image.url = media_url(media, image.image.name)
        post.best_of = post.candidates[0].job.best_of if getattr(post, "candidates", None) else None
        for candidate in getattr(post, "candidates", []):
            candidate.url = media_url(media, candidate.image.name)
            candidate.likeness_text = (f"likeness {two_decimals(candidate.likeness_score)}"
                                       if candidate.likeness_score is not None
                                       else candidate.get_likeness_status_display())
        for transition in post.history:
            transition.when_iso = localtime(transition.created_at).isoformat()
            transition.when_label = short_datetime(transition.created_at)
            if transition.external_reviewer:
                transition.who = f"{transition.external_reviewer} (client review)"
            else:
                transition.who = transition.actor_name or "system"
            transition.from_label = transition.get_from_status_display() or "New"
            transition.to_label = transition.get_to_status_display()


def rewrite_options(choices: Iterable[tuple[str, str]]) -> str:
    """The rewrite <option>s every card's select repeats, rendered once for the page."""
    return format_html_join("", '<option value="{}">{}</option>', choices)



def _caption_options_parts(post: Post) -> list:
    return [row_values(option) for option in getattr(post, "caption_options", [])]


def review_card_key(post: Post) -> list:
    """Every value a review card shows (web/fragments.py keys its cached rendering on them)."""
    return [
        row_values(post), post.persona.name, post.persona.timezone,
        [row_values(image) for image in post.image_list],
        [row_values(candidate) + [candidate.job.best_of] for candidate in post.candidates],
        [row_values(transition) for transition in post.history],
        _caption_options_parts(post),
    ]


def draft_card_key(post: Post) -> list:
    """Every value a draft card shows."""
    return [row_values(post), post.persona.name, _caption_options_parts(post)]


CARD_INCLUDES = ("scheduler/_likeness_badge.html", "scheduler/_caption_options.html")


def review_cards_render(request, posts: list[Post], drafts: list[Post], *, ws, here: str, rewrite: str) -> None:
    """post.card_html for each review card and draft card: cached fragments (web/fragments.py)."""
    context = {"ws": {"can_review": ws.can_review, "can_create": ws.can_create}, "here": here,
               "rewrite_options": rewrite}
    for items, template, name, key in ((posts, "scheduler/_review_card.html", "review-card", review_card_key),
                                       (drafts, "scheduler/_draft_card.html", "draft-card", draft_card_key)):
        cards = render_fragments(request, items, template=template, name=name, context=context, key_parts=key,
                                 includes=CARD_INCLUDES)
        for post, html in zip(items, cards, strict=True):
            post.card_html = html
