"""Chat messages for the caption model, built from the persona, the scene, the platform's rules and the deal.

The label, #ad and the caps are enforced afterwards whatever the model writes (core.captions); the prompt asks for
them only so that fewer captions need repairing.
"""

from __future__ import annotations

from core.captions import CaptionBrief
from core.languages import language_name
from core.platforms import rule_for

# Rewrite actions: the instruction the model gets for each.
REWRITES: dict[str, str] = {
    "shorter": "Make it noticeably shorter; keep its point.",
    "playful": "Make it more playful and light-hearted.",
    "question": "End it with a question that invites the audience to reply.",
    "polished": "Make it more polished and professional.",
    "emoji": "Add a few fitting emoji.",
    # Into the brief's language (a caption alternative in another language of the persona).
    "translate": "Translate it into {language}; keep its meaning and tone.",
}


def _languages_phrase(language: str) -> str:
    codes = language.split("+")
    if len(codes) == 1:
        return f"Write in {language_name(codes[0])}."
    names = [language_name(code) for code in codes]
    return (f"Write the caption in {names[0]}, then the same caption in {', '.join(names[1:])}, each language in "
            "its own paragraph.")


def system_prompt(brief: CaptionBrief) -> str:
    rule = rule_for(brief.platform)
    lines = [
        f"You write {rule.label} captions for {brief.persona_name or 'a persona'}, an AI-generated virtual "
        "influencer" + (f" (age {brief.age})" if brief.age else "") + ".",
    ]
    if brief.bio:
        lines.append(f"Bio: {brief.bio}")
    if brief.voice:
        lines.append(f"Voice and tone: {brief.voice}")
    if brief.style:
        lines.append(f"Style: {', '.join(brief.style)}")
    lines.append(_languages_phrase(brief.language))
    unit = "weighted characters (emoji and CJK count 2, links 23)" if rule.weighted else "characters"
    lines.append(f"Keep it well under {rule.caption_max:,} {unit}, hashtags included.")
    if rule.hashtags_max is not None:
        lines.append(f"Use at most {rule.hashtags_max} hashtag{'s' if rule.hashtags_max != 1 else ''}.")
    if brief.banned_words:
        lines.append(f"Never use these words: {', '.join(brief.banned_words)}.")
    if brief.must_include:
        lines.append(f"Always include: {'; '.join(brief.must_include)}.")
    if brief.sponsored:
        lines.append("This is a paid partnership: say so honestly and include #ad.")
    if not brief.urls_allowed:
        lines.append("Do not include links.")
    lines.append(f'Do not write the disclosure "{brief.label}": it is added automatically.')
    if brief.examples:
        lines.append("Captions the marketer liked, for voice (do not copy them):")
        lines.extend(f"- {example}" for example in brief.examples)
    lines.append("Reply with the caption only: no preamble, no quotes.")
    return "\n".join(lines)


def caption_messages(brief: CaptionBrief, *, instruction: str = "", original: str = "") -> list[dict]:
    """Messages for a new caption of the brief's scene, or (with `instruction`) a rewrite of `original`."""
    messages = [{"role": "system", "content": system_prompt(brief)}]
    if instruction:
        ask = REWRITES.get(instruction, instruction).format(language=language_name(brief.language))
        messages.append({"role": "user", "content": f"Scene: {brief.scene}\n\nRewrite this caption. {ask}\n\n"
                                                    f"{original}"})
    else:
        messages.append({"role": "user", "content": f"Scene: {brief.scene}"})
    return messages
