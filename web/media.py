"""Uploaded and generated files, served only to members of the workspace in the stored path."""

from __future__ import annotations

import mimetypes
import posixpath
import re

from django.core.files.storage import default_storage
from django.http import FileResponse, Http404, HttpRequest
from django.views.decorators.http import require_safe

from personas.selectors import membership_get

# Traversal is refused by comparing with the normalised path; backslashes and NULs never reach storage.
MEDIA_PATH_RE = re.compile(r"^workspaces/(?P<workspace_id>\d+)/[^\\\x00]+$")
# The base-model library's sample galleries belong to no workspace: every signed-in user sees them.
LIBRARY_PATH_RE = re.compile(r"^base_models/\d+/samples/[^/\\\x00]+$")
INLINE_TYPES = {"image/png", "image/jpeg", "image/webp", "image/gif"}


@require_safe
def media_serve(request: HttpRequest, path: str) -> FileResponse:
    """Uploaded and generated files, only to members of the workspace named in the stored path.

    Anonymous users and outsiders get the same 404 as a missing file, so nothing is discoverable.
    """
    normalized = posixpath.normpath(path)
    match = MEDIA_PATH_RE.match(path)
    library = LIBRARY_PATH_RE.match(path) is not None
    if normalized != path or (match is None and not library) or ".." in path.split("/"):
        raise Http404("Not found.")
    if not request.user.is_authenticated:
        raise Http404("Not found.")
    if not library and membership_get(user=request.user, workspace_id=int(match["workspace_id"])) is None:
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
