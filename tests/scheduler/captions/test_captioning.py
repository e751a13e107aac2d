"""Captions on drafted posts: the writer's alternatives kept with each post, the model's captions enforced, a
server that is down leaving the template captions and a clear job error, caption memory, languages (one post per
locale, bilingual, the workspace's label table), and rewrites through the API."""

from __future__ import annotations

import pytest

from core.access import Role
from core.captions import label_count
from core.errors import PermissionDenied
from generation.jobs import render as worker
from generation.models import CaptionMode, DraftingStatus, GenerationJob
from personas.models import CaptionLanguageMode
from scheduler import services as scheduler_services
from scheduler.captions import alternatives as captioning
from scheduler.models import CaptionAlternative, CaptionStatus, Post, PostStatus, PostTransition
from tests.conftest import client_for
from tests.factories import MembershipFactory, PostFactory, PostImageFactory
from tests.generation.workflow_fixtures import *  # noqa: F403 - fixtures
from tests.generation.workflow_fixtures import _job
from tests.scheduler.captions.chat_server import ChatServer

LABEL = "AI-generated virtual influencer"


def _run(job: GenerationJob, after_commit) -> GenerationJob:
    with after_commit():
        worker.generation_job_run(job_id=job.pk)
    job.refresh_from_db()
    return job


@pytest.fixture
def model_settings(settings):
    settings.CAPTION_WRITER = "openai"
    settings.CAPTION_LLM_MODEL = "test-model"
    settings.CAPTION_LLM_TIMEOUT = 0.5
    settings.CAPTION_LLM_RETRIES = 2
    settings.CAPTION_ALTERNATIVES = 3
    return settings


def test_template_drafts_keep_n_alternatives(persona, marketer, fake_engine, after_commit, settings):
    settings.CAPTION_ALTERNATIVES = 3
    job = _run(_job(persona, marketer), after_commit)
    assert job.drafting_status == DraftingStatus.DRAFTED and not job.caption_error
    assert job.caption_mode == CaptionMode.TEMPLATE
    for post in Post.objects.filter(persona=persona):
        alternatives = list(post.caption_alternatives.all())
        assert len(alternatives) == 3 and {a.writer for a in alternatives} == {"template"}
        assert alternatives[0].caption == post.caption  # the first one is the post's caption
        assert len({a.caption for a in alternatives}) > 1
        assert all(label_count(a.caption, persona.disclosure_label) == 1 for a in alternatives)


def test_model_captions_on_a_sponsored_job(persona, marketer, fake_engine, after_commit, model_settings):
    reply = "Launch day: the new running shoe is 20% off this week. Visit www.example.com"
    with ChatServer(("reply", reply)) as server:
        model_settings.CAPTION_LLM_URL = server.url
        job = _run(_job(persona, marketer, platform="x", is_sponsored=True,
                        scene="launching our new running shoe, 20% off this week"), after_commit)
    assert job.drafting_status == DraftingStatus.DRAFTED and not job.caption_error
    assert job.caption_mode == CaptionMode.PLAIN  # asked for JSON, the server answered in plain text
    posts = list(Post.objects.filter(persona=persona))
    assert len(posts) == 2 and len(server.requests) == 2 * 3  # 3 alternatives per post
    for post in posts:
        assert post.caption.startswith("Launch day: the new running shoe is 20% off this week.")
        assert "example.com" not in post.caption and label_count(post.caption, persona.disclosure_label) == 1
        assert post.is_sponsored and post.paid_partnership and "#ad" in post.hashtags
        assert post.caption_alternatives.first().writer == "openai:test-model"


