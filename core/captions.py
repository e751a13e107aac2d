"""The one home of caption, label and hashtag rules. Pure functions (no database): callers read the persona's and
the workspace's settings and pass them in.

- disclosure labels: the built-in label of each caption language, a workspace's table over it, the label a caption
  in a language (or two, "de+en") carries, and how a label is found in and taken out of a text (copies that only
  look like it included, core.lookalikes: a faked label counts as the label);
- hashtags, "#ad" and links: what a hashtag is, how a post's tags are normalised, counted and published;
- length and caps: the caption as posted measured the platform's way (core.platforms owns the platform table and
  X's weighting), and the caption and hashtag rules a post is validated against;
- enforcement: what every caption must satisfy, whoever wrote it, checked and repaired after the writer, every
  time (the callers in scheduler pass the persona's settings in a CaptionBrief):
  - the disclosure label of the caption's language appears exactly once, closing the caption;
  - "#ad" and the paid-partnership flag when the post is sponsored or names a brand of the workspace;
  - no banned word (refused, not repaired: the model said something the persona must not say);
  - the persona's must-include phrases are there;
  - no links unless the persona allows them;
  - hashtags and length inside the platform's caps (X counts weighted length).

A model's reply is read as captions first (core.caption_replies: reasoning, preambles, JSON and the like taken out,
options split, non-captions refused). A caption that cannot be repaired raises CaptionRefused with the reason; the
writer then falls back to the template caption and records why.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field

from core.caption_replies import MAX_REPLY_CHARS, caption_text_clean
from core.errors import ValidationFailed
from core.languages import DEFAULT_LANGUAGE, LANGUAGES
from core.lookalikes import INVISIBLE_RE, invisible_remove, phrase_skeleton, skeleton
from core.platforms import URL_RE, URL_TRAILING, images_problems, rule_for, weighted_length_x

# --- Disclosure labels ---------------------------------------------------------------------------------------

# Each caption language's built-in AI-disclosure label: the default a workspace starts from. A workspace may
# override any entry (personas.Workspace.disclosure_labels). English keeps the persona's own label
# (Persona.disclosure_label), so existing personas and posts are unchanged.
DEFAULT_LABELS: dict[str, str] = {
    "en": "AI-generated",
    "de": "KI-generiert",
    "es": "Generado con IA",
    "fr": "Généré par IA",
    "it": "Generato con IA",
    "pt": "Gerado por IA",
    "nl": "AI-gegenereerd",
    "ja": "AI生成",
    "zh": "AI生成",
}
# Between the labels of a bilingual caption: "KI-generiert · AI-generated".
BILINGUAL_LABEL_SEPARATOR = " · "
# Above every platform's caption limit (Facebook's 63,206 is the largest): a draft may run over its platform's
# limit while being edited, but megabytes of text are refused outright.
MAX_CAPTION_CHARS = 70_000


def label_table(overrides: dict[str, str] | None) -> dict[str, str]:
    """The built-in labels with a workspace's own entries over them (blank entries ignored)."""
    table = dict(DEFAULT_LABELS)
    for code, label in (overrides or {}).items():
        if code in LANGUAGES and str(label or "").strip():
            table[code] = str(label).strip()
    return table


def _from_table(code: str) -> bool:
    """Whether a caption language's label comes from the label table: English (and an unknown code) carries the
    persona's own label instead."""
    return code != DEFAULT_LANGUAGE and code in LANGUAGES


def label_table_needed(language: str) -> bool:
    """Whether a caption in `language` ("de+en") carries a label from the workspace's table: callers read the
    workspace's overrides only then."""
    return any(_from_table(code) for code in (language or DEFAULT_LANGUAGE).split("+"))


def disclosure_label_compose(language: str, *, persona_label: str, workspace_labels: dict[str, str] | None) -> str:
    """The AI-disclosure label of a caption in `language` ("de+en": a bilingual caption, both labels).

    English captions carry `persona_label`, the persona's own label (as they always have); other languages the
    workspace's label table (`workspace_labels`), over the built-in one. Equal labels appear once."""
    labels = [
        label_table(workspace_labels)[code] if _from_table(code) else persona_label
        for code in (language or DEFAULT_LANGUAGE).split("+")
    ]
    return BILINGUAL_LABEL_SEPARATOR.join(dict.fromkeys(labels))


