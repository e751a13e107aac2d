"""Page actions on one generated image: variations of it, the mask editor (inpaint a fix), and reproduce.

Views stay thin: parse the form, call a service, turn an ApplicationError into a message and a 4xx. Reads go
through generation's selectors; the mask arrives as the canvas's PNG (a data URL) and the service checks it.
"""

from __future__ import annotations

import base64
import binascii

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from core.errors import ApplicationError, NotFound, ValidationFailed
from generation import selectors, services
from generation.engine import specs
from generation.jobs import reproduction
from scheduler.posts.generated_selectors import generated_image_editable_post
from scheduler.posts.jobs import post_image_job_create
from web.generation import persona_page
from web.shell import error_response, render_page, scoped_persona

MASK_DATA_PREFIX = "data:image/png;base64,"


def _image(request: HttpRequest, image_id: int):
    try:
        image = selectors.generated_image_get(user=request.user, image_id=image_id)
    except NotFound as exc:  # another workspace's image: 404, never 403
        raise Http404(exc.message) from None
    scoped_persona(request, image.job.persona_id)
    return image


def _strength(value: str) -> float:
    try:
        return float((value or "").strip() or specs.DEFAULT_STRENGTH)
    except ValueError:
        raise ValidationFailed("Strength must be a number between 0 and 1.") from None


def _back(image, status=200):
    return redirect(persona_page(image.job.persona_id, "generation"))


@login_required
@require_POST
def image_variations(request: HttpRequest, image_id: int) -> HttpResponse:
    image = _image(request, image_id)
    job = image.job
    try:
        created = services.generation_job_create(
            actor=request.user, persona=job.persona, scene=job.scene, platform=job.platform, mode="img2img",
            source_image_id=image.pk, strength=_strength(request.POST.get("strength", "")),
            num_variants=4, upscale=request.POST.get("upscale") == "on", is_sponsored=job.is_sponsored,
            allow_base_model=job.lora_version_id is None,  # as the source was rendered
        )
    except ApplicationError as exc:
        return error_response(request, exc, lambda status: _back(image, status))
    messages.success(request, f"Rendering {created.num_variants} variations of image #{image.index + 1}.")
    return _back(image)


def _mask_bytes(data_url: str) -> bytes:
    if not data_url.startswith(MASK_DATA_PREFIX):
        raise ValidationFailed("Paint the part to repaint on the image first.", code="invalid_mask")
    try:
        return base64.b64decode(data_url[len(MASK_DATA_PREFIX):], validate=True)
    except (binascii.Error, ValueError):
        raise ValidationFailed("The mask could not be read; paint it again.", code="invalid_mask") from None


@login_required
@require_http_methods(["GET", "POST"])
def image_inpaint(request: HttpRequest, image_id: int) -> HttpResponse:
    """The mask editor: paint over the part to fix; the result becomes a new version of the image's draft."""
    image = _image(request, image_id)
    post = generated_image_editable_post(generated_image=image)

    def page(status: int = 200) -> HttpResponse:
        return render_page(request, "generation/mask_editor.html",
                           {"image": image, "post": post, "default_strength": specs.DEFAULT_STRENGTH}, status=status)

    if request.method == "GET":
        return page()
    job = image.job
    try:
        params = {"actor": request.user, "persona": job.persona, "scene": job.scene, "platform": job.platform,
                  "mode": "inpaint", "mask": _mask_bytes(request.POST.get("mask_data", "")),
                  "strength": _strength(request.POST.get("strength", "")), "num_variants": 1,
                  "is_sponsored": job.is_sponsored, "allow_base_model": job.lora_version_id is None}
        if post is not None:  # the fix becomes a new version of the draft's image
            created = post_image_job_create(post_id=post.pk, position=post.position_of_image, **params)
        else:
            created = services.generation_job_create(source_image_id=image.pk, **params)
    except ApplicationError as exc:
        return error_response(request, exc, page)
    where = f"a new version of post #{post.pk}'s image" if post is not None else "a new draft"
    messages.success(request, f"Inpainting job {created.pk} queued: the result becomes {where}.")
    return _back(image)


@login_required
@require_POST
def image_reproduce(request: HttpRequest, image_id: int) -> HttpResponse:
    image = _image(request, image_id)
    try:
        check = reproduction.reproduction_check_request(actor=request.user, image_id=image.pk)
    except ApplicationError as exc:
        return error_response(request, exc, lambda status: _back(image, status))
    check.refresh_from_db()
    if check.status in ("succeeded", "failed"):
        messages.info(request, f"Reproduce image #{image.index + 1}: {check.verdict}.")
    else:
        messages.info(request, f"Reproducing image #{image.index + 1} on a GPU worker; the verdict shows on it.")
    return _back(image)


@login_required
@require_GET
def image_checks(request: HttpRequest, image_id: int) -> HttpResponse:
    """The latest reproduce verdict of an image (what the job card shows)."""
    image = _image(request, image_id)
    check = selectors.generated_image_last_checks(image_ids=[image.pk]).get(image.pk)
    return HttpResponse(check.verdict if check is not None else "not reproduced yet", content_type="text/plain")
