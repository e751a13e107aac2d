"""Page actions for LoRA training and generation, and the polled jobs partial of the persona page.

Views stay thin: parse the form, call a service, turn an ApplicationError into a message and a 4xx.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from core.errors import ApplicationError, ValidationFailed
from core.platforms import Platform
from generation import selectors, services
from generation.engine import specs
from generation.models import GenerationJob, LoraVersion
from generation.training import class_image_selectors
from scheduler import services as post_services
from scheduler.drafting import services as drafting
from web.persona import persona_detail_render, post_image_jobs_decorate
from web.presenters import decorate_lora_versions
from web.shell import error_response, render_page, scoped_persona, workspace_context


def persona_page(persona_id: int, anchor: str = "") -> str:
    url = reverse("personas:detail", kwargs={"persona_id": persona_id})
    return f"{url}#{anchor}" if anchor else url


def _rerender(request: HttpRequest, persona):
    return lambda status: persona_detail_render(request, persona, status=status)


def _scoped(request: HttpRequest, model: type[GenerationJob] | type[LoraVersion], pk: int, what: str):
    """The row if it belongs to one of the user's workspaces, else 404 (never 403: ids stay undiscoverable)."""
    workspace_ids = workspace_context(request).workspace_ids
    if model is GenerationJob:
        row = selectors.generation_job_in_workspaces(job_id=pk, workspace_ids=workspace_ids)
    else:
        row = selectors.lora_version_in_workspaces(lora_version_id=pk, workspace_ids=workspace_ids)
    if row is None:
        raise Http404(f"{what} not found.")
    return row


def _scoped_job(request: HttpRequest, job_id: int) -> GenerationJob:
    return _scoped(request, GenerationJob, job_id, "Generation job")


def _action(kind: type[GenerationJob] | type[LoraVersion], call, *, done, anchor: str):
    """A page action on one job (URL argument job_id) or LoRA version (version_id): `call(user, row)` runs its
    service; back to the persona page with the message `done(row)`, or the page again with the error and its 4xx."""
    key, what = ("job_id", "Generation job") if kind is GenerationJob else ("version_id", "LoRA version")

    @login_required
    @require_POST
    def view(request: HttpRequest, **kwargs: int) -> HttpResponse:
        row = _scoped(request, kind, kwargs[key], what)
        try:
            call(request.user, row)
        except ApplicationError as exc:
            return error_response(request, exc, _rerender(request, row.persona))
        messages.success(request, done(row))
        return redirect(persona_page(row.persona_id, anchor))

    return view


@login_required
@require_GET
def job_partial(request: HttpRequest, job_id: int) -> HttpResponse:
    """One job's progress (polled every 2 s while it is queued, running or drafting its posts)."""
    job = _scoped_job(request, job_id)
    job.image_list = selectors.generation_job_images(job=job)
    for image in job.image_list:
        image.reproduce_verdict = selectors.reproduce_verdict(image)
    post_image_jobs_decorate([job])
    return render_page(request, "generation/_job.html", {"job": job})


@login_required
@require_GET
def lora_partial(request: HttpRequest, version_id: int) -> HttpResponse:
    """One training run's progress (polled every 2 s while it is queued or running)."""
    version = _scoped_lora(request, version_id)
    decorate_lora_versions([version], selectors.job_and_sample_images(lora_version_ids=[version.pk]),
                           base_model=selectors.persona_base_model(persona=version.persona))
    return render_page(request, "generation/_lora_version.html", {"v": version})


@login_required
@require_GET
def class_images_partial(request: HttpRequest, persona_id: int) -> HttpResponse:
    """Prior preservation's cost on the training form: the persona's base model's class images cached, or rendered
    first by the next run (loaded after the page, which keeps its own query budget)."""
    persona = scoped_persona(request, persona_id)
    plan = class_image_selectors.persona_class_images_plan(persona=persona)
    return render_page(request, "generation/_class_images.html", {"plan": plan})


@login_required
@require_POST
def lora_train(request: HttpRequest, persona_id: int) -> HttpResponse:
    persona = scoped_persona(request, persona_id)
    prior = request.POST.get("prior_preservation") == "on"
    try:
        low, high = specs.TRAINING_LIMITS["prior_loss_weight"]
        weight = _parse_float(request.POST.get("prior_loss_weight", ""), name="Prior loss weight", low=low,
                              high=high) if prior else None
        version = services.lora_training_start(actor=request.user, persona=persona, prior_preservation=prior,
                                               prior_loss_weight=weight)
    except ApplicationError as exc:
        return error_response(request, exc, _rerender(request, persona))
    extra = " with prior preservation" if prior else ""
    messages.success(request, f"LoRA v{version.version} queued for training{extra}.")
    return redirect(persona_page(persona.pk, "training"))


