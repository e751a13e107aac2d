"""A real Celery worker process (not eager) trains a LoRA and generates posts end to end.

The test process and the worker share:
- the database: a SQLite file made for this test (or, when DATABASE_URL points at PostgreSQL, the test DB);
- the broker: kombu's filesystem transport in a temporary folder;
- MEDIA_ROOT and the model cache.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.core.management import call_command
from django.db import connections

from config.celery import app
from core.access import Role
from generation import services
from generation.models import DraftingStatus, GeneratedImage, GenerationJob, JobStatus, LoraVersion
from generation.training import runs as training_runs
from scheduler.models import Post, PostStatus
from tests.factories import MembershipFactory, PersonaFactory, ReferenceImageFactory
from tests.services import broker_pools_reset

pytestmark = pytest.mark.slow

FINISHED = {JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED}
TIMEOUT_S = 300  # generous: CI machines with 2 shared cores are slow


@pytest.fixture
def shared_database(request, django_db_blocker, tmp_path):
    """Yield a DATABASE_URL the worker can use for the very database this test writes to."""
    conn = connections["default"]
    if conn.vendor != "sqlite":
        request.getfixturevalue("transactional_db")  # committed writes, flushed afterwards
        s = conn.settings_dict
        yield (
            f"postgres://{s['USER']}:{s['PASSWORD']}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"
        )
        return
    # SQLite test databases live in memory, which another process cannot open: switch this connection to a
    # migrated file for the duration of the test, and keep the in-memory one (other tests use it) aside.
    db_path = tmp_path / "shared.sqlite3"
    with django_db_blocker.unblock():
        saved_connection, saved_name = conn.connection, conn.settings_dict["NAME"]
        conn.connection = None
        conn.settings_dict["NAME"] = str(db_path)
        try:
            call_command("migrate", verbosity=0, interactive=False)
            yield f"sqlite:///{db_path}"
        finally:
            conn.close()
            conn.settings_dict["NAME"] = saved_name
            conn.connection = saved_connection
            ContentType.objects.clear_cache()


@pytest.fixture
def broker_dir(tmp_path):
    """Point this process's producer at a private filesystem broker, and send for real (not eager)."""
    var_dir = tmp_path / "var"
    folders = {sub: var_dir / "broker" / sub for sub in ("queue", "processed", "control")}
    for folder in folders.values():
        folder.mkdir(parents=True)
    saved = {"broker_transport_options": app.conf.broker_transport_options,
             "task_always_eager": app.conf.task_always_eager, "broker_url": app.conf.broker_url}

    app.conf.update(
        broker_url="filesystem://",
        task_always_eager=False,
        broker_transport_options={
            "data_folder_in": str(folders["queue"]),
            "data_folder_out": str(folders["queue"]),
            "processed_folder": str(folders["processed"]),
            "control_folder": str(folders["control"]),
            "store_processed": False,
        },
    )
    broker_pools_reset(app)
    try:
        yield var_dir
    finally:
        app.conf.update(**saved)
        broker_pools_reset(app)


@pytest.fixture
def worker(shared_database, broker_dir, tmp_path):
    log_path = tmp_path / "worker.log"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("CELERY_", "DATABASE_"))},
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DATABASE_URL": shared_database,
        "PERSONA_STUDIO_VAR_DIR": str(broker_dir),
        "DJANGO_MEDIA_ROOT": str(Path(settings.MEDIA_ROOT).resolve()),
        "GENERATION_MODEL_CACHE": str(Path(settings.GENERATION_MODEL_CACHE).resolve()),
        "GENERATION_BASE_MODEL": settings.GENERATION_BASE_MODEL,
        "CELERY_TASK_ALWAYS_EAGER": "0",
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
    }
    command = [
        sys.executable, "-m", "celery", "-A", "config", "worker", "-Q", "gpu,default", "--pool=solo",
        "--concurrency=1", "--loglevel=INFO", "--without-gossip", "--without-mingle", "--without-heartbeat",
        "-n", f"it-{uuid.uuid4().hex[:8]}@%h",
    ]
    with open(log_path, "wb") as log:
        process = subprocess.Popen(  # noqa: S603 - fixed command line
            command, cwd=settings.BASE_DIR, env=env, stdout=log, stderr=subprocess.STDOUT
        )
    try:
        yield process, log_path
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)


def _log_tail(log_path: Path) -> str:
    return log_path.read_text(errors="replace")[-4000:]


def _wait_finished(model, pk: int, process: subprocess.Popen, log_path: Path):
    deadline = time.monotonic() + TIMEOUT_S
    while time.monotonic() < deadline:
        obj = model.objects.get(pk=pk)
        if obj.status in FINISHED:
            return obj
        if process.poll() is not None:
            pytest.fail(f"The worker exited with {process.returncode}:\n{_log_tail(log_path)}")
        time.sleep(0.5)
    pytest.fail(f"{model.__name__} {pk} did not finish in {TIMEOUT_S}s:\n{_log_tail(log_path)}")


def _wait_created(queryset, process: subprocess.Popen, log_path: Path):
    deadline = time.monotonic() + TIMEOUT_S
    while time.monotonic() < deadline:
        obj = queryset.first()
        if obj is not None:
            return obj
        if process.poll() is not None:
            pytest.fail(f"The worker exited with {process.returncode}:\n{_log_tail(log_path)}")
        time.sleep(0.5)
    pytest.fail(f"No {queryset.model.__name__} was created in {TIMEOUT_S}s:\n{_log_tail(log_path)}")


