"""A post's page: its comment thread for the workspace's members (@username notifies that member by email) and
its publication's status."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from core.errors import ApplicationError
from publishing.selectors import post_publication
from scheduler import selectors
from scheduler.review import comments
from web.publishing import publication_line, retry_url_format
from web.shell import error_response, render_page, use_workspace


def _render(request: HttpRequest, post_id: int, *, status: int = 200, body: str = "") -> HttpResponse:
    post = selectors.post_get(user=request.user, post_id=post_id)
    use_workspace(request, post.workspace_id)
    thread = list(selectors.post_comments(user=request.user, post_id=post.pk))
    for comment in thread:
        comment.who = comments.comment_author_name(comment)
    post.local_slot = selectors.local_time(post.scheduled_at, post.persona)
    publication = publication_line(post_publication(post_id=post.pk), persona=post.persona,
                                   platform_label=post.get_platform_display(),
                                   retry_url=retry_url_format().format(pk=post.pk))
    return render_page(request, "web/post_comments.html",
                       {"post": post, "thread": thread, "body": body, "publication": publication,
                        "here": reverse("post_comments", args=[post.pk])}, status=status)


@login_required
@require_http_methods(["GET", "POST"])
def post_comments(request: HttpRequest, post_id: int) -> HttpResponse:
    try:
        if request.method == "GET":
            return _render(request, post_id)
        body = request.POST.get("body", "")
        post = selectors.post_get(user=request.user, post_id=post_id)
        try:
            comments.post_comment_add(actor=request.user, post_id=post.pk, body=body)
        except ApplicationError as exc:
            return error_response(request, exc, lambda status: _render(request, post_id, status=status, body=body))
    except ApplicationError as exc:
        return error_response(request, exc, lambda status: _render(request, post_id, status=status))
    messages.success(request, "Comment added.")
    return redirect("post_comments", post_id=post_id)
