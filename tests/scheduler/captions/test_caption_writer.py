"""The OpenAI-compatible caption writer (the openai client) against a chat-completions server on loopback: every
answer the server gives (a reply, 429, 500, 400 for a field it lacks, a timeout, malformed JSON, reasoning, a reply
cut off, a refusal, options, a reply without the label or with a faked one, 10,000 characters) ends in captions that
keep the rules, from the model when it can be read and repaired, else from the templates with the reason."""

from __future__ import annotations

import time

import pytest

from core.captions import caption_length, hashtags_in, label_count, text_as_posted, urls_in, validate_content
from scheduler.captions.writer import captions_write
from tests.core.caption_reply_table import CASES
from tests.factories import PersonaFactory
from tests.scheduler.captions.chat_server import ChatServer

LABEL = "AI-generated virtual influencer"
SCENE = "launching our new running shoe, 20% off this week"


@pytest.fixture
def model_settings(settings):
    settings.CAPTION_WRITER = "openai"
    settings.CAPTION_LLM_MODEL = "test-model"
    settings.CAPTION_LLM_API_KEY = "sk-test"
    settings.CAPTION_LLM_TIMEOUT = 0.5
    settings.CAPTION_LLM_RETRIES = 2
    return settings


@pytest.fixture
def mira(db):
    persona = PersonaFactory(
        name="Mira", age=27, bio="Runner and coffee person in Lisbon.", voice="playful, short sentences",
        style_keywords=["street style"], banned_words=["cheap"], must_include=[], disclosure_label=LABEL,
        caption_examples=["Sunrise laps, then espresso. Priorities."], default_hashtags=["#running"],
    )
    persona.workspace.brand_names = ["Stride"]
    persona.workspace.save()
    return persona


def _write(persona, server, *, platform="x", sponsored=False, n=1, settings=None):
    settings.CAPTION_LLM_URL = server.url
    return captions_write(persona=persona, scene=SCENE, platform=platform, seed=7, sponsored=sponsored, n=n)


def _assert_keeps_the_rules(written, platform):
    assert label_count(written.caption, LABEL) == 1 and written.caption.endswith(LABEL)
    text = text_as_posted(written.caption, written.hashtags)
    assert validate_content(platform=platform, caption=written.caption, hashtags=written.hashtags,
                            image_sizes=[(1600, 900)] if platform == "x" else [(1080, 1350)]) == []
    assert urls_in(text) == []
    return text


def test_a_normal_reply_is_enforced_and_the_request_speaks_the_protocol(mira, model_settings):
    reply = "New drop! Our running shoe is here, 20% off at https://shop.example.com/shoe this week #running #launch"
    with ChatServer(("reply", reply)) as server:
        outcome = _write(mira, server, sponsored=True, settings=model_settings)
    written = outcome.captions[0]
    assert not outcome.service_error and not written.fallback_reason
    assert written.writer == "openai:test-model"
    text = _assert_keeps_the_rules(written, "x")
    assert written.caption.startswith("New drop! Our running shoe is here, 20% off")
    assert "#ad" in written.hashtags and written.paid_partnership  # sponsored
    assert "links removed" in written.repairs and "disclosure label added" in written.repairs
    assert caption_length("x", text) <= 280

    request, headers = server.requests[0], server.headers[0]
    assert request["path"] == "/v1/chat/completions" and request["model"] == "test-model"
    assert request["stream"] is False and headers["Authorization"] == "Bearer sk-test"
    system = request["messages"][0]["content"]
    for expected in ("Mira", "age 27", "Runner and coffee person", "playful, short sentences", "street style",
                     "cheap", "paid partnership", "#ad", "280", "Sunrise laps, then espresso", "English"):
        assert expected in system
    assert SCENE in request["messages"][-1]["content"]


def test_a_429_is_retried_with_backoff(mira, model_settings):
    with ChatServer(("status", 429), ("reply", "Fresh laces, fresh start.")) as server:
        outcome = _write(mira, server, settings=model_settings)
    assert len(server.requests) == 2
    written = outcome.captions[0]
    assert written.writer == "openai:test-model" and written.caption.startswith("Fresh laces, fresh start.")
    _assert_keeps_the_rules(written, "x")


def test_a_server_that_keeps_failing_leaves_the_template_caption_with_a_clear_error(mira, model_settings):
    with ChatServer(("status", 500)) as server:
        outcome = _write(mira, server, sponsored=True, settings=model_settings)
    assert len(server.requests) == 3  # one try and two retries
    assert "failed 3 times (HTTP 500" in outcome.service_error and server.url in outcome.service_error
    written = outcome.captions[0]
    assert written.writer == "template" and "template caption was used" in written.fallback_reason
    _assert_keeps_the_rules(written, "x")
    assert "#ad" in written.hashtags  # the template caption keeps the rules too


