"""Persona pages: create, edit, the persona page (references, training, generation, posts) and reference uploads."""

from __future__ import annotations

import re

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from core.constants import BadgePosition
from core.errors import ApplicationError, NotFound
from core.platforms import Platform
from generation import selectors as generation_selectors
from generation.engine import specs as generation_specs
from generation.engine.families import FAMILY_LABELS
from generation.library import services as base_model_services
from generation.models import GeneratedImage, GenerationJob, GenerationMode
from personas import selectors as persona_selectors
from personas import services as persona_services
from personas.models import CONSENT_CONFIRMATION, RIGHTS_CONFIRMATION, Persona
from publishing.selectors import persona_live_accounts
from scheduler.posts.generated_selectors import post_image_history, post_image_jobs_replacing
from scheduler.workspace_selectors import persona_recent_posts
from web.fragments import render_fragments, row_values
from web.presenters import decorate_lora_versions, short_datetime, url_format
from web.publishing import account_rows, connect_forms_allow
from web.shell import error_response, form_errors_from, int_or_404, render_page, scoped_persona, workspace_context


def split_list(value: str) -> list[str]:
    return [item.strip() for item in re.split(r"[,\n]", value or "") if item.strip()]


class PersonaForm(forms.Form):
    """Parses the page's text inputs into the service's field types; the service validates the rules."""

    name = forms.CharField(max_length=120)
    handle = forms.CharField(max_length=64, help_text="Without the @.")
    age = forms.IntegerField(min_value=18, max_value=120, help_text="Personas are always adults (18+).")
    pronouns = forms.CharField(max_length=32, required=False)
    bio = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False)
    appearance = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}), required=False, help_text="Used in every generation prompt."
    )
    style_keywords = forms.CharField(required=False, help_text="Comma-separated, e.g. film photo, pastel.")
    voice = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False)
    default_hashtags = forms.CharField(required=False, help_text="Comma-separated, e.g. #travel, #coffee.")
    trigger_token = forms.CharField(max_length=32, help_text="A rare token that names the persona in prompts.")
    timezone = forms.CharField(max_length=64, initial="UTC", help_text="IANA name, e.g. Europe/Paris.")
    target_platforms = forms.MultipleChoiceField(
        choices=Platform.choices, required=False, widget=forms.CheckboxSelectMultiple
    )
    disclosure_label = forms.CharField(max_length=200, required=False, help_text="Shown on every post.")
    ai_badge_enabled = forms.BooleanField(
        required=False, label="AI badge on images", help_text='Draw a visible "AI-generated" badge on exported images.'
    )
    ai_badge_position = forms.ChoiceField(
        choices=BadgePosition.choices, initial=BadgePosition.BOTTOM_RIGHT, required=False, label="AI badge position"
    )
    min_post_gap_minutes = forms.IntegerField(min_value=0, initial=180)
    posting_slots = forms.CharField(required=False, help_text="Local times, comma-separated, e.g. 09:00, 18:30.")

    LIST_FIELDS = ("style_keywords", "default_hashtags", "posting_slots")

    @classmethod
    def initial_from(cls, persona: Persona) -> dict:
        initial = {name: getattr(persona, name) for name in cls.base_fields}
        for name in cls.LIST_FIELDS:
            initial[name] = ", ".join(getattr(persona, name) or [])
        return initial

    def service_fields(self) -> dict:
        data = dict(self.cleaned_data)
        for name in self.LIST_FIELDS:
            data[name] = split_list(data[name])
        if not data["disclosure_label"]:
            data.pop("disclosure_label")
        if not data.get("ai_badge_position"):
            data.pop("ai_badge_position", None)
        return data


@login_required
@require_http_methods(["GET", "POST"])
def persona_create(request: HttpRequest) -> HttpResponse:
    ctx = workspace_context(request)
    if ctx.workspace is None:
        raise Http404("You are not a member of any workspace.")
    if not ctx.can_create:
        raise DjangoPermissionDenied("Only marketers and admins create personas.")
    form = PersonaForm(request.POST or None)
    # "Use for a new persona" on a model card: the persona starts on that base model (the form posts back here,
    # query string included).
    base_model = None
    if request.GET.get("base_model"):
        try:
            base_model = generation_selectors.base_model_get(base_model_id=int_or_404(request.GET["base_model"]),
                                                             include_archived=False)
        except NotFound:
            raise Http404("Base model not found.") from None

    def rerender(status=200):
        return render_page(request, "personas/persona_form.html",
                           {"form": form, "persona": None, "base_model": base_model}, status=status)

    if request.method == "POST":
        if not form.is_valid():
            return rerender(status=400)
        try:
            if base_model is not None:
                persona = base_model_services.persona_create_on_base_model(
                    actor=request.user, workspace=ctx.workspace, base_model_id=base_model.pk,
                    **form.service_fields())
            else:
                persona = persona_services.persona_create(
                    actor=request.user, workspace=ctx.workspace, **form.service_fields()
                )
        except ApplicationError as exc:
            form_errors_from(form, exc)
            return error_response(request, exc, rerender)
        messages.success(request, f"Persona {persona.name} created.")
        return redirect("personas:detail", persona_id=persona.pk)
    return rerender()


