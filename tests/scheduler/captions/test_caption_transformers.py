"""The local transformers caption writer, with a tiny randomly initialised GPT-2 and a tokenizer built here (no
hub), through the real loading code. Its replies are gibberish; the rules still make them captions."""

from __future__ import annotations

import pytest

from core.captions import label_count, validate_content
from generation.engine.tiny_text_model import build_tiny_causal_lm
from scheduler.captions import backends
from scheduler.captions.writer import captions_write
from tests.factories import PersonaFactory

LABEL = "AI-generated virtual influencer"


@pytest.fixture(scope="session")
def tiny_lm(tmp_path_factory):
    return build_tiny_causal_lm(tmp_path_factory.mktemp("caption-lm") / "tiny-lm")


@pytest.fixture
def lm_settings(settings, tiny_lm):
    settings.CAPTION_WRITER = "transformers"
    settings.CAPTION_LLM_PATH = str(tiny_lm)
    return settings


@pytest.mark.django_db
def test_the_tiny_model_writes_captions_that_keep_the_rules(lm_settings, tiny_lm):
    persona = PersonaFactory(disclosure_label=LABEL, default_hashtags=["#running"])
    outcome = captions_write(persona=persona, scene="morning run by the harbour", platform="x", seed=3, n=2,
                             sponsored=True)
    assert not outcome.service_error
    for written in outcome.captions:
        # Either the model's (repaired) caption or, when nothing of it could be kept, the template's with a reason.
        assert written.writer == "transformers:tiny-lm" or written.fallback_reason
        assert label_count(written.caption, LABEL) == 1 and written.caption.endswith(LABEL)
        assert "#ad" in written.hashtags and written.paid_partnership
        assert validate_content(platform="x", caption=written.caption, hashtags=written.hashtags,
                                image_sizes=[(1600, 900)]) == []
    assert any(w.writer == "transformers:tiny-lm" for w in outcome.captions)


@pytest.mark.django_db
def test_the_model_is_loaded_once_per_process(lm_settings, tiny_lm):
    first = backends.causal_lm_load(str(tiny_lm))
    persona = PersonaFactory()
    captions_write(persona=persona, scene="coffee", platform="instagram", seed=1)
    assert backends.causal_lm_load(str(tiny_lm)) is first
    assert list(backends._MODELS) == [str(tiny_lm.resolve())]


@pytest.mark.django_db
def test_a_missing_model_folder_is_a_clear_error_and_the_template_stays(settings, tmp_path):
    settings.CAPTION_WRITER = "transformers"
    settings.CAPTION_LLM_PATH = str(tmp_path / "nothing-here")
    outcome = captions_write(persona=PersonaFactory(), scene="coffee", platform="instagram", seed=1)
    assert "does not exist" in outcome.service_error and outcome.captions[0].writer == "template"