def test_a_server_that_is_down_leaves_template_captions_and_a_job_error(
    persona, marketer, fake_engine, after_commit, model_settings
):
    with ChatServer(("status", 500)) as server:
        model_settings.CAPTION_LLM_URL = server.url
        job = _run(_job(persona, marketer), after_commit)
    assert len(server.requests) == 3  # tried once (with its retries) per drafting run, not once per caption
    assert job.drafting_status == DraftingStatus.DRAFTED and not job.drafting_error
    assert "failed 3 times (HTTP 500" in job.caption_error and "keep their template captions" in job.caption_error
    assert job.caption_mode == CaptionMode.TEMPLATE
    posts = list(Post.objects.filter(persona=persona))
    assert len(posts) == 2 and all(p.status == PostStatus.IN_REVIEW for p in posts)
    for post in posts:
        alternative = post.caption_alternatives.first()
        assert alternative.writer == "template" and "HTTP 500" in alternative.fallback_reason
    body = client_for(marketer).get(f"/api/v1/generation-jobs/{job.pk}/").json()
    assert body["caption_error"] == job.caption_error


def test_what_a_reasoning_model_says_around_its_options_never_reaches_a_post(
    persona, marketer, fake_engine, after_commit, model_settings
):
    model_settings.CAPTION_ALTERNATIVES = 1
    reply = ("<think>Mira is warm and playful; two short options.</think>\nOkay, here's a caption for Mira:\n\n"
             "Option 1: Golden hour on the pier. Option 2: Salt air, slow steps.\n\nLet me know which one you like!")
    with ChatServer(("reply", reply), refuses=("response_format",)) as server:  # a server without structured output
        model_settings.CAPTION_LLM_URL = server.url
        job = _run(_job(persona, marketer), after_commit)
    assert job.drafting_status == DraftingStatus.DRAFTED and not job.caption_error
    assert job.caption_mode == CaptionMode.PLAIN
    posts = list(Post.objects.filter(persona=persona))
    assert len(posts) == 2
    for post in posts:
        assert post.caption == f"Golden hour on the pier.\n\n{LABEL}"
        assert [a.caption for a in post.caption_alternatives.all()] == [
            f"Golden hour on the pier.\n\n{LABEL}", f"Salt air, slow steps.\n\n{LABEL}"]
        assert "reasoning removed" in post.caption_alternatives.first().repairs
    body = client_for(marketer).get(f"/api/v1/generation-jobs/{job.pk}/").json()
    assert body["caption_mode"] == "plain"


def test_a_refusal_leaves_the_template_caption_with_the_reason(persona, marketer, fake_engine, after_commit,
                                                               model_settings):
    model_settings.CAPTION_ALTERNATIVES = 1
    refusal = '{"caption": "I\'m sorry, but I can\'t help with that.", "hashtags": [], "language": "en"}'
    with ChatServer(("reply", refusal)) as server:
        model_settings.CAPTION_LLM_URL = server.url
        job = _run(_job(persona, marketer), after_commit)
    assert job.caption_mode == CaptionMode.STRUCTURED and not job.caption_error
    for post in Post.objects.filter(persona=persona):
        alternative = post.caption_alternatives.get()
        assert alternative.writer == "template" and "the model declined" in alternative.fallback_reason
        assert post.caption == alternative.caption and label_count(post.caption, LABEL) == 1
        assert "sorry" not in post.caption.lower()


def test_caption_memory_sends_recent_approved_captions(persona, marketer, reviewer, fake_engine, after_commit,
                                                       model_settings):
    persona.caption_examples = ["Liked one: espresso first."]
    persona.save()
    for i in range(7):
        post = PostFactory(persona=persona, status=PostStatus.IN_REVIEW, created_by=marketer,
                           caption=f"Approved number {i}. {LABEL}")
        PostImageFactory(post=post)
        scheduler_services.post_approve(actor=reviewer, post_id=post.pk)
    model_settings.CAPTION_MEMORY = 5
    model_settings.CAPTION_ALTERNATIVES = 1
    with ChatServer(("reply", "New day.")) as server:
        model_settings.CAPTION_LLM_URL = server.url
        _run(_job(persona, marketer, num_variants=1), after_commit)
    system = server.requests[0]["messages"][0]["content"]
    assert "Liked one: espresso first." in system
    assert [f"Approved number {i}." in system for i in range(7)] == [False, False] + [True] * 5
    assert LABEL not in system.split("liked, for voice")[1]  # examples without their label


