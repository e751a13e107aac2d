"""Best-of-N on the pages: the generation form's option, the job's candidates (kept and rejected, with the reason)
and the review card's candidates strip with each candidate's likeness and seed."""

from __future__ import annotations

import html
import re

import pytest
from django.urls import reverse

from generation.models import CandidateStatus, GenerationJob
from scheduler.models import Post
from tests.factories import PersonaFactory
from tests.generation.test_best_of import rendered  # noqa: F401 - fixture
from tests.generation.test_likeness import human  # noqa: F401 - fixture
from tests.generation.workflow_fixtures import after_commit  # noqa: F401 - fixture

pytestmark = pytest.mark.django_db


def _figures(page: str) -> list[str]:
    return re.findall(r'<figure class="candidate (\w+)"', page)


def test_the_job_shows_every_candidate_with_why_it_was_rejected(client, marketer, rendered):  # noqa: F811
    client.force_login(marketer)
    for url in (reverse("personas:detail", args=[rendered.persona_id]),
                reverse("generation:job_partial", args=[rendered.pk])):
        page = html.unescape(client.get(url).content.decode())
        assert sorted(_figures(page)) == ["kept"] * 2 + ["rejected"] * 4
        assert "best of 3 (6 candidates)" in page
        for image in rendered.images.filter(candidate_status=CandidateStatus.REJECTED):
            assert image.selection_reason in page and f"seed {image.seed}" in page
        assert "Variant 1, candidate 3 of 3" in page


def test_the_review_card_shows_the_candidates_of_its_variant(client, reviewer, rendered):  # noqa: F811
    client.force_login(reviewer)
    page = html.unescape(client.get("/review/").content.decode())
    kept = rendered.images.get(variant=0, candidate_status=CandidateStatus.KEPT)
    post = Post.objects.get(images__generated_image=kept)
    card = page.split(f'id="post-{post.pk}"', 1)[1].split("</article>", 1)[0]
    assert "Candidates" in card and "best of 3" in card
    assert _figures(card) == ["rejected", "kept", "rejected"]  # by candidate number
    for image in rendered.images.filter(variant=0):
        assert f"seed {image.seed}" in card
    other = rendered.images.get(variant=0, candidate=0)
    assert f"likeness {other.likeness_score:.2f}" in card and other.selection_reason in card
    assert "No face" in card  # the third candidate had none


def test_the_form_offers_best_of_and_refuses_too_many_images(client, marketer, workspace):
    client.force_login(marketer)
    persona = PersonaFactory(workspace=workspace, created_by=marketer, is_human_face=True)
    page = client.get(reverse("personas:detail", args=[persona.pk])).content.decode()
    assert 'name="best_of"' in page and "render time" in page
    response = client.post(reverse("generation:generate", args=[persona.pk]), {
        "scene": "at a cafe", "platform": "instagram", "num_variants": "4", "best_of": "3",
        "allow_base_model": "on",
    })
    assert response.status_code == 400
    assert "4 variants x best of 3 is 12 images" in html.unescape(response.content.decode())
    assert not GenerationJob.objects.exists()
    response = client.post(reverse("generation:generate", args=[persona.pk]), {
        "scene": "at a cafe", "platform": "instagram", "num_variants": "2", "best_of": "3",
        "allow_base_model": "on",
    })
    assert response.status_code == 302
    assert GenerationJob.objects.get().best_of == 3


def test_a_persona_that_is_not_a_human_face_gets_no_best_of_field(client, marketer, persona):
    client.force_login(marketer)
    page = client.get(reverse("personas:detail", args=[persona.pk])).content.decode()
    assert 'name="best_of"' not in page