@login_required
@require_http_methods(["GET", "POST"])
def persona_edit(request: HttpRequest, persona_id: int) -> HttpResponse:
    persona = scoped_persona(request, persona_id)
    if not workspace_context(request).can_create:
        raise DjangoPermissionDenied("Only marketers and admins edit personas.")
    form = PersonaForm(request.POST or None, initial=PersonaForm.initial_from(persona))

    def rerender(status=200):
        return render_page(request, "personas/persona_form.html", {"form": form, "persona": persona}, status=status)

    if request.method == "POST":
        if not form.is_valid():
            return rerender(status=400)
        try:
            persona_services.persona_update(actor=request.user, persona=persona, **form.service_fields())
        except ApplicationError as exc:
            form_errors_from(form, exc)
            return error_response(request, exc, rerender)
        messages.success(request, "Persona saved.")
        return redirect("personas:detail", persona_id=persona.pk)
    return rerender()


PERSONA_POSTS_LIMIT = 20
PERSONA_JOBS_LIMIT = 8


def post_image_jobs_decorate(jobs: list[GenerationJob]) -> None:
    """Set on each job the post whose image its result replaces (`target_post_id`; None for a job that drafts) and
    that image's earlier versions (`earlier_versions`)."""
    # Only an inpainted fix replaces a post's image: pages of other jobs spend no query on it.
    targets = post_image_jobs_replacing(job_ids=[job.pk for job in jobs if job.mode == GenerationMode.INPAINT])
    for job in jobs:
        target = targets.get(job.pk)
        job.target_post_id = target.post_id if target is not None else None
        job.earlier_versions = (post_image_history(post_id=target.post_id, position=target.position)
                                if target is not None else [])


def persona_jobs_context(persona: Persona) -> dict:
    """The persona's base model, LoRA versions (those that do not fit the model marked) and recent generation jobs
    with their images; each running one polls its own partial.

    The recent jobs' images and the versions' sample images come in one query.
    """
    if hasattr(persona, "current_base_model"):  # loaded with the persona (generation.selectors)
        base_model = persona.current_base_model
    else:
        base_model = generation_selectors.persona_base_model(persona=persona)
    lora_versions = generation_selectors.persona_lora_versions(persona=persona)
    jobs = generation_selectors.persona_recent_jobs(persona=persona, limit=PERSONA_JOBS_LIMIT)
    images = generation_selectors.job_and_sample_images(
        job_ids=[job.pk for job in jobs], lora_version_ids=[v.pk for v in lora_versions]
    )
    by_job: dict[int, list[GeneratedImage]] = {}
    for image in images:
        by_job.setdefault(image.job_id, []).append(image)
    for image in images:
        image.reproduce_verdict = generation_selectors.reproduce_verdict(image)
    for job in jobs:
        job.image_list = by_job.get(job.pk, [])
    post_image_jobs_decorate(jobs)
    decorate_lora_versions(lora_versions, images, base_model=base_model)
    family = FAMILY_LABELS.get(base_model.family, base_model.family) if base_model else ""
    return {"persona": persona, "lora_versions": lora_versions, "jobs": jobs, "base_model": base_model,
            "base_model_family": family}


@login_required
@require_GET
def persona_detail(request: HttpRequest, persona_id: int) -> HttpResponse:
    persona = scoped_persona(request, persona_id, with_base_model=True)
    return persona_detail_render(request, persona)


def job_card_key(job: GenerationJob) -> list:
    """Every value a job card (generation/_job.html) shows: the job, its images (with their last reproduce check)
    and the earlier versions of the post image it replaces."""
    return [row_values(job), [row_values(image) for image in job.image_list],
            [row_values(version) for version in job.earlier_versions]]