def test_a_german_persona_gets_german_captions_with_the_german_label(
    persona, marketer, reviewer, fake_engine, after_commit
):
    persona.caption_languages = ["de"]
    persona.save()
    job = _run(_job(persona, marketer), after_commit)
    posts = list(Post.objects.filter(persona=persona))
    assert job.drafting_status == DraftingStatus.DRAFTED and len(posts) == 2
    for post in posts:
        assert post.language == "de" and post.disclosure_label == "KI-generiert"
        assert post.caption.endswith("KI-generiert") and label_count(post.caption, "KI-generiert") == 1
        assert LABEL not in post.caption
        assert any(word in post.caption for word in ("Solche Tage", "Mehr davon", "Das behalte", "Kleine Momente",
                                                     "Heute bei mir"))
    # Review checks the label of the caption's language.
    assert scheduler_services.post_approve(actor=reviewer, post_id=posts[0].pk).status == PostStatus.APPROVED


def test_a_german_model_caption_missing_its_label_is_repaired(persona, marketer, fake_engine, after_commit,
                                                               model_settings):
    persona.caption_languages = ["de"]
    persona.save()
    persona.workspace.disclosure_labels = {"de": "KI-erstellt"}  # the workspace's own table
    persona.workspace.save()
    with ChatServer(("reply", "Kaffee, Sonne und ein neuer Tag. AI-generated")) as server:
        model_settings.CAPTION_LLM_URL = server.url
        _run(_job(persona, marketer), after_commit)
    assert "Write in German." in server.requests[0]["messages"][0]["content"]
    for post in Post.objects.filter(persona=persona):
        assert post.caption == "Kaffee, Sonne und ein neuer Tag. AI-generated\n\nKI-erstellt"
        assert "disclosure label added" in post.caption_alternatives.first().repairs


def test_one_post_per_locale_or_one_bilingual_post(persona, marketer, fake_engine, after_commit):
    persona.caption_languages = ["de", "en"]
    persona.save()
    job = _run(_job(persona, marketer), after_commit)
    assert sorted(Post.objects.values_list("language", flat=True)) == ["de", "de", "en", "en"]
    assert job.drafting_status == DraftingStatus.DRAFTED

    Post.objects.all().delete()
    persona.caption_language_mode = CaptionLanguageMode.BILINGUAL
    persona.save()
    _run(_job(persona, marketer, seed=900), after_commit)
    posts = list(Post.objects.all())
    assert len(posts) == 2 and {p.language for p in posts} == {"de+en"}
    for post in posts:
        assert label_count(post.caption, "KI-generiert") == 1 and label_count(post.caption, LABEL) == 1
        assert post.caption.endswith(f"KI-generiert · {LABEL}")


def _review_post(persona, marketer, fake_engine, after_commit) -> Post:
    persona.caption_languages = ["de"]
    persona.save()
    _run(_job(persona, marketer, num_variants=1), after_commit)
    return Post.objects.get()


