"""The demo workspace that `make run` seeds: a persona with reference images, a trained LoRA
and generated drafts waiting in the review queue. Idempotent: a second run changes nothing."""

from __future__ import annotations

import datetime as dt
import io
import secrets
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from django.utils import timezone
from PIL import Image, ImageDraw, ImageFilter

from core.access import Role
from generation.jobs.render import generation_job_run
from generation.library.gallery import base_model_samples_render
from generation.library.services import base_model_default_ensure, base_model_register, base_model_samples_request
from generation.models import BaseModel, BaseModelStatus, GenerationJob, JobStatus, LoraVersion, SamplesStatus
from generation.services import generation_job_create, lora_training_start
from generation.training.runs import lora_training_run
from personas.models import Persona, Workspace
from personas.services import membership_add, persona_create, reference_images_upload, workspace_create
from scheduler.drafting.services import generation_job_posts_draft
from scheduler.models import Post, PostStatus
from scheduler.selectors import next_free_slot
from scheduler.services import post_approve, post_schedule

DEMO_WORKSPACE_SLUG = "demo-studio"


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


def demo_workspace_seed(*, train: bool = True, training_steps: int = 120) -> DemoCredentials:
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
                handle="mira.sol",
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
    persona = Persona.objects.get(workspace=workspace, handle="mira.sol")
    creator = get_user_model().objects.get(username="demo-marketer")
    _demo_base_models(render=train)

    if train and not LoraVersion.objects.filter(persona=persona, status=JobStatus.SUCCEEDED).exists():
        # Runs in-process (seconds with the built-in tiny model) so the demo opens ready to review.
        version = lora_training_start(actor=creator, persona=persona, steps=training_steps)
        lora_training_run(lora_version_id=version.pk)
    if train and not GenerationJob.objects.filter(persona=persona, is_sample=False).exists():
        for scene, platform in [
            ("sipping espresso on a sunny cafe terrace", "instagram"),
            ("walking through a neon-lit street at night", "threads"),
        ]:
            job = generation_job_create(actor=creator, persona=persona, scene=scene, platform=platform, num_variants=2)
            generation_job_run(job_id=job.pk)
            generation_job_posts_draft(job_id=job.pk)  # now, not when a worker takes the queued task (a no-op then)

    if train:
        _demo_schedule_one(persona=persona)

    lines = dict(line.split(" ", 1) for line in creds_path.read_text().splitlines() if line.strip())
    return DemoCredentials("demo", lines["demo"], "demo-marketer", lines["demo-marketer"])


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
    builtins = BaseModel.objects.filter(location__in=["tiny", "tiny-sdxl"], status=BaseModelStatus.ACTIVE)
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