def job_cards_render(request: HttpRequest, jobs: list[GenerationJob]) -> None:
    """job.card_html for each job: cached fragments (web/fragments.py; a running job's key changes with each step).
    The job's own partial, which a running job polls, renders the same template uncached."""
    ctx = workspace_context(request)
    cards = render_fragments(request, jobs, template="generation/_job.html", name="job-card", item_name="job",
                             context={"ws": {"can_create": ctx.can_create}, "platforms": Platform.choices},
                             key_parts=job_card_key)
    for job, html in zip(jobs, cards, strict=True):
        job.card_html = html


def persona_posts_prepare(persona: Persona, posts: list) -> None:
    """The strings the persona page's post list shows, formatted once (the date filter and {% url %} per row cost
    more than the rest of a row)."""
    submit = url_format("post_submit_page", "pk")
    for post in posts:
        post.scheduled_label = short_datetime(post.scheduled_at) if post.scheduled_at else ""
        post.submit_url = submit.format(pk=post.pk)


def persona_detail_render(request: HttpRequest, persona: Persona, *, status: int = 200) -> HttpResponse:
    references = persona_selectors.persona_reference_images(persona=persona)
    posts = persona_recent_posts(persona=persona, limit=PERSONA_POSTS_LIMIT)
    persona_posts_prepare(persona, posts)
    jobs_context = persona_jobs_context(persona)
    job_cards_render(request, jobs_context["jobs"])
    context = {
        "persona": persona,
        "reference_images": references,
        "reference_profile": persona_selectors.reference_profile_summary(persona=persona, references=references),
        "rights_text": RIGHTS_CONFIRMATION,
        "consent_text": CONSENT_CONFIRMATION,
        "posts": posts,
        "accounts": account_rows(persona, persona_live_accounts(persona_id=persona.pk)),
        "persona_url": reverse("personas:detail", args=[persona.pk]),
        "platform_choices": Platform.choices,
        "max_variants": generation_specs.MAX_VARIANTS,
        "max_best_of": generation_specs.MAX_BEST_OF,
        "max_job_images": generation_specs.MAX_JOB_IMAGES,
        "max_seed": generation_specs.MAX_SEED,
        "upload_max_bytes": settings.REFERENCE_IMAGE_MAX_BYTES,
        "upload_min_side": settings.REFERENCE_IMAGE_MIN_SIDE,
        "hires_default": settings.GENERATION_HIRES_DEFAULT,
        "face_detail_default": settings.GENERATION_FACE_DETAIL_DEFAULT and persona.is_human_face,
        "prior_loss_weight_limits": generation_specs.TRAINING_LIMITS["prior_loss_weight"],
        **jobs_context,
    }
    return connect_forms_allow(render_page(request, "personas/persona_detail.html", context, status=status))


@login_required
@require_POST
def reference_images_upload(request: HttpRequest, persona_id: int) -> HttpResponse:
    persona = scoped_persona(request, persona_id)
    files = request.FILES.getlist("images")
    if not files:
        messages.error(request, "Choose at least one image to upload.")
        return persona_detail_render(request, persona, status=400)
    try:
        result = persona_services.reference_images_upload(
            actor=request.user, persona=persona, files=files,
            rights_confirmed=request.POST.get("rights_confirmed") == "on",
            consent_confirmed=request.POST.get("consent_confirmed") == "on",
        )
    except ApplicationError as exc:
        return error_response(request, exc, lambda status: persona_detail_render(request, persona, status=status))
    if result.created:
        messages.success(request, f"Uploaded {len(result.created)} of {len(files)} image(s).")
    for error in result.errors:
        messages.error(request, error.message)  # already starts with the filename
    if not result.created:
        return persona_detail_render(request, persona, status=400)
    return redirect(reverse("personas:detail", kwargs={"persona_id": persona.pk}) + "#references")


@login_required
@require_POST
def reference_image_delete(request: HttpRequest, persona_id: int, image_id: int) -> HttpResponse:
    persona = scoped_persona(request, persona_id)
    image = persona_selectors.persona_reference_image(persona=persona, image_id=image_id)
    if image is None:
        raise Http404("Image not found.")
    try:
        persona_services.reference_image_delete(actor=request.user, image=image)
    except ApplicationError as exc:
        return error_response(request, exc, lambda status: persona_detail_render(request, persona, status=status))
    messages.success(request, "Reference image deleted.")
    return redirect(reverse("personas:detail", kwargs={"persona_id": persona.pk}) + "#references")
