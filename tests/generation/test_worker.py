from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest
from django.conf import settings
from PIL import Image

from core.captions import hashtags_in, text_as_posted
from core.platforms import PLATFORM_RULES, Platform
from generation import selectors, services
from generation.jobs import render as worker
from generation.models import GeneratedImage, GenerationJob, JobStatus, JobTransition, LoraVersion
from generation.training import runs as training_runs
from scheduler.models import Post, PostStatus
from tests.conftest import client_for
from tests.factories import GeneratedImageFactory
from tests.generation.workflow_fixtures import *  # noqa: F403 - fixtures
from tests.generation.workflow_fixtures import FakeEngine, _job, _queued_version

# --- training run (fake engine: fast, exercises the bookkeeping) -----------------------------------


def test_training_run_writes_progress_and_loss_curve(persona_with_refs, marketer, fake_engine, after_commit):
    version = _queued_version(persona_with_refs, marketer)
    seen = []
    fake_engine.steps_hook = lambda step: seen.append(
        LoraVersion.objects.values_list("status", "progress_step", "loss_curve").get(pk=version.pk)
    )
    with after_commit():  # the posts are drafted after the job's commit
        training_runs.lora_training_run(lora_version_id=version.pk)

    # Inside step 3 the DB already shows the two steps before it.
    assert seen[2] == (JobStatus.RUNNING, 2, [1.0, 0.5])
    version.refresh_from_db()
    assert version.status == JobStatus.SUCCEEDED
    assert version.progress_step == version.total_steps == 5
    assert version.loss_curve == [1.0, 0.5, round(1 / 3, 6), 0.25, 0.2]
    expected = f"workspaces/{persona_with_refs.workspace_id}/personas/{persona_with_refs.pk}/loras/v1/"
    assert version.weights_path == expected + "pytorch_lora_weights.safetensors"
    weights = Path(settings.MEDIA_ROOT) / version.weights_path
    assert version.sha256 == hashlib.sha256(weights.read_bytes()).hexdigest()
    assert version.is_active  # first success becomes active
    assert version.started_at and version.finished_at
    statuses = list(JobTransition.objects.filter(lora_version=version).values_list("to_status", flat=True))
    assert statuses == [JobStatus.RUNNING, JobStatus.SUCCEEDED]
    # Reviewer samples, rendered with this version, no posts.
    sample = GenerationJob.objects.get(lora_version=version, is_sample=True)
    assert sample.status == JobStatus.SUCCEEDED
    assert sample.images.count() == training_runs.SAMPLE_COUNT
    assert not Post.objects.exists()


def test_training_run_is_a_no_op_once_finished(persona_with_refs, marketer, fake_engine):
    version = _queued_version(persona_with_refs, marketer)
    training_runs.lora_training_run(lora_version_id=version.pk)
    training_runs.lora_training_run(lora_version_id=version.pk)
    assert fake_engine.train_calls == 1
    assert GenerationJob.objects.filter(is_sample=True).count() == 1
    assert GeneratedImage.objects.count() == training_runs.SAMPLE_COUNT


def test_training_redelivered_while_running_restarts_cleanly(persona_with_refs, marketer, fake_engine):
    version = _queued_version(persona_with_refs, marketer)
    stale_dir = Path(settings.MEDIA_ROOT) / training_runs.lora_weights_dir(version)
    stale_dir.mkdir(parents=True)
    (stale_dir / "half-written.tmp").write_bytes(b"x")
    LoraVersion.objects.filter(pk=version.pk).update(status=JobStatus.RUNNING, progress_step=3, loss_curve=[9.0])

    training_runs.lora_training_run(lora_version_id=version.pk)

    version.refresh_from_db()
    assert version.status == JobStatus.SUCCEEDED
    assert version.loss_curve[0] == 1.0 and len(version.loss_curve) == 5
    assert not (stale_dir / "half-written.tmp").exists()
    assert JobTransition.objects.filter(lora_version=version, comment__contains="restarted").exists()


def test_training_failure_stores_a_clear_error(persona_with_refs, marketer, fake_engine):
    fake_engine.fail_with = RuntimeError("CUDA out of memory")
    version = _queued_version(persona_with_refs, marketer)
    training_runs.lora_training_run(lora_version_id=version.pk)
    version.refresh_from_db()
    assert version.status == JobStatus.FAILED
    assert version.error == "RuntimeError: CUDA out of memory"
    assert not version.is_active