def test_real_worker_trains_then_generates_posts(worker):
    process, log_path = worker
    marketer = MembershipFactory(role=Role.MARKETER).user
    workspace = marketer.memberships.get().workspace
    persona = PersonaFactory(workspace=workspace, created_by=marketer)
    for _ in range(3):
        ReferenceImageFactory(persona=persona)

    # Autocommit here: the service's on_commit hook really sends the message to the broker.
    version = services.lora_training_start(actor=marketer, persona=persona, steps=3, rank=4)
    version = _wait_finished(LoraVersion, version.pk, process, log_path)
    assert version.status == JobStatus.SUCCEEDED, f"{version.error}\n{_log_tail(log_path)}"
    assert version.is_active and version.progress_step == version.total_steps == 3
    assert len(version.loss_curve) == 3
    assert (Path(settings.MEDIA_ROOT) / version.weights_path).is_file()
    # The reviewer samples render right after the weights are stored, in the same task: their job is created
    # just after the version's success commits, so wait for it rather than racing the worker.
    sample = _wait_created(GenerationJob.objects.filter(lora_version=version, is_sample=True), process, log_path)
    sample = _wait_finished(GenerationJob, sample.pk, process, log_path)
    assert sample.status == JobStatus.SUCCEEDED, f"{sample.error}\n{_log_tail(log_path)}"
    assert sample.images.count() == training_runs.SAMPLE_COUNT

    job = services.generation_job_create(
        actor=marketer, persona=persona, scene="coffee at a cafe terrace", platform="instagram",
        num_variants=2, steps=3, seed=11,
    )
    job = _wait_finished(GenerationJob, job.pk, process, log_path)
    assert job.status == JobStatus.SUCCEEDED, f"{job.error}\n{_log_tail(log_path)}"
    # The posts are drafted after the job's commit, by the drafting task on the default queue.
    job = _wait_created(GenerationJob.objects.filter(pk=job.pk).exclude(drafting_status=DraftingStatus.PENDING),
                        process, log_path)
    assert job.progress_step == job.total_steps == 3
    images = list(GeneratedImage.objects.filter(job=job).order_by("index"))
    assert [image.seed for image in images] == [11, 12]
    assert all(Path(image.image.path).is_file() and image.lora_sha256 == version.sha256 for image in images)
    posts = list(Post.objects.filter(persona=persona).order_by("id"))
    assert len(posts) == 2
    assert all(post.status == PostStatus.IN_REVIEW and persona.disclosure_label in post.caption for post in posts)
    assert sorted(p.images.get().generated_image_id for p in posts) == [image.pk for image in images]


def test_real_worker_reports_the_likeness_of_a_new_version(worker):
    """The tiny model's renders hold no face: the report says so (face-found rate 0, no mean), never a likeness of
    zero; the reviewer samples are scored on the default queue."""
    from django.core.files.uploadedfile import SimpleUploadedFile

    from generation.models import LikenessStatus
    from generation.training.reports import REPORT_SCENES
    from personas.services import reference_images_upload
    from tests import faces

    process, log_path = worker
    marketer = MembershipFactory(role=Role.MARKETER).user
    workspace = marketer.memberships.get().workspace
    persona = PersonaFactory(workspace=workspace, created_by=marketer, is_human_face=True)
    edits = faces.variants(faces.astronaut())
    reference_images_upload(actor=marketer, persona=persona, files=[
        SimpleUploadedFile(f"{name}.jpg", faces.jpeg_bytes(faces.at_least(img)), content_type="image/jpeg")
        for name, img in (("front", faces.astronaut()), ("flip", edits["flip"]), ("dark", edits["darker"]))
    ])
    version = services.lora_training_start(actor=marketer, persona=persona, steps=3, rank=4)
    version = _wait_finished(LoraVersion, version.pk, process, log_path)
    assert version.status == JobStatus.SUCCEEDED, f"{version.error}\n{_log_tail(log_path)}"
    deadline = time.monotonic() + TIMEOUT_S
    while not version.likeness_report and time.monotonic() < deadline:
        assert process.poll() is None, _log_tail(log_path)
        time.sleep(0.5)
        version.refresh_from_db()
    report = version.likeness_report
    assert report["status"] == "scored", report
    assert len(report["prompts"]) == len(REPORT_SCENES) == len(report["images"])
    for side in ("version", "base_model"):
        summary = report[side]
        assert summary["images"] == 3 and summary["faces_found"] == 0 and summary["face_found_rate"] == 0.0
        assert summary["no_face"] == 3 and summary["mean_likeness"] is None and summary["min_likeness"] is None
    assert {row["version"]["likeness_status"] for row in report["images"]} == {"no_face"}

    sample = GenerationJob.objects.get(lora_version=version, is_sample=True)
    deadline = time.monotonic() + TIMEOUT_S
    while sample.images.filter(likeness_status=LikenessStatus.PENDING).exists() and time.monotonic() < deadline:
        time.sleep(0.5)
    assert set(sample.images.values_list("likeness_status", flat=True)) == {LikenessStatus.NO_FACE}
