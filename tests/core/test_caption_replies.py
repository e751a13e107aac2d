"""core.caption_replies, with the replies real language models give through Ollama, vLLM, llama.cpp or LM Studio:
each reply shape gives a clean caption, separate alternatives, or a refusal with its reason (the writer then keeps
the template caption). Never reasoning, a preamble, JSON or two labels in a post.

Each case goes through reply_read and then caption_enforce, as the writer does; the caption must come out as the
expected text closed by the real label, exactly once."""

from __future__ import annotations

import pytest

from core.caption_replies import MAX_OPTIONS, reply_read
from core.captions import DEFAULT_LABELS, CaptionBrief, CaptionRefused, caption_enforce, label_count
from tests.core.caption_reply_table import CASES, EN, INSTRUCTION, RUN, RUN_2


def _brief(language: str) -> CaptionBrief:
    labels = tuple(DEFAULT_LABELS[code] for code in language.split("+"))
    return CaptionBrief(platform="instagram", scene="morning run", language=language, label=" · ".join(labels),
                        labels=labels)


def captions_of(reply: str, language: str = "en", **options) -> list[str] | str:
    """The enforced captions of a reply, or the reason it gave none."""
    read = reply_read(reply, languages=language.split("+"), instructions=(INSTRUCTION,), **options)
    if read.refusal:
        return read.refusal
    brief = _brief(language)
    captions = []
    for text in read.captions:
        try:
            captions.append(caption_enforce(text=text, hashtags=read.hashtags, brief=brief).caption)
        except CaptionRefused as exc:
            return str(exc)
    for caption in captions:
        assert caption.endswith(f"\n\n{brief.label}")
        assert all(label_count(caption, label) == 1 for label in brief.labels), caption
    return [caption.removesuffix(f"\n\n{brief.label}") for caption in captions]


@pytest.mark.parametrize(("reply", "language", "options", "expected"), list(CASES.values()), ids=list(CASES))
def test_each_reply_shape_gives_clean_captions_or_a_refusal(reply, language, options, expected):
    result = captions_of(reply, language, **options)
    if isinstance(expected, str):
        assert isinstance(result, str) and expected in result, result
    else:
        assert result == expected


def test_the_table_covers_at_least_forty_replies():
    assert len(CASES) >= 40


def test_structured_hashtags_and_trailing_hashtags_join_the_list():
    reply = f'{{"caption": "{RUN} #dawn", "hashtags": ["running", "#Coffee", "two words"], "language": "en"}}'
    read = reply_read(reply, structured=True)
    assert read.captions == [f"{RUN} #dawn"] and read.hashtags == ["running", "#Coffee", "two words"]
    enforced = caption_enforce(text=read.captions[0], hashtags=read.hashtags, brief=_brief("en"))
    assert enforced.caption == f"{RUN}\n\n{EN}" and enforced.hashtags == ["#dawn", "#running", "#Coffee"]
    assert read.notes == []  # structured output as asked: nothing to take out


def test_what_was_taken_out_is_noted_for_the_repairs():
    read = reply_read(f"<think>x</think>Sure! Here's a caption:\n\n{RUN}\n\nHope this helps!")
    assert read.notes == ["reasoning removed", "preamble removed", "sign-off removed"]
    read = reply_read(f"Option 1: {RUN} Option 2: {RUN_2}")
    assert "2 options kept as separate captions" in read.notes


def test_options_are_capped_and_refused_ones_are_dropped():
    reply = "\n".join(f"{i}. Lap number {i} before the espresso." for i in range(1, 9))
    assert len(reply_read(reply).captions) == MAX_OPTIONS
    read = reply_read(f"Option 1: {RUN} Option 2: I'm sorry, but I can't help with that.")
    assert read.captions == [RUN] and not read.refusal


def test_a_runaway_reply_is_cut_before_any_work():
    read = reply_read("Mile after mile. " * 10_000)
    assert len(read.captions[0]) <= 70_000