def test_training_fails_clearly_when_reference_images_were_deleted(persona_with_refs, marketer, fake_engine):
    version = _queued_version(persona_with_refs, marketer)
    persona_with_refs.reference_images.first().delete()
    training_runs.lora_training_run(lora_version_id=version.pk)
    version.refresh_from_db()
    assert version.status == JobStatus.FAILED
    assert "at least 3 reference images; 2 are left" in version.error


# --- generation run (fake engine) ------------------------------------------------------------------
def test_generation_progress_reaches_the_db(persona, marketer, fake_engine):
    job = _job(persona, marketer, steps=5)
    seen = []
    fake_engine.steps_hook = lambda step: seen.append(
        GenerationJob.objects.values_list("status", "progress_step", "total_steps").get(pk=job.pk)
    )
    worker.generation_job_run(job_id=job.pk)
    assert seen == [(JobStatus.RUNNING, n, 5) for n in range(5)]
    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED and job.progress_step == 5


def test_generation_failure_stores_type_and_message(persona, marketer, fake_engine):
    fake_engine.fail_with = RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")
    job = _job(persona, marketer)
    worker.generation_job_run(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == JobStatus.FAILED
    assert job.error == "RuntimeError: CUDA out of memory. Tried to allocate 2.00 GiB"
    assert not job.images.exists()


def test_generation_soft_time_limit_is_reported(persona, marketer, fake_engine):
    from celery.exceptions import SoftTimeLimitExceeded

    fake_engine.fail_with = SoftTimeLimitExceeded()
    job = _job(persona, marketer)
    worker.generation_job_run(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == JobStatus.FAILED
    assert "time limit exceeded" in job.error


def test_generation_redelivered_running_job_replaces_partial_images(persona, marketer, fake_engine, after_commit):
    job = _job(persona, marketer, status=JobStatus.RUNNING)
    partial = GeneratedImageFactory(job=job, index=0, seed=100)
    with after_commit():  # the posts are drafted after the job's commit
        worker.generation_job_run(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED
    assert not GeneratedImage.objects.filter(pk=partial.pk).exists()
    assert list(job.images.values_list("index", "seed")) == [(0, 100), (1, 101)]
    assert Post.objects.count() == 2



def test_a_redelivered_job_with_a_hires_stage_ends_at_100_percent(persona, marketer, fake_engine):
    # Its worker died mid-call: the redelivered task renders the job again. Like the real engine, the hires refine
    # counts its own steps from 1 after the 50 denoising steps (int(50 * 0.35) = 17); the job once ended at
    # progress_step 50 of total_steps 17, "294.1 %".
    job = _job(persona, marketer, steps=50, total_steps=50, progress_step=23, status=JobStatus.RUNNING)
    render, refine_steps, seen = fake_engine.render_batch, int(50 * 0.35), []

    def render_then_refine(requests, *, on_step=None):
        def watched(step, total):
            going_on = on_step(step, total)
            seen.append(GenerationJob.objects.values_list("progress_step", "total_steps").get(pk=job.pk))
            return going_on

        rendered = render(requests, on_step=watched)
        for step in range(1, refine_steps + 1):
            watched(step, refine_steps)
        return rendered

    fake_engine.render_batch = render_then_refine
    worker.generation_job_run(job_id=job.pk)

    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED
    assert job.progress_step == job.total_steps == 50 + refine_steps
    assert all(done <= total for done, total in seen)
    assert [done for done, _total in seen] == sorted(done for done, _total in seen)  # never goes back
    assert client_for(marketer).get(f"/api/v1/generation-jobs/{job.pk}/").json()["progress"] == 100.0


def test_progress_shown_never_exceeds_100_percent(persona, marketer):
    # A job a worker of an earlier release finished with progress_step past total_steps.
    job = _job(persona, marketer, steps=50, progress_step=50, total_steps=17, status=JobStatus.SUCCEEDED)
    assert client_for(marketer).get(f"/api/v1/generation-jobs/{job.pk}/").json()["progress"] == 100.0

# --- generation with the real tiny engine ----------------------------------------------------------


@pytest.mark.slow
def test_generation_end_to_end_images_posts_and_idempotent_rerun(persona, marketer, active_lora,
                                                                 django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):  # eager Celery: the task runs here
        job = services.generation_job_create(
            actor=marketer, persona=persona, scene="drinking coffee at a cafe terrace", platform="instagram",
            num_variants=3, steps=3, seed=4242,
        )
    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED, job.error
    assert job.progress_step == job.total_steps == 3
    images = list(job.images.all())
    assert [(i.index, i.seed) for i in images] == [(0, 4242), (1, 4243), (2, 4244)]
    for image in images:
        assert (image.width, image.height) == (64, 80)
        assert image.base_model == "tiny" and len(image.base_model_hash) == 64
        assert image.lora_sha256 == active_lora.sha256
        assert image.prompt == job.prompt and image.negative_prompt == job.negative_prompt
        assert (image.steps, image.guidance, image.scheduler) == (3, 7.0, "dpmpp_2m_karras")
        data = image.image.read()
        assert hashlib.sha256(data).hexdigest() == image.sha256
        with Image.open(image.image.path) as png:
            parameters = png.text["parameters"]
        assert parameters.startswith(job.prompt)
        assert f"Seed: {image.seed}" in parameters and "Size: 64x80" in parameters
        assert active_lora.sha256[:12] in parameters

    posts = list(Post.objects.filter(persona=persona).order_by("id"))
    assert len(posts) == 3  # one draft per variant
    label = persona.disclosure_label
    for post, image in zip(posts, images, strict=True):
        assert post.status == PostStatus.IN_REVIEW
        assert post.created_by == marketer
        assert post.platform == Platform.INSTAGRAM
        assert label in post.caption
        assert "drinking coffee at a cafe terrace" in post.caption.lower()
        assert len(hashtags_in(text_as_posted(post.caption, post.hashtags))) <= PLATFORM_RULES["instagram"].hashtags_max
        (post_image,) = post.images.all()
        assert post_image.generated_image_id == image.pk
        assert post_image.sha256 == image.sha256

    # A redelivered task finds the job done: no second set of images or posts.
    worker.generation_job_run(job_id=job.pk)
    assert GeneratedImage.objects.filter(job=job).count() == 3
    assert Post.objects.count() == 3

    # Reproduction from the stored record is byte-identical.
    assert worker.generated_image_reproduce(generated_image=images[1]) == images[1].image.open("rb").read()


@pytest.mark.slow
def test_generation_with_a_corrupt_lora_file_fails_with_the_engine_error(persona, marketer, active_lora):
    weights = Path(settings.MEDIA_ROOT) / active_lora.weights_path
    weights.write_bytes(b"not a safetensors file")
    active_lora.sha256 = hashlib.sha256(weights.read_bytes()).hexdigest()
    active_lora.version = 7  # a fresh adapter name: the engine must load this file
    active_lora.save()
    job = _job(persona, marketer, lora=active_lora, steps=2)
    worker.generation_job_run(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == JobStatus.FAILED
    # "<ExceptionType>: <message>", naming the bad file.
    assert re.match(r"^[A-Za-z]\w*(Error|Exception): \S", job.error), job.error
    assert active_lora.weights_path in job.error
    # Shown to API users: the file is named relative to media, never by its server path.
    assert str(settings.MEDIA_ROOT) not in job.error
    assert not job.images.exists() and not Post.objects.exists()


@pytest.mark.slow
def test_training_end_to_end_with_the_tiny_model(persona_with_refs, marketer, django_capture_on_commit_callbacks,
                                                 monkeypatch):
    monkeypatch.setattr(training_runs, "SAMPLE_STEPS", 2)
    with django_capture_on_commit_callbacks(execute=True):
        version = services.lora_training_start(actor=marketer, persona=persona_with_refs, steps=3, rank=4)
    version.refresh_from_db()
    assert version.status == JobStatus.SUCCEEDED, version.error
    assert version.is_active
    assert len(version.loss_curve) == 3 and all(loss > 0 for loss in version.loss_curve)
    weights = Path(settings.MEDIA_ROOT) / version.weights_path
    assert weights.name == "pytorch_lora_weights.safetensors"
    assert hashlib.sha256(weights.read_bytes()).hexdigest() == version.sha256
    assert version.hyperparameters["rank"] == 4 and version.hyperparameters["base_model"] == "tiny"
    sample = GenerationJob.objects.get(lora_version=version, is_sample=True)
    assert sample.status == JobStatus.SUCCEEDED, sample.error
    assert [img.lora_sha256 for img in sample.images.all()] == [version.sha256] * training_runs.SAMPLE_COUNT


def test_fake_engine_is_what_the_fast_tests_use(fake_engine):
    # Guard: the fast tests above must never silently load the real model.
    from generation.engine import pipelines as engine

    assert isinstance(engine.get_engine(), FakeEngine)


# --- two attempts at once (a redelivered task while the first worker is still alive) ----------------


def _nested_attempt_then(run, exc):
    """A steps_hook: at step 1 a second attempt runs the whole task to the end, then this attempt fails."""
    state = {"done": False}

    def hook(step):
        if not state["done"]:
            state["done"] = True
            run()
            raise exc

    return hook


def test_generation_failed_stale_attempt_keeps_the_other_attempts_success(persona, marketer, fake_engine, after_commit):
    job = _job(persona, marketer)
    fake_engine.steps_hook = _nested_attempt_then(
        lambda: worker.generation_job_run(job_id=job.pk), RuntimeError("worker lost the GPU")
    )
    with after_commit():  # the posts are drafted after the job's commit
        worker.generation_job_run(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED and not job.error
    assert job.images.count() == 2 and Post.objects.count() == 2
    assert all(Path(image.image.path).is_file() for image in job.images.all())


def test_generation_cancelled_stale_attempt_keeps_the_other_attempts_success(persona, marketer, fake_engine):
    from generation.engine import pipelines as engine_module

    job = _job(persona, marketer)
    fake_engine.steps_hook = _nested_attempt_then(
        lambda: worker.generation_job_run(job_id=job.pk), engine_module.EngineCancelled("Generation cancelled.")
    )
    worker.generation_job_run(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED
    assert job.images.count() == 2


def test_generation_cancel_after_the_last_step_drafts_nothing(persona, marketer, fake_engine, after_commit):
    job = _job(persona, marketer)
    render = fake_engine.generate_batch

    def generate_then_cancel(requests, *, on_step=None):
        pictures = render(requests, on_step=on_step)
        services.generation_job_cancel(actor=marketer, job_id=job.pk)  # accepted: the job is still running
        return pictures

    fake_engine.generate_batch = generate_then_cancel
    with after_commit():  # the posts are drafted after the job's commit
        worker.generation_job_run(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == JobStatus.CANCELLED
    assert not job.images.exists() and not Post.objects.exists()


def test_training_failed_stale_attempt_keeps_the_other_attempts_weights(persona_with_refs, marketer, fake_engine):
    version = _queued_version(persona_with_refs, marketer)
    fake_engine.steps_hook = _nested_attempt_then(
        lambda: training_runs.lora_training_run(lora_version_id=version.pk), RuntimeError("worker lost the GPU")
    )
    training_runs.lora_training_run(lora_version_id=version.pk)
    version.refresh_from_db()
    assert version.status == JobStatus.SUCCEEDED and version.is_active and not version.error
    assert (Path(settings.MEDIA_ROOT) / version.weights_path).is_file()


def test_training_slower_attempt_never_overwrites_the_recorded_weights(persona_with_refs, marketer, fake_engine):
    version = _queued_version(persona_with_refs, marketer)
    train = fake_engine.train_lora
    calls = {"n": 0}

    def train_differently(**kwargs):
        # GPU training is not bit-reproducible: each attempt writes different bytes.
        calls["n"] += 1
        attempt = calls["n"]
        if attempt == 1:
            training_runs.lora_training_run(lora_version_id=version.pk)  # the redelivered attempt wins the race
        result = train(**kwargs)
        result.weights_path.write_bytes(f"weights of attempt {attempt}".encode())
        result.sha256 = hashlib.sha256(result.weights_path.read_bytes()).hexdigest()
        return result

    fake_engine.train_lora = train_differently
    training_runs.lora_training_run(lora_version_id=version.pk)
    version.refresh_from_db()
    assert version.status == JobStatus.SUCCEEDED
    weights = Path(settings.MEDIA_ROOT) / version.weights_path
    assert hashlib.sha256(weights.read_bytes()).hexdigest() == version.sha256
    # The reviewer samples were rendered with the weights the version still records.
    samples = GeneratedImage.objects.filter(job__lora_version=version)
    assert samples.count() == training_runs.SAMPLE_COUNT
    assert set(samples.values_list("lora_sha256", flat=True)) == {version.sha256}
    succeeded = JobTransition.objects.filter(lora_version=version, to_status=JobStatus.SUCCEEDED)
    assert succeeded.count() == 1


# --- one pipeline call for several queued jobs of a persona ----------------------------------------


def _seeds(job):
    return [job.seed + i for i in range(job.num_variants)]


def test_queued_jobs_of_the_same_persona_and_settings_share_one_pipeline_call(persona, marketer, fake_engine,
                                                                             after_commit):
    from tests.factories import PersonaFactory

    fake_engine.max_batch = 8
    leader = _job(persona, marketer, seed=100)
    other_steps = _job(persona, marketer, seed=200, steps=5)
    companion = _job(persona, marketer, seed=300, prompt="photo of sks person, at the beach")
    other_persona = _job(PersonaFactory(workspace=persona.workspace, created_by=marketer), marketer, seed=400)
    large = _job(persona, marketer, seed=500, num_variants=4)
    too_many = _job(persona, marketer, seed=600)  # 2 + 2 + 4 fill the call: this one keeps its own task
    cancelled = _job(persona, marketer, seed=700, status=JobStatus.CANCELLED, cancel_requested=True)

    with after_commit():  # the posts are drafted after the job's commit
        worker.generation_job_run(job_id=leader.pk)

    assert fake_engine.batches == [_seeds(leader) + _seeds(companion) + _seeds(large)]
    for offset, job in zip((0, 2, 4), (leader, companion, large), strict=True):
        job.refresh_from_db()
        assert job.status == JobStatus.SUCCEEDED and job.progress_step == job.steps
        assert (job.batch_leader_id, job.batch_offset, job.batch_size) == (leader.pk, offset, 8)
        # Each job gets exactly its own seeds, prompt and posts.
        assert list(job.images.values_list("index", "seed", "prompt")) == [
            (i, seed, job.prompt) for i, seed in enumerate(_seeds(job))]
        assert len(selectors.generation_job_post_ids(job=job)) == job.num_variants
        record = selectors.generated_image_record(generated_image=job.images.last())
        assert record["batch_job_ids"] == [leader.pk, companion.pk, large.pk]
        assert (record["batch_size"], record["batch_pos"]) == (8, offset + job.num_variants - 1)
    assert JobTransition.objects.filter(
        generation_job=companion, to_status=JobStatus.RUNNING, comment=f"generation started in one batch with job "
        f"{leader.pk}").exists()
    for job in (other_steps, other_persona, too_many):
        job.refresh_from_db()
        assert job.status == JobStatus.QUEUED and job.batch_leader_id is None
    cancelled.refresh_from_db()
    assert cancelled.status == JobStatus.CANCELLED and not cancelled.images.exists()

    # The companions' own task messages find them done; the jobs left queued run on their own.
    worker.generation_job_run(job_id=companion.pk)
    with after_commit():  # the posts are drafted after the job's commit
        worker.generation_job_run(job_id=too_many.pk)
    assert fake_engine.batches[1:] == [_seeds(too_many)]
    assert Post.objects.count() == 2 + 2 + 4 + 2


def test_one_job_per_call_when_the_engine_batches_nothing(persona, marketer, fake_engine):
    first, second = _job(persona, marketer, seed=1), _job(persona, marketer, seed=10)
    worker.generation_job_run(job_id=first.pk)
    second.refresh_from_db()
    assert fake_engine.batches == [_seeds(first)] and second.status == JobStatus.QUEUED
    # Alone in its call: the record says so, as for jobs rendered before batching existed.
    record = selectors.generated_image_record(generated_image=first.images.first())
    assert (record["batch_job_ids"], record["batch_size"], record["batch_pos"]) == ([first.pk], 2, 0)


def test_progress_of_a_batch_reaches_every_job_in_it(persona, marketer, fake_engine):
    fake_engine.max_batch = 4
    leader, companion = _job(persona, marketer, steps=3), _job(persona, marketer, seed=50, steps=3)
    seen = []
    fake_engine.steps_hook = lambda step: seen.append(list(
        GenerationJob.objects.filter(pk__in=[leader.pk, companion.pk]).order_by("id")
        .values_list("status", "progress_step")))
    worker.generation_job_run(job_id=leader.pk)
    assert seen == [[(JobStatus.RUNNING, n)] * 2 for n in range(3)]


def test_a_companion_task_arriving_mid_call_leaves_the_job_to_its_batch(persona, marketer, fake_engine):
    fake_engine.max_batch = 4
    leader, companion = _job(persona, marketer), _job(persona, marketer, seed=50)
    states = []

    def companion_task_arrives(step):
        if step == 2:
            states.append(worker.generation_job_run(job_id=companion.pk).status)

    fake_engine.steps_hook = companion_task_arrives
    worker.generation_job_run(job_id=leader.pk)
    assert states == [JobStatus.RUNNING] and fake_engine.generate_calls == 1
    companion.refresh_from_db()
    assert companion.status == JobStatus.SUCCEEDED and companion.images.count() == 2


def test_a_redelivered_leader_renders_its_whole_batch_again(persona, marketer, fake_engine):
    # A worker died mid-call: both jobs are running under the leader, the companion with a stray image.
    fake_engine.max_batch = 8
    leader = _job(persona, marketer, status=JobStatus.RUNNING, batch_size=4)
    leader.batch_leader = leader
    leader.save()
    companion = _job(persona, marketer, seed=50, status=JobStatus.RUNNING, batch_leader=leader, batch_offset=2,
                     batch_size=4)
    stray = GeneratedImageFactory(job=companion, index=0, seed=50)
    newcomer = _job(persona, marketer, seed=80)

    worker.generation_job_run(job_id=companion.pk)  # its own message: left to the leader
    assert fake_engine.generate_calls == 0
    worker.generation_job_run(job_id=leader.pk)  # the leader's redelivered message

    assert fake_engine.batches == [_seeds(leader) + _seeds(companion) + _seeds(newcomer)]
    assert not GeneratedImage.objects.filter(pk=stray.pk).exists()
    for job in (leader, companion, newcomer):
        job.refresh_from_db()
        assert job.status == JobStatus.SUCCEEDED and job.batch_size == 6
        assert list(job.images.values_list("seed", flat=True)) == _seeds(job)
    assert JobTransition.objects.filter(generation_job=leader, comment__contains="restarted").exists()


def test_an_attempt_overtaken_by_a_redelivery_of_its_message_saves_nothing(persona, marketer, fake_engine):
    # Redis hands an unacknowledged message to another worker once its visibility timeout passes, even while the
    # first worker still renders it: the second attempt starts over, and only it may record the call.
    from django.db import transaction

    from generation.transitions import lock_job, run_attempt_start

    fake_engine.max_batch = 4
    leader, companion = _job(persona, marketer), _job(persona, marketer, seed=50)

    def redelivered_on_the_last_step(step):
        if step == leader.steps and fake_engine.generate_calls == 1:
            with transaction.atomic():
                job = lock_job(leader.pk)
                assert run_attempt_start(job, what="generation", cancelled="-", reset={
                    "batch_leader": job, "batch_offset": 0, "batch_size": job.image_count})

    fake_engine.steps_hook = redelivered_on_the_last_step
    worker.generation_job_run(job_id=leader.pk)  # the first attempt finishes rendering after the second began
    for job in (leader, companion):
        job.refresh_from_db()
        assert job.status == JobStatus.RUNNING and job.batch_leader_id == leader.pk and not job.images.exists()

    worker.generation_job_run(job_id=leader.pk)  # the later attempt renders the call again, with its companion
    assert fake_engine.batches == [_seeds(leader) + _seeds(companion)] * 2
    for offset, job in zip((0, 2), (leader, companion), strict=True):
        job.refresh_from_db()
        assert (job.status, job.batch_leader_id, job.batch_offset, job.batch_size) == (
            JobStatus.SUCCEEDED, leader.pk, offset, 4)
        assert list(job.images.values_list("seed", flat=True)) == _seeds(job)
        assert JobTransition.objects.filter(generation_job=job, to_status=JobStatus.SUCCEEDED).count() == 1
    assert selectors.generation_job_render_batch(job=companion) == [leader, companion]


def test_cancelling_one_job_of_a_batch_drops_only_its_images(persona, marketer, fake_engine, after_commit):
    fake_engine.max_batch = 4
    leader, companion = _job(persona, marketer, steps=4), _job(persona, marketer, seed=50, steps=4)
    fake_engine.steps_hook = lambda step: step == 2 and services.generation_job_cancel(
        actor=marketer, job_id=companion.pk)
    with after_commit():  # the posts are drafted after the job's commit
        worker.generation_job_run(job_id=leader.pk)
    leader.refresh_from_db()
    companion.refresh_from_db()
    assert leader.status == JobStatus.SUCCEEDED and leader.images.count() == 2  # the call went on for the leader
    assert companion.status == JobStatus.CANCELLED and not companion.images.exists()
    assert Post.objects.count() == 2


def test_cancelling_every_job_of_a_batch_stops_the_call(persona, marketer, fake_engine):
    fake_engine.max_batch = 4
    leader, companion = _job(persona, marketer, steps=6), _job(persona, marketer, seed=50, steps=6)

    def cancel_both(step):
        if step == 2:
            for job in (leader, companion):
                services.generation_job_cancel(actor=marketer, job_id=job.pk)

    fake_engine.steps_hook = cancel_both
    worker.generation_job_run(job_id=leader.pk)
    for job in (leader, companion):
        job.refresh_from_db()
        assert job.status == JobStatus.CANCELLED and job.progress_step == 2  # stopped right after that step
    assert not GeneratedImage.objects.exists()


def test_a_failed_call_fails_every_job_in_it(persona, marketer, fake_engine):
    fake_engine.max_batch = 4
    fake_engine.fail_with = RuntimeError("CUDA out of memory")
    leader, companion = _job(persona, marketer), _job(persona, marketer, seed=50)
    worker.generation_job_run(job_id=leader.pk)
    for job in (leader, companion):
        job.refresh_from_db()
        assert job.status == JobStatus.FAILED and job.error == "RuntimeError: CUDA out of memory"


@pytest.mark.slow
def test_jobs_rendered_in_one_call_reproduce_byte_for_byte(persona, marketer, active_lora, monkeypatch,
                                                          django_capture_on_commit_callbacks):
    from dataclasses import replace

    import numpy as np

    from generation.engine import pipelines as engine_module
    from generation.engine.entries import lora_ref_fetch

    engine = engine_module.get_engine()
    monkeypatch.setattr(engine, "perf", replace(engine.perf, max_batch=8))
    with django_capture_on_commit_callbacks(execute=False):  # both queued before a worker takes the first
        first = services.generation_job_create(actor=marketer, persona=persona, scene="at a cafe terrace",
                                               platform="instagram", num_variants=2, steps=3, seed=10)
        second = services.generation_job_create(actor=marketer, persona=persona, scene="hiking in the alps",
                                                platform="instagram", num_variants=3, steps=3, seed=77)
    worker.generation_job_run(job_id=first.pk)
    second.refresh_from_db()
    assert second.status == JobStatus.SUCCEEDED and (second.batch_leader_id, second.batch_offset) == (first.pk, 2)

    image = second.images.get(index=1)
    assert worker.generated_image_reproduce(generated_image=image) == image.image.open("rb").read()
    # Each image is its own job's image: rendered alone it differs from the batched one by rounding at most.
    alone = engine.generate_batch([worker._job_request(second, lora_ref_fetch(active_lora))])[0][1]
    with Image.open(image.image.path) as batched:
        assert np.abs(np.asarray(batched, dtype=np.int16) - np.asarray(alone, dtype=np.int16)).max() <= 2


def test_generation_progress_and_cancel_checks_are_throttled_in_time(persona, marketer, fake_engine, monkeypatch):
    monkeypatch.setattr(worker, "GENERATION_PROGRESS_INTERVAL_S", 0.5)
    readings = [0.0, 0.1, 0.2, 0.6, 0.7, 0.8, 1.2, 1.3, 1.35, 1.4]  # one clock reading per step
    clock = iter(readings)
    monkeypatch.setattr(worker, "_progress_clock", lambda: next(clock))
    job = _job(persona, marketer, steps=10)
    seen = []
    fake_engine.steps_hook = lambda step: seen.append(GenerationJob.objects.values_list("progress_step", flat=True)
                                                      .get(pk=job.pk))
    worker.generation_job_run(job_id=job.pk)
    # Written at step 1 (t=0), 4 (t=0.6), 7 (t=1.2) and 10 (the last step, always): each hook sees the last write.
    assert seen == [0, 1, 1, 1, 4, 4, 4, 7, 7, 7]
    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED and job.progress_step == 10

    # A cancel is noticed at the next check, not at every step.
    clock = iter(readings)
    running = _job(persona, marketer, steps=10, seed=500)
    fake_engine.steps_hook = lambda step: step == 2 and services.generation_job_cancel(actor=marketer,
                                                                                        job_id=running.pk)
    worker.generation_job_run(job_id=running.pk)
    running.refresh_from_db()
    assert running.status == JobStatus.CANCELLED and running.progress_step == 4