def test_rewrite_through_the_api_and_use_it(persona, marketer, reviewer, outsider, fake_engine, after_commit):
    post = _review_post(persona, marketer, fake_engine, after_commit)
    api = client_for(marketer)
    with after_commit():
        response = api.post(f"/api/v1/posts/{post.pk}/caption-rewrite/", {"instruction": "question"}, format="json")
    assert response.status_code == 202, response.json()
    alternative = CaptionAlternative.objects.get(pk=response.json()["id"])
    assert alternative.status == CaptionStatus.READY and alternative.instruction == "question"
    assert "Was meint ihr?" in alternative.caption and alternative.caption.endswith("KI-generiert")
    assert label_count(alternative.caption, "KI-generiert") == 1

    listed = api.get(f"/api/v1/posts/{post.pk}/caption-alternatives/").json()
    assert [row["id"] for row in listed][-1] == alternative.pk and len(listed) == 4

    response = api.post(f"/api/v1/posts/{post.pk}/caption-alternatives/{alternative.pk}/use/")
    assert response.status_code == 200, response.json()
    post.refresh_from_db()
    assert post.caption == alternative.caption and post.status == PostStatus.IN_REVIEW
    swap = PostTransition.objects.filter(post=post).last()
    assert swap.actor == marketer and f"rewrite \"question\" {alternative.pk}" in swap.comment

    # Bad input, other workspaces, reviewers and decided posts.
    assert api.post(f"/api/v1/posts/{post.pk}/caption-rewrite/", {"instruction": "louder"},
                    format="json").status_code == 400
    assert client_for(outsider).post(f"/api/v1/posts/{post.pk}/caption-rewrite/", {"instruction": "shorter"},
                                     format="json").status_code == 404
    assert client_for(outsider).get(f"/api/v1/posts/{post.pk}/caption-alternatives/").status_code == 404
    assert client_for(reviewer).post(f"/api/v1/posts/{post.pk}/caption-rewrite/", {"instruction": "shorter"},
                                     format="json").status_code == 403
    assert api.post(f"/api/v1/posts/{post.pk}/caption-alternatives/999999/use/").status_code == 404
    colleague = MembershipFactory(workspace=persona.workspace, role=Role.REVIEWER).user
    scheduler_services.post_approve(actor=colleague, post_id=post.pk)
    response = api.post(f"/api/v1/posts/{post.pk}/caption-rewrite/", {"instruction": "shorter"}, format="json")
    assert response.status_code == 409


def test_whoever_swapped_the_caption_cannot_approve_it(persona, marketer, fake_engine, after_commit):
    post = _review_post(persona, marketer, fake_engine, after_commit)
    admin = MembershipFactory(workspace=persona.workspace, role=Role.ADMIN).user
    other = post.caption_alternatives.last()
    captioning.caption_alternative_use(actor=admin, post_id=post.pk, alternative_id=other.pk)
    with pytest.raises(PermissionDenied, match="submitted post"):
        scheduler_services.post_approve(actor=admin, post_id=post.pk)


def test_a_rewrite_with_the_model_down_is_the_template_rewrite(persona, marketer, fake_engine, after_commit,
                                                              model_settings):
    model_settings.CAPTION_WRITER = "template"
    post = _review_post(persona, marketer, fake_engine, after_commit)
    model_settings.CAPTION_WRITER = "openai"
    with ChatServer(("status", 503)) as server, after_commit():
        model_settings.CAPTION_LLM_URL = server.url
        alternative = captioning.caption_rewrite_request(actor=marketer, post_id=post.pk, instruction="shorter")
    alternative.refresh_from_db()
    assert alternative.status == CaptionStatus.READY and alternative.writer == "template"
    assert "HTTP 503" in alternative.fallback_reason and alternative.caption.endswith("KI-generiert")
    assert len(alternative.caption) < len(post.caption)
    # Written once: a redelivered message changes nothing.
    again = captioning.caption_alternative_write(alternative_id=alternative.pk)
    assert (again.status, again.caption) == (CaptionStatus.READY, alternative.caption)


