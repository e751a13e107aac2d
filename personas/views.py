"""Server-rendered pages for personas, plus the page plumbing every app's views share.

Views stay thin: parse the form, call a service, turn an ApplicationError into a message and a 4xx.
"""

from __future__ import annotations

import mimetypes
import posixpath
import re
from dataclasses import dataclass, field

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.files.storage import default_storage
from django.db.models import Q
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST, require_safe

from config.exceptions import ApplicationError, NotFound
from core.access import Role
from core.constants import BadgePosition
from core.platforms import Platform
from generation.models import GeneratedImage, GenerationJob, LoraVersion
from scheduler.models import Post

from . import services
from .models import Membership, Persona

WORKSPACE_SESSION_KEY = "workspace_id"


# --- shared page plumbing -------------------------------------------------------------------------------------


@dataclass
class WorkspaceContext:
    """The user's memberships (one query) and the workspace the pages currently show."""

    memberships: list[Membership] = field(default_factory=list)
    membership: Membership | None = None

    @property
    def workspace(self):
        return self.membership.workspace if self.membership else None

    @property
    def workspace_ids(self) -> list[int]:
        return [m.workspace_id for m in self.memberships]

    @property
    def role(self) -> str | None:
        return self.membership.role if self.membership else None

    @property
    def can_review(self) -> bool:
        return self.role in (Role.REVIEWER, Role.ADMIN)

    @property
    def can_create(self) -> bool:
        return self.role in (Role.MARKETER, Role.ADMIN)

    def membership_for(self, workspace_id: int) -> Membership | None:
        return next((m for m in self.memberships if m.workspace_id == workspace_id), None)


def workspace_context(request: HttpRequest) -> WorkspaceContext:
    """Resolve the current workspace: ?workspace=<id> (remembered in the session), else the session's, else the first.

    Cached on the request so a view and its helpers share one query.
    """
    cached = getattr(request, "_workspace_context", None)
    if cached is not None:
        return cached
    memberships = list(
        Membership.objects.filter(user=request.user).select_related("workspace").order_by("workspace__name")
    )
    ctx = WorkspaceContext(memberships=memberships)
    wanted = request.GET.get("workspace")
    chosen = None
    if wanted and wanted.isdigit():
        chosen = ctx.membership_for(int(wanted))
        if chosen is not None and request.session.get(WORKSPACE_SESSION_KEY) != chosen.workspace_id:
            request.session[WORKSPACE_SESSION_KEY] = chosen.workspace_id
    if chosen is None:
        stored = request.session.get(WORKSPACE_SESSION_KEY)
        chosen = ctx.membership_for(stored) if isinstance(stored, int) else None
    if chosen is None and memberships:
        chosen = memberships[0]
    ctx.membership = chosen
    request._workspace_context = ctx
    return ctx


def use_workspace(request: HttpRequest, workspace_id: int) -> WorkspaceContext:
    """Switch the current workspace to the one an object lives in (the caller already checked membership)."""
    ctx = workspace_context(request)
    membership = ctx.membership_for(workspace_id)
    if membership is not None and ctx.membership != membership:
        ctx.membership = membership
        request.session[WORKSPACE_SESSION_KEY] = workspace_id
    return ctx


def render_page(request: HttpRequest, template: str, context: dict | None = None, *, status: int = 200):
    page_context = {"ws": workspace_context(request), "platforms": Platform.choices}
    page_context.update(context or {})
    return render(request, template, page_context, status=status)


def error_response(request: HttpRequest, exc: ApplicationError, rerender) -> HttpResponse:
    """Show the service's message on the page the form came from, with the error's 4xx status."""
    if isinstance(exc, NotFound):
        raise Http404(exc.message)
    messages.error(request, exc.message)
    return rerender(status=exc.status)


def form_errors_from(form: forms.Form, exc: ApplicationError) -> None:
    """Attach a service's per-field messages (extra={"fields": {name: [...]}}) to the form's fields."""
    for name, problems in (exc.extra.get("fields") or {}).items():
        for problem in problems if isinstance(problems, list | tuple) else [problems]:
            form.add_error(name if name in form.fields else None, str(problem))


def int_or_404(value) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise Http404("Not found.") from None


