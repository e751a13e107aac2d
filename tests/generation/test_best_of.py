"""Best-of-N: N candidates per variant rendered through the real worker path, scored by the real likeness code on
real photographs standing in for renders (tests/faces.py), the most on-model one kept and drafted, the others kept
as rejected candidates with their reasons; input checks; the API fields; a candidate reproduces from its record."""

from __future__ import annotations

import pytest

from core.errors import ValidationFailed
from generation import services
from generation.jobs import best_of, likeness
from generation.jobs import render as worker
from generation.models import CandidateStatus, GeneratedImage, GenerationJob, JobStatus, LikenessStatus
from scheduler import tasks
from scheduler.models import Post, PostTransition
from tests import faces
from tests.conftest import client_for
from tests.factories import PersonaFactory
from tests.generation.test_likeness import SIZE, _render, human  # noqa: F401 - fixture
from tests.generation.workflow_fixtures import *  # noqa: F403 - fixtures
from tests.generation.workflow_fixtures import _job


def _pictures():
    """In render order (image index): variant = index % 2, candidate = index // 2."""
    astronaut = faces.astronaut()
    return [
        faces.grace_hopper(),  # variant 1, candidate 1: another person
        faces.noise(512),  # variant 2, candidate 1: no face
        faces.variants(faces.astronaut())["brighter"],  # variant 1, candidate 2: the persona
        astronaut,  # variant 2, candidate 2: the persona...
        faces.noise(512, seed=1),  # variant 1, candidate 3: no face
        astronaut,  # variant 2, candidate 3: ...the same picture again: a tie
    ]


@pytest.fixture
def rendered(human, marketer, monkeypatch, after_commit):  # noqa: F811
    job = _job(human, marketer, num_variants=2, best_of=3, seed=100, width=SIZE[0], height=SIZE[1])
    return _render(job, _pictures(), monkeypatch, after_commit)


def test_each_variant_keeps_its_most_on_model_candidate_and_only_that_is_drafted(rendered):
    job = rendered
    assert job.status == JobStatus.SUCCEEDED
    images = list(job.images.order_by("index"))
    assert len(images) == 6
    assert [i.seed for i in images] == [100, 101, 102, 103, 104, 105]  # six distinct seeds, recorded
    assert [(i.variant, i.candidate) for i in images] == [(0, 0), (1, 0), (0, 1), (1, 1), (0, 2), (1, 2)]
    assert "v1-c2-seed102" in images[2].image.name
    other, noise_a, persona_a, persona_b, noise_b, tie = images
    assert persona_a.likeness_score > other.likeness_score and noise_a.likeness_score is None

    kept = {i.pk for i in images if i.candidate_status == CandidateStatus.KEPT}
    assert kept == {persona_a.pk, persona_b.pk}  # one per variant: the highest score; a tie keeps the earlier
    assert sum(i.candidate_status == CandidateStatus.REJECTED for i in images) == 4
    best = f"{persona_a.likeness_score:.2f}"
    assert persona_a.selection_reason == f"candidate 2 of 3 kept: the most on-model, likeness {best}"
    lower = f"{other.likeness_score:.2f}"
    assert other.selection_reason == f"candidate 1 of 3: likeness {lower} < kept {best} (candidate 2)"
    assert noise_b.selection_reason.startswith("candidate 3 of 3: no face; kept ")
    assert noise_a.selection_reason.startswith("candidate 1 of 3: no face; kept ")
    assert tie.likeness_score == persona_b.likeness_score
    assert "ties kept" in tie.selection_reason and "the earlier one is kept" in tie.selection_reason

    posts = list(Post.objects.filter(persona=job.persona).order_by("id"))
    assert sorted(p.images.get().generated_image_id for p in posts) == sorted(kept)
    comment = PostTransition.objects.filter(post=posts[0]).first().comment
    assert "variant 1 of 2" in comment and "Best of 3: candidate 2 of 3 kept" in comment

    # Idempotent: choosing again, or a redelivered drafting task, changes nothing and drafts nothing twice.
    with_job = GenerationJob.objects.get(pk=job.pk)
    assert best_of.job_candidates_select(job=with_job) == 0
    likeness.job_likeness_score(job_id=job.pk, force=True)
    tasks.draft_posts(job.pk)
    assert Post.objects.filter(persona=job.persona).count() == 2
    assert {i.pk for i in job.images.filter(candidate_status=CandidateStatus.KEPT)} == kept


