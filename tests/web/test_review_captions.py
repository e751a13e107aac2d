"""The review page's caption alternatives and rewrite action (server side; the browser test drives them too)."""

from __future__ import annotations

import pytest
from django.urls import reverse

from core.access import Role
from generation.jobs import render as worker
from scheduler.models import CaptionAlternative, CaptionStatus, Post, PostStatus
from tests.factories import MembershipFactory
from tests.generation.workflow_fixtures import *  # noqa: F403 - fixtures
from tests.generation.workflow_fixtures import _job


@pytest.fixture
def drafted(persona, marketer, fake_engine, after_commit, settings):
    settings.CAPTION_ALTERNATIVES = 3
    with after_commit():
        worker.generation_job_run(job_id=_job(persona, marketer, num_variants=1).pk)
    return Post.objects.get()


def test_the_review_page_lists_alternatives_and_offers_rewrites(client, marketer, drafted):
    client.force_login(marketer)
    page = client.get(reverse("review_queue")).content.decode()
    alternatives = list(drafted.caption_alternatives.all())
    assert "Caption alternatives" in page and len(alternatives) == 3
    for alternative in alternatives[1:]:
        assert reverse("post_caption_use", args=[drafted.pk, alternative.pk]) in page
    assert reverse("post_caption_use", args=[drafted.pk, alternatives[0].pk]) not in page  # the one in use
    assert reverse("post_caption_rewrite", args=[drafted.pk]) in page and "Add a question" in page


def test_rewrite_and_use_from_the_page(client, marketer, drafted, after_commit):
    client.force_login(marketer)
    with after_commit():
        response = client.post(reverse("post_caption_rewrite", args=[drafted.pk]), {"instruction": "question"})
    assert response.status_code == 302 and response["Location"].endswith(f"#post-{drafted.pk}")
    rewrite = CaptionAlternative.objects.get(post=drafted, instruction="question")
    assert rewrite.status == CaptionStatus.READY and "What do you think?" in rewrite.caption
    response = client.post(reverse("post_caption_use", args=[drafted.pk, rewrite.pk]))
    assert response.status_code == 302
    drafted.refresh_from_db()
    assert drafted.caption == rewrite.caption and drafted.status == PostStatus.IN_REVIEW

    bad = client.post(reverse("post_caption_rewrite", args=[drafted.pk]), {"instruction": "louder"})
    assert bad.status_code == 400 and "Unknown rewrite" in bad.content.decode()


def test_reviewers_and_other_workspaces_cannot_rewrite(client, persona, drafted, outsider):
    reviewer = MembershipFactory(workspace=persona.workspace, role=Role.REVIEWER).user
    client.force_login(reviewer)
    page = client.get(reverse("review_queue")).content.decode()
    assert "Caption alternatives" in page and reverse("post_caption_rewrite", args=[drafted.pk]) not in page
    assert client.post(reverse("post_caption_rewrite", args=[drafted.pk]),
                       {"instruction": "shorter"}).status_code == 403
    client.force_login(outsider)
    assert client.post(reverse("post_caption_rewrite", args=[drafted.pk]),
                       {"instruction": "shorter"}).status_code == 404
    other = drafted.caption_alternatives.last()
    assert client.post(reverse("post_caption_use", args=[drafted.pk, other.pk])).status_code == 404
    assert not CaptionAlternative.objects.filter(instruction="shorter").exists()


def test_sponsored_jobs_from_the_persona_page_and_caption_errors_on_the_job_card(
    client, persona, marketer, active_lora, fake_engine, after_commit, settings
):
    from tests.scheduler.captions.chat_server import ChatServer

    client.force_login(marketer)
    settings.CAPTION_WRITER, settings.CAPTION_LLM_RETRIES, settings.CAPTION_LLM_BACKOFF = "openai", 0, 0.01
    with ChatServer(("status", 500)) as server, after_commit():
        settings.CAPTION_LLM_URL = server.url
        response = client.post(reverse("generation:generate", args=[persona.pk]), {
            "scene": "launching our new running shoe", "platform": "instagram", "num_variants": "1",
            "is_sponsored": "on"})
    assert response.status_code == 302
    job = persona.generation_jobs.get()
    assert job.is_sponsored and "HTTP 500" in job.caption_error
    post = Post.objects.get()
    assert post.is_sponsored and post.paid_partnership and "#ad" in post.hashtags
    card = client.get(reverse("generation:job_partial", args=[job.pk])).content.decode()
    assert "keep their template captions" in card and "HTTP 500" in card


def test_the_page_offers_translations_into_the_personas_other_languages(client, persona, marketer, drafted,
                                                                        after_commit):
    client.force_login(marketer)
    assert "Translate to" not in client.get(reverse("review_queue")).content.decode()  # English only
    persona.caption_languages = ["en", "es"]
    persona.save()
    page = client.get(reverse("review_queue")).content.decode()
    assert 'value="translate:es"' in page and "Translate to Spanish" in page
    with after_commit():
        response = client.post(reverse("post_caption_rewrite", args=[drafted.pk]), {"instruction": "translate:es"})
    assert response.status_code == 302
    translation = CaptionAlternative.objects.get(post=drafted, instruction="translate")
    assert translation.language == "es" and translation.caption.endswith("Generado con IA")
    assert "Translation (Spanish)" in client.get(reverse("review_queue")).content.decode()