def caption_with_label(caption: str | None, label: str) -> str:
    """The stripped caption with `label` appended on its own paragraph when it does not carry it already (a copy
    that only looks like it is replaced); refused when it is larger than any platform takes. Invisible characters
    (zero-width spaces, bidirectional controls) are dropped: they can break or reverse a label while it reads
    the same."""
    caption = invisible_remove((caption or "").strip())
    if len(caption) > MAX_CAPTION_CHARS:
        raise ValidationFailed(
            f"The caption is {len(caption):,} characters; no platform allows more than {MAX_CAPTION_CHARS:,}.",
            code="caption_too_long",
        )
    if label.lower() in caption.lower():
        return caption
    if label_count(caption, label):
        caption = label_remove(caption, label)
    return f"{caption}\n\n{label}" if caption else label


# Latin letters and digits: a label that starts or ends with one must not match inside a longer word. (CJK
# labels stand between other CJK characters, so they have no word boundary to check.)
_LATIN = "0-9A-Za-z\u00c0-\u024f"


def _label_spans(text: str, label: str) -> list[tuple[int, int]]:
    """Where `text` (NFC) holds `label` or a copy of it that only looks the same: other case, look-alike letters,
    invisible characters, accents, other dashes or spaces (core.lookalikes). Spans of the NFC text."""
    wanted = phrase_skeleton(label)
    if not wanted:
        return []
    pattern = re.escape(wanted)
    if re.match(f"[{_LATIN}]", wanted[:1]):
        pattern = f"(?<![{_LATIN}])" + pattern
    if re.match(f"[{_LATIN}]", wanted[-1:]):
        pattern += f"(?![{_LATIN}])"
    seen, where = skeleton(text)
    spans = []
    for match in re.finditer(pattern, seen):
        start, end = where[match.start()], where[match.end() - 1] + 1
        # Invisible characters around a copy (bidirectional controls wrapping it) go with it.
        while start and INVISIBLE_RE.match(text[start - 1]):
            start -= 1
        while end < len(text) and INVISIBLE_RE.match(text[end]):
            end += 1
        spans.append((start, end))
    return spans


def label_count(text: str, label: str) -> int:
    """How often `label` occurs in `text`, ignoring case, and counting copies that only look like it (a
    zero-width space inside, Cyrillic letters, fullwidth forms): a faked label counts as a label."""
    if not label:
        return 0
    return len(_label_spans(unicodedata.normalize("NFC", text or ""), label))


def label_remove(text: str, label: str) -> str:
    """`text` without any occurrence of `label` or of a copy that only looks like it, whitespace left tidy."""
    if not label:
        return text
    text = unicodedata.normalize("NFC", text)
    for start, end in reversed(_label_spans(text, label)):
        text = text[:start] + text[end:]
    text = re.sub(r"[ \t]+\n", "\n", text)
    text = re.sub(r"\n{3,}", "\n\n", text)
    return re.sub(r"[ \t]{2,}", " ", text).strip(" \t\n-–—|·•")


# --- Hashtags, #ad and links ---------------------------------------------------------------------------------

_HASHTAG_RE = re.compile(r"(?<![\w&#])#(\w+)", re.UNICODE)
# One hashtag as entered: a single word of letters, digits or underscores, the # optional.
_HASHTAG_INPUT_RE = re.compile(r"#?\w+", re.UNICODE)
# "#ad" as a word of the caption (not "#adventure", not "##ad"): how sponsored posts disclose the deal.
_AD_TAG_RE = re.compile(r"(?<![\w#])#ad(?!\w)", re.IGNORECASE)


def text_as_posted(caption: str, hashtags: list[str] | None) -> str:
    """Caption and hashtags as they will be published: caption, a space, then the hashtags."""
    tags = " ".join(hashtags or [])
    caption = caption or ""
    if caption and tags:
        return f"{caption} {tags}"
    return caption or tags


def hashtag_clean(raw: str) -> str | None:
    """'travel' or ' #travel' as '#travel'; None when `raw` is not a single hashtag."""
    tag = raw.strip()
    if not _HASHTAG_INPUT_RE.fullmatch(tag):
        return None
    return tag if tag.startswith("#") else f"#{tag}"