def test_the_api_shows_the_candidates_and_why_they_were_rejected(rendered, marketer):
    body = client_for(marketer).get(f"/api/v1/generation-jobs/{rendered.pk}/").json()
    assert body["best_of"] == 3 and body["num_variants"] == 2 and len(body["post_ids"]) == 2
    images = body["images"]
    assert [(i["variant"], i["candidate"]) for i in images] == [(0, 0), (1, 0), (0, 1), (1, 1), (0, 2), (1, 2)]
    assert [i["rejected"] for i in images] == [True, True, False, False, True, True]
    assert [i["candidate_status"] for i in images][:3] == ["rejected", "rejected", "kept"]
    assert images[0]["rejection_reason"].startswith("candidate 1 of 3: likeness ")
    assert images[2]["rejection_reason"] == "" and images[2]["selection_reason"].startswith("candidate 2 of 3 kept")
    assert [i["post_ids"] != [] for i in images] == [False, False, True, True, False, False]
    assert images[5]["reproduction"]["seed"] == 105 and images[5]["reproduction"]["batch_pos"] == 5


def test_the_post_serializers_carry_the_likeness_of_their_images(rendered, marketer, reviewer):
    kept = rendered.images.get(variant=0, candidate_status=CandidateStatus.KEPT)
    post = Post.objects.get(images__generated_image=kept)
    client = client_for(marketer)
    detail = client.get(f"/api/v1/posts/{post.pk}/").json()
    assert detail["likeness_score"] == kept.likeness_score and detail["on_model"] is True
    (entry,) = detail["likeness"]
    assert entry["generated_image"] == kept.pk and entry["likeness_status"] == "scored"
    assert entry == client.get(f"/api/v1/posts/{post.pk}/likeness/").json()[0]  # the endpoint stays
    listed = {row["id"]: row for row in client.get("/api/v1/posts/").json()["results"]}
    assert listed[post.pk]["likeness_score"] == kept.likeness_score and listed[post.pk]["on_model"] is True
    decided = client_for(reviewer).post(f"/api/v1/posts/{post.pk}/request-changes/", {"comment": "darker light"},
                                        format="json")
    assert decided.status_code == 200 and decided.json()["likeness"] == detail["likeness"]


@pytest.mark.parametrize(
    ("params", "code", "text"),
    [
        ({"best_of": 0}, 400, "best_of"),
        ({"best_of": 9}, 400, "best_of"),
        ({"num_variants": 4, "best_of": 3}, 400, "4 variants x best of 3 is 12 images"),
        ({"num_variants": 2, "best_of": 3, "human": False}, 400, "not a human face"),
    ],
)
def test_bad_best_of_is_refused_and_nothing_is_queued(workspace, marketer, params, code, text):
    params = dict(params)
    persona = PersonaFactory(workspace=workspace, created_by=marketer, is_human_face=params.pop("human", True))
    response = client_for(marketer).post("/api/v1/generation-jobs/", {
        "persona": persona.pk, "scene": "at a cafe", "platform": "instagram", "allow_base_model": True, **params,
    }, format="json")
    assert response.status_code == code, response.content
    assert text in response.content.decode()
    assert not GenerationJob.objects.exists()


