"""The demo workspace that `make run` seeds: a persona with reference images, a trained LoRA, generated drafts
waiting in the review queue, one scheduled post, and the built-in models' sample galleries.

Two parts. demo_workspace_ensure writes the accounts, the persona and its references (seconds): `make run` does it
before the server starts, so the logins work at once. demo_workspace_fill trains, renders and drafts (minutes on a
CPU): `make run` queues it on the GPU worker (demo_seed_request), and the dashboard shows how far it got. Every step
looks first at what is there, so a second run changes nothing and an interrupted one resumes where it stopped."""

from __future__ import annotations

import datetime as dt
import io
import logging
import secrets
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from django.utils import timezone
from PIL import Image, ImageDraw, ImageFilter

from core.access import Role
from core.errors import ApplicationError
from generation.jobs.render import generation_job_run
from generation.library.gallery import base_model_samples_render
from generation.library.services import base_model_default_ensure, base_model_register, base_model_samples_request
from generation.models import BaseModel, BaseModelStatus, GenerationJob, JobStatus, LoraVersion, SamplesStatus
from generation.runtime import heartbeats
from generation.runtime.health import workers_alive
from generation.selectors import base_model_default
from generation.services import generation_job_create, lora_training_start
from generation.training.runs import lora_training_run
from generation.transitions import error_text, gpu_task_send
from personas.models import Persona, Workspace
from personas.services import membership_add, persona_create, reference_images_upload, workspace_create
from publishing.models import AccountPlatform, AccountStatus
from publishing.sandbox.wiring import consent_answer
from publishing.selectors import persona_live_accounts
from publishing.services import account_connect_finish, account_connect_start
from scheduler.drafting.services import generation_job_posts_draft
from scheduler.models import Post, PostStatus
from scheduler.selectors import next_free_slot
from scheduler.services import post_approve, post_schedule
from web.models import (
    DEMO_BUILTIN_MODELS,
    DEMO_PERSONA_HANDLE,
    DEMO_SCENES,
    DEMO_TRAINING_STEPS,
    DEMO_WORKSPACE_SLUG,
    DemoSeed,
    DemoSeedStatus,
)

FILL_TASK = "web.tasks.demo_workspace_fill"
UNFINISHED = (JobStatus.QUEUED, JobStatus.RUNNING)

logger = logging.getLogger(__name__)


class DemoSeedError(Exception):
    """A step of the demo ended without what the next one needs (its training or a render failed)."""


@dataclass
class DemoCredentials:
    admin_username: str
    admin_password: str
    marketer_username: str
    marketer_password: str


