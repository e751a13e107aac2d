"""The caption writer: template (default), OpenAI-compatible server, or local transformers model, chosen by
CAPTION_WRITER. A model's reply is read as captions first (core.caption_replies: reasoning, preambles, JSON and the
like taken out; several options become several captions); every caption then goes through
core.captions.caption_enforce.

A reply that is no caption, a caption that cannot be repaired, or a model that fails falls back to the template
caption with the reason recorded; a server that is down also reports `service_error` so that the job can show it.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field

from django.conf import settings

from core.caption_replies import reply_read
from core.captions import CaptionBrief, CaptionRefused, banned_words_redact, caption_enforce, label_remove
from generation.models import CaptionMode
from personas.models import Persona
from personas.selectors import disclosure_label_for
from scheduler.captions.backends import (
    CaptionReplyError,
    CaptionServiceError,
    ModelReply,
    OpenAIChatBackend,
    TransformersBackend,
)
from scheduler.captions.localized import PLAYFUL_OPENERS, QUESTIONS
from scheduler.captions.prompts import REWRITES, caption_messages
from scheduler.captions.templates import caption_draft
from scheduler.selectors import persona_approved_captions

logger = logging.getLogger(__name__)

TEMPLATE_WRITER = "template"


@dataclass
class WrittenCaption:
    caption: str
    hashtags: list[str]
    paid_partnership: bool
    language: str
    writer: str
    fallback_reason: str = ""
    repairs: list[str] = field(default_factory=list)
    mode: str = CaptionMode.TEMPLATE  # how the model answered it (structured output or plain text)


@dataclass
class WriteOutcome:
    captions: list[WrittenCaption]
    service_error: str = ""
    mode: str = CaptionMode.TEMPLATE  # how the model answered (structured, plain); template when none did


def caption_backend():
    """The configured model backend, or None for the template writer."""
    kind = getattr(settings, "CAPTION_WRITER", TEMPLATE_WRITER)
    if kind == "openai":
        return OpenAIChatBackend(
            url=settings.CAPTION_LLM_URL, model=settings.CAPTION_LLM_MODEL, api_key=settings.CAPTION_LLM_API_KEY,
            timeout=settings.CAPTION_LLM_TIMEOUT, retries=settings.CAPTION_LLM_RETRIES,
        )
    if kind == "transformers":
        return TransformersBackend(path=settings.CAPTION_LLM_PATH)
    return None


def _examples(persona: Persona, language: str, labels: tuple[str, ...]) -> tuple[str, ...]:
    """The marketer's liked captions, then the most recent approved ones (caption memory), label-free."""
    memory = persona_approved_captions(persona=persona, language=language, limit=settings.CAPTION_MEMORY)
    examples = []
    for caption in [*(persona.caption_examples or []), *memory]:
        for label in labels:
            caption = label_remove(caption, label)
        if caption and caption not in examples:
            examples.append(caption)
    return tuple(examples[: settings.CAPTION_MEMORY + len(persona.caption_examples or [])])


def caption_brief(*, persona: Persona, scene: str, platform: str, language: str, sponsored: bool) -> CaptionBrief:
    label = disclosure_label_for(persona, language)
    labels = tuple(disclosure_label_for(persona, code) for code in language.split("+"))
    return CaptionBrief(
        platform=platform, scene=scene, language=language, label=label, labels=labels, sponsored=sponsored,
        brands=tuple(persona.workspace.brand_names or []), banned_words=tuple(persona.banned_words or []),
        must_include=tuple(persona.must_include or []), urls_allowed=persona.caption_urls_allowed,
        persona_name=persona.name, age=persona.age, bio=persona.bio, voice=persona.voice,
        style=tuple(persona.style_keywords or []), examples=_examples(persona, language, labels),
    )


def _template_rewrite(text: str, instruction: str, language: str) -> str:
    code = language.split("+")[0]
    if instruction == "shorter":
        sentences = re.split(r"(?<=[.!?。！？])\s*", text.strip())
        return sentences[0] if sentences and sentences[0] else text
    if instruction == "playful":
        return f"{PLAYFUL_OPENERS.get(code, PLAYFUL_OPENERS['en'])} {text[:1].lower()}{text[1:]} ✨"
    if instruction == "question":
        return f"{text.rstrip()} {QUESTIONS.get(code, QUESTIONS['en'])}"
    if instruction == "polished":
        return re.sub(r"!+", ".", re.sub(r"[\U0001F300-\U0001FAFF\u2600-\u27BF]\s*", "", text)).strip()
    if instruction == "emoji":
        return f"{text.rstrip()} ✨"
    return text