def test_best_of_is_recorded_on_the_job_and_the_seed_range_covers_every_candidate(workspace, marketer):
    persona = PersonaFactory(workspace=workspace, created_by=marketer, is_human_face=True)
    job = services.generation_job_create(actor=marketer, persona=persona, scene="at a cafe", platform="instagram",
                                         num_variants=2, best_of=4, allow_base_model=True, seed=10)
    assert (job.best_of, job.image_count) == (4, 8)
    with pytest.raises(ValidationFailed, match="seed must be between"):
        services.generation_job_create(actor=marketer, persona=persona, scene="at a cafe", platform="instagram",
                                       num_variants=2, best_of=4, allow_base_model=True, seed=2**32 - 5)


def test_a_variant_without_any_scored_candidate_keeps_candidate_one_and_says_why(human, marketer,  # noqa: F811
                                                                                   monkeypatch, after_commit):
    job = _render(_job(human, marketer, num_variants=1, best_of=2, width=SIZE[0], height=SIZE[1]),
                  [faces.noise(512), faces.noise(512, seed=2)], monkeypatch, after_commit)
    first, second = job.images.order_by("index")
    assert first.likeness_status == second.likeness_status == LikenessStatus.NO_FACE
    assert first.candidate_status == CandidateStatus.KEPT and second.candidate_status == CandidateStatus.REJECTED
    assert first.selection_reason == "candidate 1 of 2 kept: no candidate has a likeness score to choose by (no face)"
    assert second.selection_reason.startswith("candidate 2 of 2: no face; no candidate could be scored")
    assert Post.objects.get(persona=human).images.get().generated_image_id == first.pk


def test_a_batch_counts_every_candidate_and_each_keeps_its_place_in_the_call(persona, marketer, fake_engine):
    from generation import selectors

    fake_engine.max_batch = 8
    leader = _job(persona, marketer, seed=100, num_variants=2, best_of=3)
    companion = _job(persona, marketer, seed=300)  # 6 + 2 fill the call
    left = _job(persona, marketer, seed=500, num_variants=1)
    worker.generation_job_run(job_id=leader.pk)
    assert fake_engine.batches == [[100, 101, 102, 103, 104, 105, 300, 301]]
    for job in (leader, companion, left):
        job.refresh_from_db()
    assert (companion.batch_leader_id, companion.batch_offset, companion.batch_size) == (leader.pk, 6, 8)
    assert left.status == JobStatus.QUEUED
    record = selectors.generated_image_record(generated_image=leader.images.get(index=5))
    assert (record["seed"], record["batch_size"], record["batch_pos"]) == (105, 8, 5)
    assert selectors.generation_job_render_batch(job=companion) == [leader, companion]
    # Not drafted yet (drafting runs after commit): the candidates wait for the likeness-based choice.
    assert set(leader.images.values_list("candidate_status", flat=True)) == {CandidateStatus.PENDING}
    assert set(companion.images.values_list("candidate_status", flat=True)) == {CandidateStatus.KEPT}


# --- the real tiny engine --------------------------------------------------------------------------


@pytest.mark.slow
def test_tiny_model_candidates_have_their_own_seeds_and_each_reproduces(human, marketer, active_lora,  # noqa: F811
                                                                         django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):  # eager Celery: render, then score and draft
        job = services.generation_job_create(actor=marketer, persona=human, scene="at a cafe terrace",
                                             platform="instagram", num_variants=2, best_of=2, steps=2, seed=500)
    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED, job.error
    images = list(job.images.order_by("index"))
    # Candidate 0 of each variant has the seed a best_of=1 job gives that variant.
    assert [(i.variant, i.candidate, i.seed) for i in images] == [(0, 0, 500), (1, 0, 501), (0, 1, 502), (1, 1, 503)]
    assert job.batch_size == 4
    # Random weights draw no face: every variant keeps candidate 1 and says why.
    assert [i.candidate_status for i in images] == ["kept", "kept", "rejected", "rejected"]
    assert all("no candidate" in i.selection_reason for i in images)
    assert Post.objects.filter(persona=human).count() == 2
    rejected = images[3]
    assert worker.generated_image_reproduce(generated_image=rejected) == rejected.image.open("rb").read()
    assert GeneratedImage.objects.filter(job=job).count() == 4
