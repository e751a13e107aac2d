"""Export bundles: create, list (polled), download, and the provenance check of a bundle."""

from __future__ import annotations

import datetime as dt
import json
import zipfile

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from core.errors import ApplicationError
from core.storage import media_attachment
from personas.selectors import workspace_personas
from provenance.bundles import build as exports
from provenance.bundles import selectors as export_selectors
from provenance.checks.verify import bundle_verify
from provenance.models import ExportStatus
from web.shell import current_workspace, error_response, int_or_404, render_page, use_workspace, workspace_context

EXPORTS_LIMIT = 20


def exports_list_context(request: HttpRequest) -> dict:
    ctx = workspace_context(request)
    bundles = export_selectors.export_bundle_recent(user=request.user, workspace_id=ctx.workspace.pk,
                                                    limit=EXPORTS_LIMIT)
    active = any(b.status in (ExportStatus.PENDING, ExportStatus.RUNNING) for b in bundles)
    return {"bundles": bundles, "exports_active": active}


def exports_render(request: HttpRequest, *, status: int = 200, form: dict | None = None) -> HttpResponse:
    ctx = workspace_context(request)
    if ctx.workspace is None:
        return render_page(request, "scheduler/no_workspace.html")
    today = timezone.now().date()
    context = {
        "personas": workspace_personas(workspace_id=ctx.workspace.pk),
        "form": form
        or {"start": today.isoformat(), "end": (today + dt.timedelta(days=6)).isoformat(), "persona_ids": []},
        **exports_list_context(request),
    }
    return render_page(request, "scheduler/exports.html", context, status=status)


@login_required
@require_GET
def export_list(request: HttpRequest) -> HttpResponse:
    return exports_render(request)


@login_required
@require_GET
def export_list_partial(request: HttpRequest) -> HttpResponse:
    current_workspace(request)
    return render_page(request, "scheduler/_export_rows.html", exports_list_context(request))


@login_required
@require_POST
def export_create(request: HttpRequest) -> HttpResponse:
    workspace = current_workspace(request)
    persona_ids = [int_or_404(value) for value in request.POST.getlist("personas")]
    form = {"start": request.POST.get("start", ""), "end": request.POST.get("end", ""), "persona_ids": persona_ids}
    try:
        start = dt.date.fromisoformat(form["start"])
        end = dt.date.fromisoformat(form["end"])
    except ValueError:
        messages.error(request, "Enter a start and an end date.")
        return exports_render(request, status=400, form=form)
    # Whole UTC days, the end day included.
    start_at = dt.datetime.combine(start, dt.time.min, tzinfo=dt.UTC)
    end_at = dt.datetime.combine(end + dt.timedelta(days=1), dt.time.min, tzinfo=dt.UTC)
    try:
        bundle = exports.export_bundle_create(
            actor=request.user, workspace=workspace, persona_ids=persona_ids, start=start_at, end=end_at
        )
    except ApplicationError as exc:
        return error_response(request, exc, lambda status: exports_render(request, status=status, form=form))
    messages.success(request, f"Export #{bundle.pk} queued; it appears below when ready.")
    return redirect("export_list")


@login_required
@require_GET
def export_download(request: HttpRequest, bundle_id: int) -> StreamingHttpResponse:
    bundle = export_selectors.export_bundle_ready(user=request.user, bundle_id=bundle_id)
    if bundle is None:
        raise Http404("Export not found or not ready.")
    response = media_attachment(bundle.file.name, filename=bundle.file.name.rsplit("/", 1)[-1],
                                content_type="application/zip", storage=bundle.file.storage)
    response["X-Content-Type-Options"] = "nosniff"
    return response


def manifest_summary(bundle) -> dict:
    """What the bundle's manifest.json says (posts, images, personas), read without decoding any image."""
    try:
        with bundle.file.open("rb") as handle, zipfile.ZipFile(handle) as archive:
            manifest = json.loads(archive.read("manifest.json"))
    except (OSError, KeyError, ValueError, zipfile.BadZipFile) as exc:
        return {"error": f"Cannot read manifest.json: {exc}"}
    posts = manifest.get("posts") or [] if isinstance(manifest, dict) else []
    return {
        "schema_version": manifest.get("schema_version", "") if isinstance(manifest, dict) else "",
        "post_count": len(posts),
        "image_count": sum(len(p.get("images") or []) for p in posts if isinstance(p, dict)),
        "personas": sorted({(p.get("persona") or {}).get("name", "") for p in posts if isinstance(p, dict)}),
        "platforms": sorted({p.get("platform", "") for p in posts if isinstance(p, dict)}),
    }


@login_required
@require_GET
def export_verify(request: HttpRequest, bundle_id: int) -> HttpResponse:
    """The bundle's provenance check (C2PA, IPTC, watermark, hashes) per image, run on demand."""
    bundle = export_selectors.export_bundle_ready(user=request.user, bundle_id=bundle_id)
    if bundle is None:
        raise Http404("Export not found or not ready.")
    use_workspace(request, bundle.workspace_id)
    with bundle.file.open("rb") as handle:
        report = bundle_verify(zip_path_or_file=handle)
    context = {"bundle": bundle, "report": report, "summary": manifest_summary(bundle)}
    return render_page(request, "scheduler/export_verify.html", context)
