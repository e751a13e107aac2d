"""Two workers that share nothing but PostgreSQL, Redis and the object store (SeaweedFS): separate working
folders and caches, no media folder. One trains, the other generates with the weights it fetches itself, the
web tier exports; a worker killed mid-job loses nothing and duplicates nothing."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import zipfile

import pytest
from django.utils import timezone

from core.access import Role
from generation import services as generation_services
from generation.models import DraftingStatus, GeneratedImage, GenerationJob, JobStatus, JobTransition, LoraVersion
from provenance.bundles import build as exports
from provenance.models import ExportBundle, ExportStatus
from scheduler.models import Post, PostStatus
from tests.conftest import client_for
from tests.factories import MembershipFactory, PersonaFactory, ReferenceImageFactory, WorkspaceFactory
from tests.integration.workers import wait_for

pytestmark = [pytest.mark.services, pytest.mark.slow]

FINISHED = [JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED]


@pytest.fixture
def machine(s3_media, tmp_path, settings):
    """machine(name): the environment of a worker on a machine of its own: media only on the object store."""
    prefix = settings.STORAGES["default"]["OPTIONS"]["location"]

    def env(name: str) -> dict[str, str]:
        home = tmp_path / f"machine-{name}"
        return {
            **s3_media.env(prefix=prefix),
            "PERSONA_STUDIO_VAR_DIR": str(home / "var"),
            "DJANGO_MEDIA_ROOT": str(home / "no-media"),  # must never be created
            "WORKER_CACHE_DIR": str(home / "cache"),
            "GENERATION_MODEL_CACHE": str(home / "models"),
            "WORKER_HEARTBEAT_INTERVAL": "1",
        }

    return env


def _finished(model, pk: int):
    return model.objects.filter(pk=pk, status__in=FINISHED).first()


def _drafted(job_id: int) -> GenerationJob | None:
    return GenerationJob.objects.filter(pk=job_id, status__in=FINISHED).exclude(
        drafting_status=DraftingStatus.PENDING).first()


def test_train_on_one_generate_on_the_other_export_from_the_web_and_survive_a_kill(
    transactional_db, workers, machine, tmp_path,
):
    workspace = WorkspaceFactory()
    marketer = MembershipFactory(workspace=workspace, role=Role.MARKETER).user
    persona = PersonaFactory(workspace=workspace, created_by=marketer)
    for _ in range(3):
        ReferenceImageFactory(persona=persona)

    trainer = workers("trainer", **machine("a"))
    version = generation_services.lora_training_start(actor=marketer, persona=persona, steps=3, rank=4)
    version = wait_for(lambda: _finished(LoraVersion, version.pk), timeout=300, what="training on the trainer")
    assert version.status == JobStatus.SUCCEEDED, version.error
    assert version.worker.name.startswith("trainer@")
    sample = wait_for(lambda: GenerationJob.objects.filter(lora_version=version, is_sample=True,
                                                           status__in=FINISHED).first(),
                      timeout=300, what="the reviewer samples")
    assert sample.status == JobStatus.SUCCEEDED, sample.error
    trainer.stop()

    renderer = workers("renderer", **machine("b"))
    job = generation_services.generation_job_create(
        actor=marketer, persona=persona, scene="coffee at a cafe terrace", platform="instagram",
        num_variants=2, steps=3, seed=11,
    )  # fmt: skip
    job = wait_for(lambda: _drafted(job.pk), timeout=300, what="generation on the renderer")
    assert job.status == JobStatus.SUCCEEDED, job.error
    assert job.worker.name.startswith("renderer@")
    # The renderer fetched the trainer's weights from the object store into its own cache, by sha256.
    assert (tmp_path / "machine-b" / "cache" / version.sha256[:2] / version.sha256).is_dir()
    images = list(GeneratedImage.objects.filter(job=job))
    assert {image.lora_sha256 for image in images} == {version.sha256}
    assert all(image.image.storage.exists(image.image.name) for image in images)

    # Both alive; the one that takes the next job is killed mid-run. Redis hands its message to the other.
    second = workers("trainer-2", **machine("a"))
    killed = generation_services.generation_job_create(
        actor=marketer, persona=persona, scene="walking a dog in the rain", platform="instagram",
        num_variants=2, steps=12, seed=5,
    )  # fmt: skip
    wait_for(lambda: GenerationJob.objects.filter(pk=killed.pk, status=JobStatus.RUNNING, worker__isnull=False)
             .exists(), timeout=240, what="a worker to take the job", interval=0.1)  # fmt: skip
    killed.refresh_from_db()
    holder = killed.worker.name.split("@")[0]
    {"renderer": renderer, "trainer-2": second}[holder].kill()
    assert GenerationJob.objects.get(pk=killed.pk).status == JobStatus.RUNNING  # killed before it could finish
    killed = wait_for(lambda: _drafted(killed.pk), timeout=600, what="the job after its worker was killed")
    assert killed.status == JobStatus.SUCCEEDED, killed.error
    assert not killed.worker.name.startswith(f"{holder}@")
    assert sorted(GeneratedImage.objects.filter(job=killed).values_list("index", flat=True)) == [0, 1]
    assert JobTransition.objects.filter(generation_job=killed, to_status=JobStatus.SUCCEEDED).count() == 1
    assert Post.objects.filter(persona=persona).count() == 4  # two jobs, one draft per variant, once each

    # The web tier exports; the bundle is built by a worker and streamed from the object store.
    when = timezone.now() + dt.timedelta(days=2)
    Post.objects.filter(persona=persona).update(status=PostStatus.SCHEDULED, scheduled_at=when)
    bundle = exports.export_bundle_create(actor=marketer, workspace=workspace, persona_ids=[persona.pk],
                                          start=when - dt.timedelta(days=1), end=when + dt.timedelta(days=1))
    bundle = wait_for(lambda: ExportBundle.objects.filter(pk=bundle.pk, status__in=[
        ExportStatus.SUCCEEDED, ExportStatus.FAILED]).first(), timeout=180, what="the bundle build")
    assert bundle.status == ExportStatus.SUCCEEDED, bundle.error
    download = client_for(marketer).get(f"/api/v1/exports/{bundle.pk}/download/")
    assert download.status_code == 200
    blob = b"".join(download.streaming_content)
    assert hashlib.sha256(blob).hexdigest() == bundle.sha256
    names = zipfile.ZipFile(io.BytesIO(blob)).namelist()
    assert sum(name.startswith("images/") for name in names) == 4

    for name in ("a", "b"):  # nothing went through a local media folder on either machine
        assert not (tmp_path / f"machine-{name}" / "no-media").exists()
