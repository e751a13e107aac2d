"""The client review page: a review link's posts for its external reviewer, who needs no account. They approve,
request changes (with a comment) and comment. Every request passes the rate-limited gate in
scheduler.review.link_access; a closed link shows a page that says why, with its 410, and changes nothing."""

from __future__ import annotations

from collections.abc import Callable

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from core.errors import ApplicationError, Gone, NotFound, TooManyRequests
from personas.auth import client_ip
from scheduler import selectors
from scheduler.models import PostStatus, ReviewLink
from scheduler.review import comments, link_selectors, links
from scheduler.review.link_access import review_link_for_request

TEMPLATE = "web/client_review.html"


def _closed(request: HttpRequest, exc: ApplicationError) -> HttpResponse:
    title = "Too many requests" if isinstance(exc, TooManyRequests) else "This review link is closed"
    response = render(request, "web/client_review_closed.html", {"title": title, "message": exc.message},
                      status=exc.status)
    if "retry_after" in exc.extra:
        response["Retry-After"] = str(exc.extra["retry_after"])
    return response


def _open(request: HttpRequest, token: str, post_id: int | None = None) -> ReviewLink:
    """The open link, and (when `post_id` is given) a post it shows: 404 for anything else, before any write."""
    try:
        link = review_link_for_request(token=token, ip=client_ip(request))
        if post_id is not None:
            link_selectors.review_link_post(link=link, post_id=post_id)
    except NotFound:
        raise Http404("Not found.") from None
    return link


def _page(request: HttpRequest, link: ReviewLink, token: str, *, status: int = 200) -> HttpResponse:
    posts = list(link_selectors.review_link_posts(link=link))
    for post in posts:
        post.local_slot = selectors.local_time(post.scheduled_at, post.persona)
        post.thread = list(link_selectors.review_link_comments(link=link, post_id=post.pk))
        for comment in post.thread:
            comment.who = comments.comment_author_name(comment)
        post.image_urls = [reverse("client-review-image", kwargs={"token": token, "post_image_id": image.pk})
                           for image in post.images.all()]
        post.can_decide = post.status == PostStatus.IN_REVIEW
    return render(request, TEMPLATE, {"link": link, "token": token, "posts": posts}, status=status)


@require_GET
def client_review(request: HttpRequest, token: str) -> HttpResponse:
    try:
        return _page(request, _open(request, token), token)
    except (Gone, TooManyRequests) as exc:
        return _closed(request, exc)


def _post_action(request: HttpRequest, token: str, post_id: int,
                 act: Callable[[ReviewLink], HttpResponse | None]) -> HttpResponse:
    """Run one reviewer write on a post the open link shows, then back to that post. `act` returns a response
    only to answer instead; a refused write shows the page again with its message and status."""
    try:
        link = _open(request, token, post_id)
        try:
            response = act(link)
        except (Gone, TooManyRequests):
            raise
        except NotFound:
            raise Http404("Post not found.") from None
        except ApplicationError as exc:
            messages.error(request, exc.message)
            return _page(request, link, token, status=exc.status)
    except (Gone, TooManyRequests) as exc:
        return _closed(request, exc)
    if response is not None:
        return response
    return redirect(reverse("client_review", kwargs={"token": token}) + f"#post-{post_id}")


@require_POST
def client_review_decide(request: HttpRequest, token: str, post_id: int) -> HttpResponse:
    action, comment = request.POST.get("action", ""), request.POST.get("comment", "")

    def decide(link: ReviewLink) -> HttpResponse | None:
        if action == "approve":
            links.review_link_approve(token=token, post_id=post_id, comment=comment)
            messages.success(request, f"Post {post_id} approved. Thank you!")
        elif action == "request_changes":
            links.review_link_request_changes(token=token, post_id=post_id, comment=comment)
            messages.success(request, f"Changes requested on post {post_id}. The team has your comment.")
        else:
            messages.error(request, "Choose approve or request changes.")
            return _page(request, link, token, status=400)
        return None

    return _post_action(request, token, post_id, decide)


@require_POST
def client_review_comment(request: HttpRequest, token: str, post_id: int) -> HttpResponse:
    def comment(link: ReviewLink) -> None:
        comments.post_comment_add_for_link(token=token, post_id=post_id, body=request.POST.get("body", ""))
        messages.success(request, "Comment added.")

    return _post_action(request, token, post_id, comment)
