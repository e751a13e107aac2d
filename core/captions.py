"""The caption rules: what every caption must satisfy, whoever wrote it, checked and repaired after the writer,
every time. Pure functions (no database): the callers in scheduler read the persona's settings and pass them in a
CaptionBrief.

- the disclosure label of the caption's language appears exactly once, closing the caption;
- "#ad" and the paid-partnership flag when the post is sponsored or names a brand of the workspace;
- no banned word (refused, not repaired: the model said something the persona must not say);
- the persona's must-include phrases are there;
- no links unless the persona allows them;
- hashtags and length inside the platform's caps (X counts weighted length).

A caption that cannot be repaired raises CaptionRefused with the reason; the writer then falls back to the
template caption and records why.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field

from core.languages import label_count, label_remove
from core.platforms import (
    caption_length,
    hashtag_clean,
    hashtags_in,
    mentions_ad,
    rule_for,
    text_as_posted,
    urls_in,
    urls_remove,
)

AD_TAG = "#ad"
ELLIPSIS = "…"
# A model reply is cut to this before any other work: a runaway reply must not cost seconds of regex.
MAX_REPLY_CHARS = 70_000
_TRAILING_TAGS_RE = re.compile(r"(?:\s*#\w+)+\s*$", re.UNICODE)
_PREAMBLE_RE = re.compile(r"^\s*(?:caption|here(?:'s| is) (?:a|the|your) caption)\s*:\s*", re.IGNORECASE)
_CONTROL_RE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


class CaptionRefused(Exception):
    """A caption that enforcement cannot repair; the message says why."""


@dataclass(frozen=True)
class CaptionBrief:
    """One caption to write: who speaks, about what, where, in which language, under which rules."""

    platform: str
    scene: str
    language: str  # "de", or "de+en" for a bilingual caption
    label: str  # the disclosure label(s) that close the caption
    labels: tuple[str, ...] = ()  # each language's label, for the exactly-once check
    sponsored: bool = False
    brands: tuple[str, ...] = ()
    banned_words: tuple[str, ...] = ()
    must_include: tuple[str, ...] = ()
    urls_allowed: bool = False
    # Prompt material
    persona_name: str = ""
    age: int | None = None
    bio: str = ""
    voice: str = ""
    style: tuple[str, ...] = ()
    examples: tuple[str, ...] = ()


@dataclass
class EnforcedCaption:
    caption: str
    hashtags: list[str]
    paid_partnership: bool
    repairs: list[str] = field(default_factory=list)


def _word_re(word: str) -> re.Pattern:
    return re.compile(r"(?<!\w)" + re.escape(word) + r"(?!\w)", re.IGNORECASE)


def banned_word_in(text: str, banned: tuple[str, ...] | list[str]) -> str:
    """The first banned word or phrase in `text`, "" when none."""
    for word in banned:
        if word.strip() and _word_re(word.strip()).search(text):
            return word.strip()
    return ""


def banned_words_redact(text: str, banned: tuple[str, ...] | list[str]) -> str:
    """`text` with the banned words taken out (for the marketer's own scene text in a template caption)."""
    for word in banned:
        if word.strip():
            text = _word_re(word.strip()).sub("", text)
    return re.sub(r"[ \t]{2,}", " ", text)


def brand_mentioned(text: str, brands: tuple[str, ...] | list[str]) -> str:
    """The first workspace brand that `text` names (as a word, or as a hashtag), "" when none."""
    squashed = {tag.lstrip("#") for tag in hashtags_in(text)}
    for brand in brands:
        brand = brand.strip()
        if brand and (_word_re(brand).search(text) or re.sub(r"\W", "", brand).lower() in squashed):
            return brand
    return ""


def _clean_reply(text: str) -> str:
    text = unicodedata.normalize("NFC", (text or "")[:MAX_REPLY_CHARS]).replace("\r\n", "\n")
    text = _CONTROL_RE.sub("", text).strip()
    text = re.sub(r"^```\w*\n?|\n?```$", "", text).strip()
    text = _PREAMBLE_RE.sub("", text).strip()
    if len(text) >= 2 and (text[0], text[-1]) in (('"', '"'), ("'", "'"), ("“", "”")):
        text = text[1:-1].strip()
    return text


def _fits(platform: str, caption: str, tags: list[str]) -> bool:
    return caption_length(platform, text_as_posted(caption, tags)) <= rule_for(platform).caption_max


def _shorten(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    cut = text[: max(limit - 1, 0)]
    if " " in cut.strip():
        cut = cut.rsplit(" ", 1)[0]
    return cut.rstrip(",;:.!?-–— \n") + ELLIPSIS if cut.strip() else ""


def caption_enforce(*, text: str, hashtags: list[str], brief: CaptionBrief) -> EnforcedCaption:
    """The caption repaired to every rule, or CaptionRefused naming the rule it cannot be made to keep."""
    rule = rule_for(brief.platform)
    repairs: list[str] = []
    body = _clean_reply(text)
    if len(text or "") > MAX_REPLY_CHARS:
        repairs.append(f"reply cut to {MAX_REPLY_CHARS:,} characters")

    if not brief.urls_allowed and urls_in(body):
        body = urls_remove(body).strip()
        repairs.append("links removed")

    # The label is placed by enforcement, once, at the end: take out every copy the writer put anywhere.
    labels = brief.labels or (brief.label,)
    counts = [label_count(body, label) for label in labels]
    for label in sorted({brief.label, *labels}, key=len, reverse=True):
        body = label_remove(body, label)
    if any(count != 1 for count in counts):
        repairs.append("disclosure label added" if not any(counts) else "disclosure label placed once")

    # Hashtags that end the reply join the hashtag list; hashtags inside sentences stay where they are.
    trailing = _TRAILING_TAGS_RE.search(body)
    tags: list[str] = []
    if trailing:
        tags.extend(re.findall(r"#\w+", trailing.group(0)))
        body = body[: trailing.start()].rstrip()
    tags.extend(hashtags or [])
    clean_tags: list[str] = []
    for tag in tags:
        tag = hashtag_clean(tag)
        if tag and tag.lower() not in {t.lower() for t in clean_tags} and tag.lower() not in hashtags_in(body):
            clean_tags.append(tag)
    tags = clean_tags

    banned = banned_word_in(f"{body} {' '.join(tags)}", brief.banned_words)
    if banned:
        raise CaptionRefused(f'it uses the banned word "{banned}"')
    if not body.strip(" .…\n"):
        raise CaptionRefused("the reply has no caption text")

    missing = [phrase for phrase in brief.must_include if phrase.strip() and phrase.lower() not in body.lower()]
    tail = "".join(f" {phrase.strip()}" for phrase in missing)
    if missing:
        repairs.append("must-include phrases added")

    brand = brand_mentioned(f"{body}{tail} {' '.join(tags)}", brief.brands)
    paid = brief.sponsored or bool(brand)
    if paid and not mentions_ad(body) and AD_TAG not in {t.lower() for t in tags}:
        tags.insert(0, AD_TAG)
        repairs.append(f"#ad added ({'sponsored' if brief.sponsored else f'names the brand {brand}'})")

    def assemble(head: str) -> str:
        return f"{head}{tail}\n\n{brief.label}"

    def removable() -> list[str]:
        return [t for t in tags if t.lower() != AD_TAG]

    if rule.hashtags_max is not None:
        while len(hashtags_in(text_as_posted(assemble(body), tags))) > rule.hashtags_max and removable():
            tags.remove(removable()[-1])
            if "hashtags cut to the platform's cap" not in repairs:
                repairs.append("hashtags cut to the platform's cap")
        if len(hashtags_in(text_as_posted(assemble(body), tags))) > rule.hashtags_max:
            # Inline hashtags become plain words ("#ad" stays: it is the disclosure).
            body = re.sub(r"(?<![\w&#])#(?!ad(?!\w))(\w+)", r"\1", body, flags=re.IGNORECASE)
            repairs.append("inline hashtags made plain words")
        count = len(hashtags_in(text_as_posted(assemble(body), tags)))
        if count > rule.hashtags_max:
            raise CaptionRefused(
                f"the disclosure label and #ad alone carry {count} hashtags; {rule.label} allows {rule.hashtags_max}"
            )

    if not _fits(brief.platform, assemble(body), tags):
        while removable() and not _fits(brief.platform, assemble(body), tags):
            tags.remove(removable()[-1])
        if not _fits(brief.platform, assemble(body), tags):
            # The longest prefix of the body that fits, by bisection (a 10,000-character reply takes ~14 steps).
            low, high = 0, len(body)
            while low < high:
                middle = (low + high + 1) // 2
                if _fits(brief.platform, assemble(_shorten(body, middle)), tags):
                    low = middle
                else:
                    high = middle - 1
            body = _shorten(body, low)
            if not body.strip(" .…"):
                raise CaptionRefused(
                    f"the disclosure label, required phrases and #ad alone exceed {rule.label}'s "
                    f"{rule.caption_max:,} characters"
                )
        repairs.append(f"shortened to {rule.label}'s {rule.caption_max:,} characters")
    return EnforcedCaption(caption=assemble(body), hashtags=tags, paid_partnership=paid, repairs=repairs)