def demo_reference_image(index: int, size: int = 768) -> bytes:
    """A synthetic 'portrait' with a fixed look (silver hair, teal jacket) so a LoRA has something to learn."""
    bg = [(250, 214, 165), (182, 215, 233), (236, 190, 210), (205, 230, 190), (240, 230, 200), (210, 200, 240)]
    image = Image.new("RGB", (size, size), bg[index % len(bg)])
    draw = ImageDraw.Draw(image)
    cx = size // 2 + (index % 3 - 1) * size // 12
    cy = size // 2 - size // 16
    r = size // 6
    draw.rectangle([cx - r * 2, cy + r, cx + r * 2, size], fill=(20, 140, 140))  # teal jacket
    draw.ellipse([cx - r * 1.25, cy - r * 1.35, cx + r * 1.25, cy + r * 0.9], fill=(200, 205, 215))  # silver hair
    draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=(236, 196, 170))  # face
    for dx in (-r // 2.6, r // 2.6):
        draw.ellipse([cx + dx - r // 9, cy - r // 6, cx + dx + r // 9, cy + r // 14], fill=(40, 110, 70))  # eyes
    draw.arc([cx - r // 2.5, cy + r // 5, cx + r // 2.5, cy + r // 1.8], 10, 170, fill=(170, 60, 70), width=size // 90)
    image = image.filter(ImageFilter.GaussianBlur(radius=1.2))
    buf = io.BytesIO()
    image.save(buf, "JPEG", quality=92)
    return buf.getvalue()


def _user(username: str) -> tuple[object, str | None]:
    user_model = get_user_model()
    user = user_model.objects.filter(username=username).first()
    if user is not None:
        return user, None
    password = secrets.token_urlsafe(12)
    user = user_model.objects.create_user(username=username, email=f"{username}@demo.local", password=password)
    return user, password


def _credentials_file():
    return settings.VAR_DIR / "demo-credentials.txt"


def demo_workspace_ensure() -> DemoCredentials:
    """The accounts, the workspace, its persona with six reference images and the built-in models' library entries,
    each created once; the logins (written to var/demo-credentials.txt when the accounts are made)."""
    creds_path = _credentials_file()
    with transaction.atomic():
        workspace = Workspace.objects.filter(slug=DEMO_WORKSPACE_SLUG).first()
        if workspace is None:
            admin, admin_pw = _user("demo")
            admin.is_staff = True
            admin.save(update_fields=["is_staff"])
            creator, creator_pw = _user("demo-marketer")
            workspace = workspace_create(name="Demo Studio", owner=admin)
            workspace.slug = DEMO_WORKSPACE_SLUG
            workspace.save(update_fields=["slug"])
            membership_add(workspace=workspace, user=creator, role=Role.MARKETER, actor=admin)
            persona = persona_create(
                actor=creator,
                workspace=workspace,
                name="Mira Sol",
                handle=DEMO_PERSONA_HANDLE,
                age=26,
                pronouns="she/her",
                bio="Virtual traveller and coffee nerd. Always chasing golden hour.",
                appearance="woman with short silver hair, green eyes, teal jacket",
                style_keywords=["film photo", "soft light", "pastel"],
                voice="warm, playful, short sentences, one emoji at most",
                default_hashtags=["#virtualinfluencer", "#mirasol", "#goldenhour"],
                trigger_token="mrsl",
                timezone="Europe/Lisbon",
                target_platforms=["instagram", "threads", "tiktok"],
                posting_slots=["09:00", "13:00", "19:00"],
                # Its references are drawn, not photographed: no face a face model can find, so likeness does not
                # apply. No demo persona is built from a real person's photos.
                is_human_face=False,
            )
            files = [
                SimpleUploadedFile(f"mira_{i}.jpg", demo_reference_image(i), content_type="image/jpeg")
                for i in range(6)
            ]
            reference_images_upload(actor=creator, persona=persona, files=files, rights_confirmed=True)
            creds_path.parent.mkdir(parents=True, exist_ok=True)
            creds_path.write_text(f"demo {admin_pw}\ndemo-marketer {creator_pw}\n")
            creds_path.chmod(0o600)
    _demo_base_models(render=False)
    _demo_sandbox_account(workspace=Workspace.objects.get(slug=DEMO_WORKSPACE_SLUG))
    lines = dict(line.split(" ", 1) for line in creds_path.read_text().splitlines() if line.strip())
    return DemoCredentials("demo", lines["demo"], "demo-marketer", lines["demo-marketer"])


def _demo_sandbox_account(*, workspace: Workspace) -> None:
    """With the publishing sandbox on (`make run`), the persona's Instagram account is connected there the way a
    person connects one: the connect start, the consent page's Allow, the callback's code exchange. Once: an account
    that is connected stays; one the platform refused is connected again."""
    if not settings.PUBLISHING_SANDBOX_URL:
        return
    persona = Persona.objects.get(workspace=workspace, handle=DEMO_PERSONA_HANDLE)
    live = persona_live_accounts(persona_id=persona.pk).get(AccountPlatform.INSTAGRAM)
    if live is not None and live.status == AccountStatus.CONNECTED:
        return
    admin = get_user_model().objects.get(username="demo")
    try:
        url = account_connect_start(actor=admin, persona_id=persona.pk, platform=AccountPlatform.INSTAGRAM)
        answer = consent_answer(authorize_url=url)
        account_connect_finish(actor=admin, state=answer.get("state", ""), code=answer.get("code", ""))
    except (ApplicationError, OSError, ValueError):  # OSError: requests' errors (the sandbox did not answer)
        # The demo works without it (connect from the persona page); the log says why it is missing.
        logger.exception("Connecting the demo persona to the publishing sandbox failed")


def demo_workspace_seed(*, train: bool = True, training_steps: int = DEMO_TRAINING_STEPS) -> DemoCredentials:
    """The whole demo in this process (`manage.py seed_demo`); without `train`, only demo_workspace_ensure."""
    creds = demo_workspace_ensure()
    if train:
        _demo_fill(Workspace.objects.get(slug=DEMO_WORKSPACE_SLUG), training_steps=training_steps)
    return creds


# --- on the GPU worker ---------------------------------------------------------------------------------------


def demo_seed_request(*, training_steps: int = DEMO_TRAINING_STEPS) -> DemoSeed | None:
    """Queue the demo's training, drafts and galleries on the GPU worker unless they are ready; a seed that failed
    or was cut off is queued again (it resumes). None when there is no demo workspace."""
    with transaction.atomic():
        workspace = Workspace.objects.filter(slug=DEMO_WORKSPACE_SLUG).first()
        if workspace is None:
            return None
        now = timezone.now()
        seed, created = DemoSeed.objects.select_for_update().get_or_create(
            workspace=workspace, defaults={"requested_at": now, "training_steps": training_steps})
        if seed.status == DemoSeedStatus.READY:
            return seed
        if not created:
            seed.status, seed.training_steps, seed.requested_at = DemoSeedStatus.QUEUED, training_steps, now
            seed.worker_instance, seed.error, seed.started_at, seed.finished_at = "", "", None, None
            seed.save()
        _fill_send(seed)
    return seed


def demo_seeds_resend() -> int:
    """Send again the seeds a worker was running (at a worker's start: the embedded broker never redelivers a
    killed worker's message); the task leaves a seed to its worker while that one is alive. Returns how many."""
    seeds = list(DemoSeed.objects.filter(status=DemoSeedStatus.RUNNING))
    for seed in seeds:
        _fill_send(seed, robust=True)
    return len(seeds)


def _fill_send(seed: DemoSeed, *, robust: bool = False) -> None:
    default = base_model_default()  # the persona trains and renders on it: its family's GPU queue
    gpu_task_send(FILL_TASK, seed.pk, family=default.family if default else None, robust=robust)


def demo_workspace_fill(*, demo_seed_id: int) -> DemoSeed | None:
    """Task body: train the demo LoRA, render and draft the demo posts, schedule one, render the galleries; then
    the seed is ready, or failed with the reason. Safe to run again: done steps are skipped."""
    seed = _demo_seed_claim(demo_seed_id)
    if seed is not None:
        try:
            _demo_fill(seed.workspace, training_steps=seed.training_steps)
        except Exception as exc:
            logger.exception("Seeding the demo workspace failed")
            _demo_seed_end(seed, DemoSeedStatus.FAILED, error=error_text(exc))
        else:
            _demo_seed_end(seed, DemoSeedStatus.READY)
    return DemoSeed.objects.filter(pk=demo_seed_id).first()


def _demo_seed_claim(demo_seed_id: int) -> DemoSeed | None:
    """The seed, now running in this process; None when it is finished or a live worker runs it."""
    me = heartbeats.current_worker_instance() or ""
    with transaction.atomic():
        seed = DemoSeed.objects.select_for_update().select_related("workspace").filter(pk=demo_seed_id).first()
        if seed is None or seed.status in (DemoSeedStatus.READY, DemoSeedStatus.FAILED):
            return None
        holder = seed.worker_instance
        if seed.status == DemoSeedStatus.RUNNING and holder not in ("", me) and _worker_alive(holder):
            return None
        seed.status, seed.worker_instance, seed.started_at, seed.error = DemoSeedStatus.RUNNING, me, timezone.now(), ""
        seed.save(update_fields=["status", "worker_instance", "started_at", "error"])
    return seed


def _worker_alive(instance: str) -> bool:
    return any(worker.instance == instance for worker in workers_alive())


def _demo_seed_end(seed: DemoSeed, status: str, *, error: str = "") -> None:
    # Only while this attempt holds it: a worker that took over (this one looked dead) writes its own ending.
    DemoSeed.objects.filter(pk=seed.pk, status=DemoSeedStatus.RUNNING, worker_instance=seed.worker_instance).update(
        status=status, error=error, finished_at=timezone.now())


def _demo_fill(workspace: Workspace, *, training_steps: int) -> None:
    persona = Persona.objects.get(workspace=workspace, handle=DEMO_PERSONA_HANDLE)
    creator = get_user_model().objects.get(username="demo-marketer")
    _demo_lora_train(persona=persona, creator=creator, steps=training_steps)
    _demo_drafts(persona=persona, creator=creator)
    _demo_schedule_one(persona=persona)
    _demo_base_models(render=True)


def _demo_lora_train(*, persona: Persona, creator: AbstractBaseUser, steps: int) -> None:
    """Train in this process (the GPU worker's; seconds to minutes with the built-in tiny model). An unfinished
    version (cut off, or queued again after its worker died) is resumed rather than a second one started."""
    versions = LoraVersion.objects.filter(persona=persona)
    if versions.filter(status=JobStatus.SUCCEEDED).exists():
        return
    version = versions.filter(status__in=UNFINISHED).order_by("-version").first()
    if version is None:
        version = lora_training_start(actor=creator, persona=persona, steps=steps)
    version = lora_training_run(lora_version_id=version.pk)  # the queued train_lora task then finds it done
    if version is None or version.status != JobStatus.SUCCEEDED:
        ending = version.error or version.status if version is not None else "deleted"
        raise DemoSeedError(f"Training the demo LoRA did not succeed: {ending}")


def _demo_drafts(*, persona: Persona, creator: AbstractBaseUser) -> None:
    """One job per demo scene (both queued first: a GPU batches them in one call), rendered here, then drafted now
    rather than when a worker takes the queued drafting task (a no-op then)."""
    jobs = []
    for scene, platform in DEMO_SCENES:
        job = (GenerationJob.objects.filter(persona=persona, is_sample=False, scene=scene)
               .exclude(status__in=[JobStatus.FAILED, JobStatus.CANCELLED]).order_by("-pk").first())
        if job is None:
            job = generation_job_create(actor=creator, persona=persona, scene=scene, platform=platform, num_variants=2)
        jobs.append(job)
    for job in jobs:
        job = generation_job_run(job_id=job.pk)
        if job is None or job.status != JobStatus.SUCCEEDED:
            ending = job.error or job.status if job is not None else "deleted"
            raise DemoSeedError(f"Rendering a demo draft did not succeed: {ending}")
        generation_job_posts_draft(job_id=job.pk)


TINY_LICENCE = "Random weights built locally by Persona Studio (Apache-2.0); for trying the product, not for posts."


def _demo_base_models(*, render: bool) -> None:
    """The built-in tiny SD and SDXL models as library entries, so the Models page has cards; with `render`, their
    sample galleries are rendered in-process now (a queued gallery task finds them done)."""
    base_model_default_ensure()
    if not BaseModel.objects.filter(location="tiny-sdxl", status=BaseModelStatus.ACTIVE).exists():
        base_model_register(
            actor=None, path="tiny-sdxl", name="Tiny SDXL (built-in)", licence_note=TINY_LICENCE,
            description="SDXL architecture (two text encoders, size conditioning) with random weights: exercises "
            "the SDXL code paths on any machine.", render_samples=False,
        )
    if not render:
        return
    builtins = BaseModel.objects.filter(location__in=DEMO_BUILTIN_MODELS, status=BaseModelStatus.ACTIVE)
    for entry in builtins.exclude(samples_status=SamplesStatus.READY):
        base_model_samples_request(actor=None, base_model_id=entry.pk)
        base_model_samples_render(base_model_id=entry.pk)


def _demo_schedule_one(*, persona: Persona) -> None:
    """Approve and schedule one generated draft so the calendar and exports have something to show."""
    if Post.objects.filter(persona=persona, status=PostStatus.SCHEDULED).exists():
        return
    draft = Post.objects.filter(persona=persona, status=PostStatus.IN_REVIEW).order_by("id").first()
    if draft is None:
        return
    admin = get_user_model().objects.get(username="demo")
    post_approve(actor=admin, post_id=draft.pk, comment="On brand. Demo approval.")
    slot = next_free_slot(persona=persona, after=timezone.now() + dt.timedelta(hours=1))
    post_schedule(actor=admin, post_id=draft.pk, scheduled_at=slot)