def scoped_persona(request: HttpRequest, persona_id: int, *, queryset=None) -> Persona:
    """A persona of one of the user's workspaces, else 404; the page then shows that workspace."""
    ctx = workspace_context(request)
    qs = queryset if queryset is not None else Persona.objects.all()
    persona = qs.select_related("workspace").filter(pk=persona_id, workspace_id__in=ctx.workspace_ids).first()
    if persona is None:
        raise Http404("Persona not found.")
    use_workspace(request, persona.workspace_id)
    return persona


# --- protected media -----------------------------------------------------------------------------------------

# Traversal is refused by comparing with the normalised path; backslashes and NULs never reach storage.
MEDIA_PATH_RE = re.compile(r"^workspaces/(?P<workspace_id>\d+)/[^\\\x00]+$")
INLINE_TYPES = {"image/png", "image/jpeg", "image/webp", "image/gif"}


@require_safe
def media_serve(request: HttpRequest, path: str) -> FileResponse:
    """Uploaded and generated files, only to members of the workspace named in the stored path.

    Anonymous users and outsiders get the same 404 as a missing file, so nothing is discoverable.
    """
    normalized = posixpath.normpath(path)
    match = MEDIA_PATH_RE.match(path)
    if normalized != path or match is None or ".." in path.split("/"):
        raise Http404("Not found.")
    if not request.user.is_authenticated:
        raise Http404("Not found.")
    if not Membership.objects.filter(user=request.user, workspace_id=int(match["workspace_id"])).exists():
        raise Http404("Not found.")
    if not default_storage.exists(path):
        raise Http404("Not found.")
    content_type, _ = mimetypes.guess_type(path)
    content_type = content_type or "application/octet-stream"
    inline = content_type in INLINE_TYPES
    response = FileResponse(
        default_storage.open(path, "rb"),
        content_type=content_type,
        as_attachment=not inline,
        filename=posixpath.basename(path),
    )
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "private, max-age=3600"
    return response


# --- persona pages -------------------------------------------------------------------------------------------


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

    def rerender(status=200):
        return render_page(request, "personas/persona_form.html", {"form": form, "persona": None}, status=status)

    if request.method == "POST":
        if not form.is_valid():
            return rerender(status=400)
        try:
            persona = services.persona_create(actor=request.user, workspace=ctx.workspace, **form.service_fields())
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
            services.persona_update(actor=request.user, persona=persona, **form.service_fields())
        except ApplicationError as exc:
            form_errors_from(form, exc)
            return error_response(request, exc, rerender)
        messages.success(request, "Persona saved.")
        return redirect("personas:detail", persona_id=persona.pk)
    return rerender()


PERSONA_POSTS_LIMIT = 20
PERSONA_JOBS_LIMIT = 8


def loss_values(curve) -> list[float]:
    """Loss values of a curve of numbers, [step, loss] pairs or {"loss": ...} dicts; unreadable points are skipped."""
    values = []
    for point in curve or []:
        if isinstance(point, dict):
            point = point.get("loss")
        elif isinstance(point, list | tuple):
            point = point[-1] if point else None
        try:
            value = float(point)
        except (TypeError, ValueError):
            continue
        if value == value and abs(value) != float("inf"):  # NaN and inf would break the plot
            values.append(value)
    return values


def final_loss(curve) -> float | None:
    """The last recorded loss, whether the curve holds numbers, [step, loss] pairs or {"loss": ...} dicts."""
    values = loss_values(curve)
    return values[-1] if values else None


LOSS_PLOT_WIDTH = 280
LOSS_PLOT_HEIGHT = 80
LOSS_PLOT_POINTS = 200


def loss_plot(curve) -> dict | None:
    """An inline-SVG polyline of the loss curve, computed here so the page needs no chart library."""
    values = loss_values(curve)
    if len(values) < 2:
        return None
    if len(values) > LOSS_PLOT_POINTS:  # thin long runs to a fixed number of points
        stride = len(values) / LOSS_PLOT_POINTS
        values = [values[int(i * stride)] for i in range(LOSS_PLOT_POINTS)] + [values[-1]]
    low, high = min(values), max(values)
    span = (high - low) or 1.0
    pad = 4
    width, height = LOSS_PLOT_WIDTH - 2 * pad, LOSS_PLOT_HEIGHT - 2 * pad
    points = " ".join(
        f"{pad + width * i / (len(values) - 1):.1f},{pad + height * (1 - (v - low) / span):.1f}"
        for i, v in enumerate(values)
    )
    return {"points": points, "low": low, "high": high, "count": len(loss_values(curve)),
            "width": LOSS_PLOT_WIDTH, "height": LOSS_PLOT_HEIGHT}


