"""The base-model gallery: every model of the library with its description, family, size, licence note, sample
images and the personas of the current workspace on it; "Use for a new persona" and "Generate with this model"
(moves a persona onto it and opens the persona's generation form)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_GET, require_POST

from core.errors import ApplicationError
from generation import selectors as generation_selectors
from generation.engine.families import FAMILY_LABELS
from generation.library import services as base_model_services
from personas.selectors import workspace_personas
from web.shell import int_or_404, render_page, scoped_persona, workspace_context


def _cards(request: HttpRequest) -> list[dict]:
    ctx = workspace_context(request)
    personas = workspace_personas(workspace_id=ctx.workspace.pk) if ctx.workspace else []
    cards = []
    for entry in generation_selectors.base_model_list():
        on_it = list(generation_selectors.base_model_personas(
            user=request.user, base_model=entry, workspace_id=ctx.workspace.pk if ctx.workspace else None))
        cards.append({"model": entry, "family": FAMILY_LABELS.get(entry.family, entry.family),
                      "samples": list(entry.samples.all()), "personas": on_it,
                      "others": [p for p in personas if p not in on_it]})
    return cards


@login_required
@require_GET
def base_model_gallery(request: HttpRequest) -> HttpResponse:
    return render_page(request, "generation/base_models.html", {"cards": _cards(request)})


@login_required
@require_POST
def base_model_use(request: HttpRequest, base_model_id: int) -> HttpResponse:
    """Move a persona onto this model, then show its generation form."""
    persona = scoped_persona(request, int_or_404(request.POST.get("persona")))
    try:
        base_model_services.persona_base_model_set(actor=request.user, persona=persona, base_model_id=base_model_id)
    except ApplicationError as exc:
        messages.error(request, exc.message)
        return redirect("base_models")
    messages.success(request, f"{persona.name} now generates with this model.")
    return redirect("personas:detail", persona_id=persona.pk)
