"""`make run` serves first and seeds the demo's slow part on the GPU worker; the dashboard shows how far it got."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.urls import reverse

from config.celery import app
from core.access import Role
from generation.models import BaseModel, DraftingStatus, GenerationJob, JobStatus, LoraVersion, SamplesStatus
from generation.runtime import heartbeats
from generation.services import lora_training_start
from personas.models import Persona, ReferenceImage
from scheduler.models import Post, PostStatus
from tests.factories import DemoSeedFactory, GenerationJobFactory, LoraVersionFactory, MembershipFactory, PersonaFactory
from tests.publishing.graph_server import wiring_saved
from web import demo, tasks
from web.management.commands import run_studio
from web.models import DEMO_PERSONA_HANDLE, DEMO_SCENES, DemoSeed, DemoSeedStatus

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _var_dir(settings, tmp_path):
    settings.VAR_DIR = tmp_path / "var"


@pytest.fixture(autouse=True)
def _publishing_sandbox(settings, monkeypatch):
    # run_studio starts the publishing sandbox and rewires the platform settings: on a free port, undone after.
    wiring_saved(settings, monkeypatch)
    settings.PUBLISHING_SANDBOX_PORT = 0


@pytest.fixture
def sent(monkeypatch) -> list[tuple[int, str | None]]:
    """The fill messages sent: (seed id, explicit queue or None when routed by name)."""
    messages: list[tuple[int, str | None]] = []
    monkeypatch.setattr(tasks.demo_workspace_fill, "delay", lambda pk: messages.append((pk, None)))
    monkeypatch.setattr(tasks.demo_workspace_fill, "apply_async", lambda args, queue: messages.append((args[0], queue)))
    return messages


@pytest.fixture
def demo_admin(client):
    seed = DemoSeedFactory()
    persona = PersonaFactory(workspace=seed.workspace, handle=DEMO_PERSONA_HANDLE, name="Mira Sol")
    user = MembershipFactory(workspace=seed.workspace, role=Role.ADMIN).user
    client.force_login(user)
    return seed, persona


def demo_block(client) -> str:
    content = client.get(reverse("dashboard")).content.decode()
    return content[content.index('id="demo-progress"'):] if 'id="demo-progress"' in content else ""


def test_run_studio_queues_the_demo_and_serves_before_seeding_it(monkeypatch, sent, capsys,
                                                                 django_capture_on_commit_callbacks):
    at_serve = {}

    def call_command_seen(name, *args, **options):
        if name == "runserver":  # what the server starts with
            at_serve.update(seed=DemoSeed.objects.get().status, loras=LoraVersion.objects.count(),
                            jobs=GenerationJob.objects.count(), personas=Persona.objects.count())
        # migrate: the test database is migrated already

    monkeypatch.setattr(run_studio, "call_command", call_command_seen)
    with django_capture_on_commit_callbacks(execute=True):
        call_command("run_studio", "--no-worker", "--port", "8765")
    assert at_serve == {"seed": DemoSeedStatus.QUEUED, "loras": 0, "jobs": 0, "personas": 1}
    seed = DemoSeed.objects.get()
    assert sent == [(seed.pk, None)]  # routed by name, to the GPU queue
    assert app.amqp.router.route({}, "web.tasks.demo_workspace_fill")["queue"].name == "gpu"
    out = capsys.readouterr().out
    assert "Log in as demo / " in out and "progress on the dashboard" in out


def test_a_ready_demo_is_not_queued_again(sent):
    demo.demo_workspace_ensure()
    seed = demo.demo_seed_request()
    DemoSeed.objects.filter(pk=seed.pk).update(status=DemoSeedStatus.READY)
    assert demo.demo_seed_request().status == DemoSeedStatus.READY
    assert DemoSeed.objects.count() == 1


def test_a_message_sent_again_leaves_the_seed_to_its_live_worker():
    demo.demo_workspace_ensure()
    seed = demo.demo_seed_request()
    gpu = heartbeats.worker_heartbeat_register(name="gpu@render-1", queues=["gpu"])
    DemoSeed.objects.filter(pk=seed.pk).update(status=DemoSeedStatus.RUNNING, worker_instance=gpu.instance)
    assert demo.demo_workspace_fill(demo_seed_id=seed.pk).status == DemoSeedStatus.RUNNING
    assert not LoraVersion.objects.exists()


def test_a_dead_workers_seed_is_taken_over_and_its_failure_shown_until_run_again(client, sent,
                                                                                  django_capture_on_commit_callbacks):
    demo.demo_workspace_ensure()
    seed = demo.demo_seed_request()
    gpu = heartbeats.worker_heartbeat_register(name="gpu@render-1", queues=["gpu"])
    heartbeats.worker_heartbeat_stop(instance=gpu.instance)
    DemoSeed.objects.filter(pk=seed.pk).update(status=DemoSeedStatus.RUNNING, worker_instance=gpu.instance)
    ReferenceImage.objects.all().delete()  # training refuses: the takeover ends at once, with the reason

    seed = demo.demo_workspace_fill(demo_seed_id=seed.pk)
    assert seed.status == DemoSeedStatus.FAILED and "reference images" in seed.error
    client.force_login(get_user_model().objects.get(username="demo"))
    block = demo_block(client)
    assert 'data-demo-state="failed"' in block and "seeding stopped" in block and "reference images" in block
    assert "hx-get" not in block.split("</section>")[0]  # nothing to poll for

    # A message sent again does not retry a failed seed; the next `make run` does.
    assert demo.demo_workspace_fill(demo_seed_id=seed.pk).status == DemoSeedStatus.FAILED
    sent.clear()
    with django_capture_on_commit_callbacks(execute=True):
        again = demo.demo_seed_request()
    assert (again.status, again.error, sent) == (DemoSeedStatus.QUEUED, "", [(seed.pk, None)])


def test_a_starting_worker_sends_again_only_the_seeds_a_worker_was_running(sent, django_capture_on_commit_callbacks):
    running = DemoSeedFactory(status=DemoSeedStatus.RUNNING)
    DemoSeedFactory(status=DemoSeedStatus.QUEUED, workspace__slug="other-demo")
    DemoSeedFactory(status=DemoSeedStatus.READY, workspace__slug="done-demo")
    with django_capture_on_commit_callbacks(execute=True):
        assert demo.demo_seeds_resend() == 1
    assert sent == [(running.pk, None)]


def test_the_dashboard_shows_the_demo_stage_and_steps_until_it_is_ready(client, demo_admin):
    seed, persona = demo_admin
    DemoSeed.objects.filter(pk=seed.pk).update(status=DemoSeedStatus.QUEUED)
    assert "waiting for the GPU worker" in demo_block(client)

    DemoSeed.objects.filter(pk=seed.pk).update(status=DemoSeedStatus.RUNNING)
    lora = LoraVersionFactory(persona=persona, status=JobStatus.RUNNING, progress_step=40, total_steps=120)
    block = demo_block(client)
    assert "demo workspace:</strong> training the demo LoRA, 40 / 120 steps" in block
    assert reverse("dashboard_demo") in block  # polled
    partial = client.get(reverse("dashboard_demo")).content.decode()
    assert "training the demo LoRA, 40 / 120 steps" in partial

    LoraVersion.objects.filter(pk=lora.pk).update(status=JobStatus.SUCCEEDED, progress_step=120)
    GenerationJobFactory(persona=persona, lora_version=lora, is_sample=True, status=JobStatus.SUCCEEDED)
    (first, _), (second, _) = DEMO_SCENES
    GenerationJobFactory(persona=persona, scene=first, status=JobStatus.RUNNING, progress_step=10, total_steps=25)
    GenerationJobFactory(persona=persona, scene=second, status=JobStatus.QUEUED, total_steps=25)
    assert "rendering the demo drafts, 10 / 50 steps" in demo_block(client)

    GenerationJob.objects.filter(persona=persona, is_sample=False).update(status=JobStatus.SUCCEEDED,
                                                                          drafting_status=DraftingStatus.DRAFTED)
    BaseModel.objects.filter(location="tiny").update(samples_status=SamplesStatus.QUEUED)
    assert "rendering the built-in models&#x27; sample galleries, 0 / " in demo_block(client)

    DemoSeed.objects.filter(pk=seed.pk).update(status=DemoSeedStatus.READY)
    assert demo_block(client) == ""
    done = client.get(reverse("dashboard_demo"))
    assert (done.status_code, done["HX-Refresh"], done.content) == (200, "true", b"")


def test_other_workspaces_show_no_demo_block(client, marketer, persona):
    DemoSeedFactory()
    client.force_login(marketer)
    assert demo_block(client) == ""


@pytest.mark.slow
def test_the_worker_resumes_an_interrupted_seed_without_a_second_lora_or_job(sent):
    creds = demo.demo_workspace_ensure()
    seed = demo.demo_seed_request(training_steps=10)
    persona = Persona.objects.get(handle=DEMO_PERSONA_HANDLE)
    marketer = persona.workspace.memberships.get(role=Role.MARKETER).user
    # The GPU worker died mid-training.
    gpu = heartbeats.worker_heartbeat_register(name="gpu@render-1", queues=["gpu"])
    heartbeats.worker_heartbeat_stop(instance=gpu.instance)
    version = lora_training_start(actor=marketer, persona=persona, steps=10)
    LoraVersion.objects.filter(pk=version.pk).update(status=JobStatus.RUNNING, worker=gpu, progress_step=4)
    DemoSeed.objects.filter(pk=seed.pk).update(status=DemoSeedStatus.RUNNING, worker_instance=gpu.instance)

    assert tasks.demo_workspace_fill(seed.pk) == DemoSeedStatus.READY
    assert list(LoraVersion.objects.values_list("pk", "status")) == [(version.pk, JobStatus.SUCCEEDED)]
    jobs = GenerationJob.objects.filter(is_sample=False)
    assert sorted(jobs.values_list("scene", flat=True)) == sorted(scene for scene, _ in DEMO_SCENES)
    assert Post.objects.filter(persona=persona, status=PostStatus.IN_REVIEW).count() >= 3
    assert Post.objects.filter(persona=persona, status=PostStatus.SCHEDULED).count() == 1
    assert set(BaseModel.objects.values_list("samples_status", flat=True)) == {SamplesStatus.READY}

    # Sent again (a redelivery, the next `make run`): every step is found done.
    counts = (LoraVersion.objects.count(), GenerationJob.objects.count(), Post.objects.count())
    DemoSeed.objects.filter(pk=seed.pk).update(status=DemoSeedStatus.QUEUED)
    assert tasks.demo_workspace_fill(seed.pk) == DemoSeedStatus.READY
    assert (LoraVersion.objects.count(), GenerationJob.objects.count(), Post.objects.count()) == counts
    assert creds == demo.demo_workspace_ensure()
    # `manage.py seed_demo` (everything in one process) on the seeded workspace: the same demo, nothing added.
    assert demo.demo_workspace_seed(train=True, training_steps=10) == creds
    assert (LoraVersion.objects.count(), GenerationJob.objects.count(), Post.objects.count()) == counts
    assert LoraVersion.objects.get(persona=persona, is_active=True).status == JobStatus.SUCCEEDED
    scheduled = Post.objects.get(persona=persona, status=PostStatus.SCHEDULED)
    assert scheduled.images.count() == 1 and persona.disclosure_label in scheduled.caption
    # Both built-in models show their sample galleries.
    assert {(m.family, m.samples_status, m.samples.count()) for m in BaseModel.objects.all()} == {
        ("tiny", SamplesStatus.READY, 3), ("tiny-sdxl", SamplesStatus.READY, 3)}