def decorate_lora_versions(versions: list[LoraVersion], images: list[GeneratedImage] | None = None) -> None:
    """Final loss, loss plot and reviewer sample images of each version.

    `images` may already hold the samples (persona_jobs_context fetches them with the jobs' images);
    otherwise one query fetches them.
    """
    if images is None:
        ids = [v.pk for v in versions]
        images = list(
            GeneratedImage.objects.filter(job__lora_version_id__in=ids, job__is_sample=True)
            .select_related("job")
            .order_by("job__created_at", "index")
        )
    samples: dict[int, list[GeneratedImage]] = {}
    for image in images:
        if image.job.is_sample:
            samples.setdefault(image.job.lora_version_id, []).append(image)
    for version in versions:
        version.final_loss = final_loss(version.loss_curve)
        version.loss_plot = loss_plot(version.loss_curve)
        version.sample_images = samples.get(version.pk, [])


def persona_jobs_context(persona: Persona) -> dict:
    """LoRA versions and recent generation jobs with their images; each running one polls its own partial.

    The recent jobs' images and the versions' sample images come in one query.
    """
    lora_versions = list(LoraVersion.objects.filter(persona=persona).order_by("-version")[:10])
    jobs = list(
        GenerationJob.objects.filter(persona=persona, is_sample=False)
        .select_related("lora_version")
        .order_by("-created_at", "-id")[:PERSONA_JOBS_LIMIT]
    )
    images = list(
        GeneratedImage.objects.filter(
            Q(job_id__in=[job.pk for job in jobs])
            | Q(job__is_sample=True, job__lora_version_id__in=[v.pk for v in lora_versions])
        )
        .select_related("job")
        .order_by("job__created_at", "index")
    )
    by_job: dict[int, list[GeneratedImage]] = {}
    for image in images:
        by_job.setdefault(image.job_id, []).append(image)
    for job in jobs:
        job.image_list = by_job.get(job.pk, [])
    decorate_lora_versions(lora_versions, images)
    return {"persona": persona, "lora_versions": lora_versions, "jobs": jobs}


@login_required
@require_GET
def persona_detail(request: HttpRequest, persona_id: int) -> HttpResponse:
    persona = scoped_persona(request, persona_id)
    return persona_detail_render(request, persona)


def persona_detail_render(request: HttpRequest, persona: Persona, *, status: int = 200) -> HttpResponse:
    context = {
        "persona": persona,
        "reference_images": list(persona.reference_images.order_by("created_at", "id")),
        "posts": list(Post.objects.filter(persona=persona).order_by("-created_at", "-id")[:PERSONA_POSTS_LIMIT]),
        "platform_choices": Platform.choices,
        "upload_max_bytes": settings.REFERENCE_IMAGE_MAX_BYTES,
        "upload_min_side": settings.REFERENCE_IMAGE_MIN_SIDE,
        **persona_jobs_context(persona),
    }
    return render_page(request, "personas/persona_detail.html", context, status=status)


@login_required
@require_POST
def reference_images_upload(request: HttpRequest, persona_id: int) -> HttpResponse:
    persona = scoped_persona(request, persona_id)
    files = request.FILES.getlist("images")
    if not files:
        messages.error(request, "Choose at least one image to upload.")
        return persona_detail_render(request, persona, status=400)
    try:
        result = services.reference_images_upload(actor=request.user, persona=persona, files=files)
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
    image = persona.reference_images.filter(pk=image_id).first()
    if image is None:
        raise Http404("Image not found.")
    try:
        services.reference_image_delete(actor=request.user, image=image)
    except ApplicationError as exc:
        return error_response(request, exc, lambda status: persona_detail_render(request, persona, status=status))
    messages.success(request, "Reference image deleted.")
    return redirect(reverse("personas:detail", kwargs={"persona_id": persona.pk}) + "#references")