def test_a_timeout_is_retried_then_reported(mira, model_settings):
    model_settings.CAPTION_LLM_TIMEOUT = 0.2
    started = time.monotonic()
    with ChatServer(("sleep", 1.0)) as server:
        outcome = _write(mira, server, settings=model_settings)
    assert time.monotonic() - started < 5
    assert len(server.requests) == 3 and "timed out" in outcome.service_error
    assert outcome.captions[0].writer == "template"
    _assert_keeps_the_rules(outcome.captions[0], "x")


def test_a_server_that_is_not_there(mira, model_settings):
    with ChatServer() as server:
        url = server.url
    model_settings.CAPTION_LLM_URL = url
    outcome = captions_write(persona=mira, scene=SCENE, platform="x", seed=7)
    assert "unreachable" in outcome.service_error and outcome.captions[0].writer == "template"


def test_malformed_json_falls_back_to_the_template_with_the_reason(mira, model_settings):
    with ChatServer(("raw", b'{"choices": [{"message": ')) as server:
        outcome = _write(mira, server, settings=model_settings)
    written = outcome.captions[0]
    assert not outcome.service_error  # the server is up; its answer was unusable
    assert written.writer == "template" and "malformed JSON" in written.fallback_reason
    _assert_keeps_the_rules(written, "x")


def test_a_reply_that_drops_the_label_gets_it_back_once(mira, model_settings):
    second_reply = f"{LABEL}: new shoes. {LABEL.upper()}"
    with ChatServer(("reply", "Ran 10k before breakfast."), ("reply", second_reply)) as server:
        outcome = _write(mira, server, platform="instagram", n=2, settings=model_settings)
    first, second = outcome.captions
    assert first.caption == f"Ran 10k before breakfast.\n\n{LABEL}" and first.hashtags == ["#running"]
    for written in (first, second):
        assert written.writer == "openai:test-model"
        _assert_keeps_the_rules(written, "instagram")
    assert "disclosure label added" in first.repairs
    assert "disclosure label placed once" in second.repairs and "new shoes." in second.caption


def test_a_reply_of_10000_characters_is_cut_to_the_platform(mira, model_settings):
    words = "Mile after mile the city wakes up around me and the new shoes feel like clouds " * 200
    reply = words[:10_000]
    assert len(reply) == 10_000
    for platform, cap in (("x", 280), ("instagram", 2200), ("threads", 500)):
        with ChatServer(("reply", reply)) as server:
            outcome = _write(mira, server, platform=platform, sponsored=True, settings=model_settings)
        written = outcome.captions[0]
        assert written.writer == "openai:test-model", written.fallback_reason
        text = _assert_keeps_the_rules(written, platform)
        assert caption_length(platform, text) <= cap and "…" in written.caption
        assert any(r.startswith("shortened") for r in written.repairs)
        assert "#ad" in hashtags_in(text)


def test_a_reply_with_a_banned_word_is_refused(mira, model_settings):
    with ChatServer(("reply", "Cheap thrills, fast miles.")) as server:
        outcome = _write(mira, server, settings=model_settings)
    written = outcome.captions[0]
    assert written.writer == "template" and 'banned word "cheap"' in written.fallback_reason
    assert "cheap" not in written.caption.lower()


def test_naming_a_workspace_brand_makes_it_a_paid_partnership(mira, model_settings):
    with ChatServer(("reply", "Loving my new Stride trainers.")) as server:
        outcome = _write(mira, server, platform="instagram", settings=model_settings)
    written = outcome.captions[0]
    assert written.paid_partnership and written.hashtags[0] == "#ad"
    assert "#ad added (names the brand Stride)" in written.repairs


# --- What real models reply, through the openai client --------------------------------------------------------


def test_structured_output_is_asked_for_and_reasoning_models_are_told_not_to_think_aloud(mira, model_settings):
    reply = '{"caption": "Sunrise laps, then espresso.", "hashtags": ["dawnpatrol"], "language": "en"}'
    with ChatServer(("reply", reply)) as server:
        outcome = _write(mira, server, platform="instagram", settings=model_settings)
    request = server.requests[0]
    assert request["response_format"]["type"] == "json_schema"
    schema = request["response_format"]["json_schema"]["schema"]
    assert set(schema["required"]) == {"caption", "hashtags", "language"}
    assert request["chat_template_kwargs"] == {"enable_thinking": False} and request["reasoning_effort"] == "none"
    written = outcome.captions[0]
    assert outcome.mode == written.mode == "structured" and len(server.requests) == 1
    assert written.caption == f"Sunrise laps, then espresso.\n\n{LABEL}"
    assert written.hashtags == ["#dawnpatrol", "#running"]


def test_a_server_without_structured_output_is_asked_in_plain_text(mira, model_settings):
    with ChatServer(("reply", "Sunrise laps, then espresso."), refuses=("response_format",)) as server:
        outcome = _write(mira, server, platform="instagram", n=2, settings=model_settings)
    # Asked with everything, then without the thinking switch, then plain; the second caption asks plain at once.
    asked = [("response_format" in r, "chat_template_kwargs" in r) for r in server.requests]
    assert asked == [(True, True), (True, False), (False, False), (False, False)]
    assert outcome.mode == "plain" and not outcome.service_error
    assert [w.caption for w in outcome.captions] == [f"Sunrise laps, then espresso.\n\n{LABEL}"] * 2
    assert {w.mode for w in outcome.captions} == {"plain"}