def _template(persona: Persona, brief: CaptionBrief, seed: int, instruction: str, original: str) -> WrittenCaption:
    """The template writer's caption, enforced like any other (kept as is when it cannot be: the post's own
    rule check then names the problem)."""
    if instruction and instruction != "translate":  # templates cannot translate: they write the scene anew
        body, tags = _template_rewrite(original, instruction, brief.language), []
    else:
        draft = caption_draft(persona=persona, scene=banned_words_redact(brief.scene, brief.banned_words),
                              platform=brief.platform, seed=seed, language=brief.language)
        body, tags = draft.caption, draft.hashtags
    body = banned_words_redact(body, brief.banned_words)
    try:
        enforced = caption_enforce(text=body, hashtags=tags, brief=brief)
    except CaptionRefused:
        return WrittenCaption(caption=body, hashtags=tags, paid_partnership=brief.sponsored, language=brief.language,
                              writer=TEMPLATE_WRITER)
    return WrittenCaption(caption=enforced.caption, hashtags=enforced.hashtags,
                          paid_partnership=enforced.paid_partnership, language=brief.language, writer=TEMPLATE_WRITER,
                          repairs=enforced.repairs)


def captions_write(
    *,
    persona: Persona,
    scene: str,
    platform: str,
    seed: int,
    language: str = "en",
    sponsored: bool = False,
    n: int = 1,
    instruction: str = "",
    original: str = "",
    backend=TEMPLATE_WRITER,
) -> WriteOutcome:
    """`n` captions of the scene (or rewrites of `original` when `instruction` is given), each enforced.

    `backend`: the default reads the settings; None forces the template writer (a drafting run whose server
    already failed does not wait on it again)."""
    if backend == TEMPLATE_WRITER:
        backend = caption_backend()
    brief = caption_brief(persona=persona, scene=scene, platform=platform, language=language, sponsored=sponsored)
    if instruction and instruction not in REWRITES:
        raise ValueError(f"Unknown rewrite '{instruction}'.")
    if instruction:
        for label in brief.labels:
            original = label_remove(original, label)
    templates = [_template(persona, brief, seed + i, instruction, original) for i in range(n)]
    if backend is None:
        return WriteOutcome(captions=templates)

    def fallback(reason: str) -> list[WrittenCaption]:
        for caption in templates:
            caption.fallback_reason = reason
        return templates

    messages = caption_messages(brief, instruction=instruction, original=original)
    try:
        replies = backend.complete(messages, n=n, seed=seed)
    except CaptionServiceError as exc:
        logger.warning("Caption writer %s failed: %s", backend.name, exc)
        return WriteOutcome(captions=fallback(f"{exc} The template caption was used."), service_error=str(exc))
    except CaptionReplyError as exc:
        return WriteOutcome(captions=fallback(f"{exc} The template caption was used."))

    # The prompt's own lines (not the example captions): a reply that repeats one is no caption.
    instructions = tuple(line for line in messages[0]["content"].splitlines() if not line.startswith("- "))
    written = []
    for template, reply in zip(templates, replies, strict=False):
        written.extend(_reply_captions(reply, template, brief=brief, writer=backend.name, instructions=instructions,
                                       hashtags=list(persona.default_hashtags or [])))
    structured = any(reply.mode == CaptionMode.STRUCTURED for reply in replies)
    return WriteOutcome(captions=written + templates[len(replies):],
                        mode=CaptionMode.STRUCTURED if structured else CaptionMode.PLAIN)


def _reply_captions(reply: ModelReply, template: WrittenCaption, *, brief: CaptionBrief, writer: str,
                    instructions: tuple[str, ...], hashtags: list[str]) -> list[WrittenCaption]:
    """The captions one reply holds, each enforced (several when it offers options), or the template caption with
    the reason when it holds none that keeps the rules."""
    read = reply_read(reply.text, languages=brief.language.split("+"), instructions=instructions,
                      structured=reply.mode == CaptionMode.STRUCTURED, truncated=reply.truncated,
                      reasoned=reply.reasoned, model_refusal=reply.refusal)
    reasons = [read.refusal] if read.refusal else []
    captions = []
    for text in read.captions:
        try:
            enforced = caption_enforce(text=text, hashtags=[*read.hashtags, *hashtags], brief=brief)
        except CaptionRefused as exc:
            reasons.append(str(exc))
            continue
        captions.append(WrittenCaption(caption=enforced.caption, hashtags=enforced.hashtags,
                                       paid_partnership=enforced.paid_partnership, language=brief.language,
                                       writer=writer, repairs=[*read.notes, *enforced.repairs], mode=reply.mode))
    if captions:
        return captions
    template.fallback_reason = f"The model's caption was refused: {reasons[0]}. The template caption was used."
    return [template]