def _parse_float(value: str, *, name: str, low: float, high: float) -> float | None:
    value = (value or "").strip()
    if not value:
        return None
    try:
        number = float(value)
    except ValueError:
        raise ValidationFailed(f"{name} must be a number.") from None
    if not low <= number <= high:  # also refuses nan
        raise ValidationFailed(f"{name} must be between {low:g} and {high:g}.")
    return number


def _scoped_lora(request: HttpRequest, version_id: int) -> LoraVersion:
    return _scoped(request, LoraVersion, version_id, "LoRA version")


lora_cancel = _action(
    LoraVersion, lambda user, v: services.lora_training_cancel(actor=user, lora_version_id=v.pk),
    done=lambda v: f"Cancelling LoRA v{v.version}.", anchor="training",
)
@login_required
@require_POST
def lora_activate(request: HttpRequest, version_id: int) -> HttpResponse:
    """Activate a version; one that looks less like the persona than the active one needs the confirm box."""
    version = _scoped(request, LoraVersion, version_id, "LoRA version")
    try:
        services.lora_version_activate(actor=request.user, lora_version_id=version.pk,
                                       confirm_worse=request.POST.get("confirm") == "on")
    except ApplicationError as exc:
        return error_response(request, exc, _rerender(request, version.persona))
    messages.success(request, f"LoRA v{version.version} is now active.")
    return redirect(persona_page(version.persona_id, "training"))


def _parse_int(value: str, *, name: str, default: int | None, low: int, high: int) -> int | None:
    value = (value or "").strip()
    if not value:
        return default
    try:
        number = int(value)
    except ValueError:
        raise ValidationFailed(f"{name} must be a whole number.") from None
    if not low <= number <= high:
        raise ValidationFailed(f"{name} must be between {low} and {high}.")
    return number


@login_required
@require_POST
def generate(request: HttpRequest, persona_id: int) -> HttpResponse:
    persona = scoped_persona(request, persona_id)
    try:
        num_variants = _parse_int(request.POST.get("num_variants", ""), name="Variants", default=4, low=1,
                                  high=specs.MAX_VARIANTS)
        best_of = _parse_int(request.POST.get("best_of", ""), name="Best of", default=1, low=1,
                             high=specs.MAX_BEST_OF)
        seed = _parse_int(request.POST.get("seed", ""), name="Seed", default=None, low=0, high=specs.MAX_SEED)
        job = services.generation_job_create(
            actor=request.user,
            persona=persona,
            scene=request.POST.get("scene", ""),
            platform=request.POST.get("platform", ""),
            num_variants=num_variants,
            best_of=best_of,
            seed=seed,
            allow_base_model=request.POST.get("allow_base_model") == "on",
            is_sponsored=request.POST.get("is_sponsored") == "on",
            # The form shows both options ticked by default (options_shown); a post without them keeps the defaults.
            upscale=request.POST.get("upscale") == "on" if "options_shown" in request.POST else None,
            face_detail=request.POST.get("face_detail") == "on" if "options_shown" in request.POST else None,
        )
    except ApplicationError as exc:
        return error_response(request, exc, _rerender(request, persona))
    label = dict(Platform.choices).get(job.platform, job.platform)
    best = f", best of {job.best_of} ({job.image_count} renders)" if job.best_of > 1 else ""
    messages.success(request, f"Generating {job.num_variants} draft image(s){best} for {label}; progress shows below.")
    return redirect(persona_page(persona.pk, "generation"))


job_cancel = _action(
    GenerationJob, lambda user, job: services.generation_job_cancel(actor=user, job_id=job.pk),
    done=lambda job: "Cancelling the generation job.", anchor="generation",
)
job_draft_again = _action(
    GenerationJob, lambda user, job: drafting.generation_job_draft_again(actor=user, job_id=job.pk),
    done=lambda job: "Drafting the job's posts again; they join the review queue when ready.", anchor="generation",
)


@login_required
@require_POST
def draft_from_images(request: HttpRequest, job_id: int) -> HttpResponse:
    """A draft post from the images picked on a finished job (caption optional: the service adds the label)."""
    job = _scoped_job(request, job_id)
    ids = [value for value in request.POST.getlist("images") if value.isdigit()]
    images = selectors.generation_job_images(job=job, ids=ids)
    platform = request.POST.get("platform") or job.platform
    try:
        if not images:
            raise ValidationFailed("Pick at least one image for the post.")
        if platform not in Platform.values:
            raise ValidationFailed("Choose a platform.")
        post = post_services.post_create(
            actor=request.user,
            persona=job.persona,
            platform=platform,
            caption=request.POST.get("caption", ""),
            generated_images=images,
        )
    except ApplicationError as exc:
        return error_response(request, exc, _rerender(request, job.persona))
    messages.success(request, f"Draft post #{post.pk} created; submit it for review from the review page.")
    return redirect(persona_page(job.persona_id, "posts"))