def test_a_server_that_refuses_unknown_fields_keeps_structured_output(mira, model_settings):
    reply = '{"caption": "Sunrise laps, then espresso.", "hashtags": [], "language": "en"}'
    with ChatServer(("reply", reply), refuses=("chat_template_kwargs", "reasoning_effort")) as server:
        outcome = _write(mira, server, platform="instagram", settings=model_settings)
    assert len(server.requests) == 2 and "response_format" in server.requests[1]
    assert outcome.mode == "structured" and outcome.captions[0].caption.startswith("Sunrise laps, then espresso.")


def test_a_bad_request_for_another_reason_is_reported_after_the_plain_try(mira, model_settings):
    with ChatServer(("status", 400)) as server:
        outcome = _write(mira, server, settings=model_settings)
    assert len(server.requests) == 3 and "refused the request (HTTP 400: status 400)" in outcome.service_error
    assert outcome.captions[0].writer == "template"


def test_reasoning_is_read_as_reasoning_never_as_the_caption(mira, model_settings):
    thoughts = "Mira is playful; the user wants something short about the run."
    answers = [("reasoning", (thoughts, "<think>Keep it short.</think>\n\nSunrise laps, then espresso.")),
               ("length", "<think>\nOkay, the user wants a caption for Mira. Let me think about")]
    with ChatServer(*answers) as server:
        outcome = _write(mira, server, platform="instagram", n=2, settings=model_settings)
    first, second = outcome.captions
    assert first.caption == f"Sunrise laps, then espresso.\n\n{LABEL}" and "reasoning removed" in first.repairs
    assert "user wants" not in first.caption
    assert second.writer == "template" and "cut off by the token limit" in second.fallback_reason
    assert "user wants" not in second.caption


def test_options_in_one_reply_become_separate_alternatives(mira, model_settings):
    reply = ("Here are two options:\n\n1. Sunrise laps, then espresso.\n2. Ten kilometres before breakfast, zero "
             "regrets.\n\nLet me know which one you like!")
    with ChatServer(("reply", reply)) as server:
        outcome = _write(mira, server, platform="instagram", settings=model_settings)
    assert [w.caption for w in outcome.captions] == [
        f"Sunrise laps, then espresso.\n\n{LABEL}", f"Ten kilometres before breakfast, zero regrets.\n\n{LABEL}"]
    assert all(w.writer == "openai:test-model" and "2 options kept as separate captions" in w.repairs
               for w in outcome.captions)


def test_a_refusal_keeps_the_template_caption_with_the_reason(mira, model_settings):
    with ChatServer(("refusal", "I can't assist with that request."), ("reply", "I'm sorry, but I can't help.")) as s:
        outcome = _write(mira, s, platform="instagram", n=2, settings=model_settings)
    for written in outcome.captions:
        assert written.writer == "template" and "the model declined" in written.fallback_reason
        _assert_keeps_the_rules(written, "instagram")
    assert outcome.mode == "structured"  # the model was asked, and answered: its answers were refused


def test_a_faked_label_is_replaced_by_the_real_one_once(mira, model_settings):
    fake = "AI\u200b-gеnerated virtual influencer"  # a zero-width space and a Cyrillic е
    with ChatServer(("reply", f"Sunrise laps, then espresso.\n\n{fake}")) as server:
        outcome = _write(mira, server, platform="instagram", settings=model_settings)
    written = outcome.captions[0]
    assert written.caption == f"Sunrise laps, then espresso.\n\n{LABEL}"
    assert "look-alike of the disclosure label replaced" in written.repairs


TABLE_THROUGH_THE_SERVER = ["think block", "orphan closing tag (template opened it)", "gpt-oss channels",
                            "preamble the old pattern missed", "fenced JSON", "JSON options", "numbered options",
                            "sign-offs", "refusal", "emoji only", "German for an English caption",
                            "zero-width space in the label", "Cyrillic letters in the label", "placeholder"]


@pytest.mark.parametrize("case", TABLE_THROUGH_THE_SERVER)
def test_real_shaped_replies_through_the_client(case, model_settings, db):
    reply, language, _, expected = CASES[case]
    persona = PersonaFactory(disclosure_label="AI-generated", default_hashtags=[], banned_words=[])
    with ChatServer(("reply", reply)) as server:
        model_settings.CAPTION_LLM_URL = server.url
        outcome = captions_write(persona=persona, scene=SCENE, platform="instagram", seed=1, language=language)
    if isinstance(expected, str):
        assert [(w.writer, expected in w.fallback_reason) for w in outcome.captions] == [("template", True)]
        assert label_count(outcome.captions[0].caption, "AI-generated") == 1
    else:
        assert [w.caption for w in outcome.captions] == [f"{body}\n\nAI-generated" for body in expected]
        assert {w.writer for w in outcome.captions} == {"openai:test-model"}