def test_translate_a_draft_into_another_caption_language(persona, marketer, reviewer, fake_engine, after_commit,
                                                         model_settings):
    model_settings.CAPTION_WRITER = "template"
    persona.caption_languages = ["de", "en"]
    persona.save()
    _run(_job(persona, marketer, num_variants=1), after_commit)
    german = Post.objects.get(language="de")
    api = client_for(marketer)
    url = f"/api/v1/posts/{german.pk}/caption-rewrite/"
    assert api.post(url, {"instruction": "translate", "language": "de"}, format="json").status_code == 400
    assert api.post(url, {"instruction": "translate"}, format="json").status_code == 400

    # With a model: it is asked to translate the caption, without its German label; the English label closes it.
    model_settings.CAPTION_WRITER = "openai"
    with ChatServer(("reply", "Coffee, sun and a new day.")) as server, after_commit():
        model_settings.CAPTION_LLM_URL = server.url
        response = api.post(url, {"instruction": "translate", "language": "EN"}, format="json")
    assert response.status_code == 202, response.json()
    ask = server.requests[0]["messages"][-1]["content"]
    assert "Translate it into English" in ask and "KI-generiert" not in ask
    alternative = CaptionAlternative.objects.get(pk=response.json()["id"])
    assert alternative.language == "en" and alternative.caption == f"Coffee, sun and a new day.\n\n{LABEL}"

    api.post(f"/api/v1/posts/{german.pk}/caption-alternatives/{alternative.pk}/use/")
    german.refresh_from_db()
    assert (german.language, german.disclosure_label, german.caption) == ("en", LABEL, alternative.caption)
    assert scheduler_services.post_approve(actor=reviewer, post_id=german.pk).status == PostStatus.APPROVED

    # Without a model the template writer drafts the scene anew in the other language.
    model_settings.CAPTION_WRITER = "template"
    english = Post.objects.exclude(pk=german.pk).get()
    with after_commit():
        alternative = captioning.caption_rewrite_request(actor=marketer, post_id=english.pk, instruction="translate",
                                                         language="de")
    alternative.refresh_from_db()
    assert alternative.caption.endswith("KI-generiert") and LABEL not in alternative.caption


def test_draft_again_makes_only_the_missing_languages(persona, marketer, fake_engine, after_commit):
    from scheduler.drafting import services

    persona.caption_languages = ["de", "en"]
    persona.save()
    persona.workspace.disclosure_labels = {"de": "#KI #generiert"}  # two hashtags: Threads allows one
    persona.workspace.save()
    job = _run(_job(persona, marketer, platform="threads"), after_commit)
    assert job.drafting_status == DraftingStatus.FAILED and "(de)" in job.drafting_error
    assert sorted(Post.objects.values_list("language", flat=True)) == ["en", "en"]

    persona.workspace.disclosure_labels = {"de": "KI-generiert"}
    persona.workspace.save()
    for _ in range(2):  # a second call drafts nothing twice
        with after_commit():  # the queued drafting task runs eagerly at the commit
            services.generation_job_draft_again(actor=marketer, job_id=job.pk)
    job.refresh_from_db()
    assert job.drafting_status == DraftingStatus.DRAFTED
    assert sorted(Post.objects.values_list("language", flat=True)) == ["de", "de", "en", "en"]


def test_a_rewrite_that_offers_options_keeps_each_as_an_alternative(persona, marketer, fake_engine, after_commit,
                                                                    model_settings):
    model_settings.CAPTION_WRITER = "template"
    post = _review_post(persona, marketer, fake_engine, after_commit)
    model_settings.CAPTION_WRITER = "openai"
    reply = "1. Goldene Stunde am Pier, ganz ohne Eile.\n2. Salzige Luft und langsame Schritte am Wasser."
    with ChatServer(("reply", reply)) as server, after_commit():
        model_settings.CAPTION_LLM_URL = server.url
        alternative = captioning.caption_rewrite_request(actor=marketer, post_id=post.pk, instruction="shorter")
    alternative.refresh_from_db()
    assert alternative.status == CaptionStatus.READY and alternative.writer == "openai:test-model"
    assert alternative.caption == "Goldene Stunde am Pier, ganz ohne Eile.\n\nKI-generiert"
    other = CaptionAlternative.objects.filter(post=post, instruction="shorter").exclude(pk=alternative.pk).get()
    assert other.status == CaptionStatus.READY and other.requested_by == marketer
    assert other.caption == "Salzige Luft und langsame Schritte am Wasser.\n\nKI-generiert"