def hashtags_normalise(hashtags: Iterable[str] | None) -> list[str]:
    """'travel', '#Travel ' -> '#Travel'; duplicates (case-insensitive) dropped; bad tags refused."""
    if hashtags is None:
        return []
    if isinstance(hashtags, str):
        hashtags = [hashtags]
    result: list[str] = []
    seen: set[str] = set()
    pieces = [piece for raw in hashtags for piece in re.split(r"[\s,]+", str(raw))]
    for raw in filter(None, pieces):
        tag = hashtag_clean(raw)
        if tag is None:
            raise ValidationFailed(f"'{raw}' is not a valid hashtag: use letters, digits and underscores only.")
        if tag.lower() not in seen:
            seen.add(tag.lower())
            result.append(tag)
    return result


def mentions_ad(text: str) -> bool:
    """Whether `text` carries the "#ad" tag."""
    return bool(_AD_TAG_RE.search(text or ""))


def hashtags_in(text: str) -> list[str]:
    """Distinct hashtags in `text`, lower-cased, in order of appearance."""
    seen: dict[str, None] = {}
    for tag in _HASHTAG_RE.findall(text):
        seen.setdefault(f"#{tag.lower()}", None)
    return list(seen)


def urls_in(text: str) -> list[str]:
    """The links in `text` as X (and the other platforms) would link them, trailing punctuation excluded."""
    return [match.group(0).rstrip(URL_TRAILING) for match in URL_RE.finditer(text or "")]


def urls_remove(text: str) -> str:
    """`text` without its links."""
    text = URL_RE.sub(lambda match: match.group(0)[len(match.group(0).rstrip(URL_TRAILING)):], text or "")
    return re.sub(r"[ \t]{2,}", " ", text)


# --- Length and the platforms' caption caps ------------------------------------------------------------------


def caption_length(platform: str, text: str) -> int:
    if rule_for(platform).weighted:
        return weighted_length_x(text)
    return len(unicodedata.normalize("NFC", text))


def caption_problems(*, platform: str, caption: str, hashtags: list[str] | None) -> list[str]:
    """Every caption and hashtag rule `platform` would break with this caption and these hashtags, as messages."""
    rule = rule_for(platform)
    errors: list[str] = []
    text = text_as_posted(caption, hashtags)

    length = caption_length(platform, text)
    if length > rule.caption_max:
        unit = "weighted characters" if rule.weighted else "characters"
        errors.append(
            f"{rule.label} allows {rule.caption_max:,} {unit} of caption and hashtags; "
            f"this post has {length:,} ({length - rule.caption_max:,} too many)."
        )

    if rule.hashtags_max is not None:
        tags = hashtags_in(text)
        if len(tags) > rule.hashtags_max:
            errors.append(
                f"{rule.label} allows at most {rule.hashtags_max} hashtag{'s' if rule.hashtags_max != 1 else ''} "
                f"per post; this post has {len(tags)} ({', '.join(tags)})."
            )
    return errors


def validate_content(
    *, platform: str, caption: str, hashtags: list[str] | None, image_sizes: list[tuple[int, int]]
) -> list[str]:
    """Every rule `platform` would break with this content, as messages (the caption's, then the images' from
    core.platforms); empty when it is fine."""
    return caption_problems(platform=platform, caption=caption, hashtags=hashtags) + images_problems(
        platform=platform, image_sizes=image_sizes
    )


# --- Enforcement ---------------------------------------------------------------------------------------------

AD_TAG = "#ad"
ELLIPSIS = "…"
_TRAILING_TAGS_RE = re.compile(r"(?:\s*#\w+)+\s*$", re.UNICODE)


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
    body = caption_text_clean(text)
    if len(text or "") > MAX_REPLY_CHARS:
        repairs.append(f"reply cut to {MAX_REPLY_CHARS:,} characters")

    if not brief.urls_allowed and urls_in(body):
        body = urls_remove(body).strip()
        repairs.append("links removed")

    # The label is placed by enforcement, once, at the end: take out every copy the writer put anywhere.
    labels = brief.labels or (brief.label,)
    counts = [label_count(body, label) for label in labels]
    exact = [body.lower().count(label.lower()) for label in labels]
    for label in sorted({brief.label, *labels}, key=len, reverse=True):
        body = label_remove(body, label)
    if any(count != 1 for count in counts):
        repairs.append("disclosure label added" if not any(counts) else "disclosure label placed once")
    elif exact != counts:  # the one copy there only looked like the label
        repairs.append("look-alike of the disclosure label replaced")

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
