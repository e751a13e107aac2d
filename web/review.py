"""The review queue: reviewers decide on submitted posts; marketers edit captions and submit drafts."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from core.errors import ApplicationError
from personas.selectors import workspace_personas
from scheduler import selectors
from scheduler import services as post_services
from scheduler.captions import alternatives as captioning
from scheduler.models import CaptionStatus, Post, PostStatus
from scheduler.posts.generated_selectors import LIKENESS_SORTS, posts_best_of_candidates, posts_likeness_annotate
from scheduler.workspace_selectors import (
    drafts_with_change_requests,
    post_ids_in_workspaces,
    post_platform_problems,
    review_page,
)
from web.captions import REWRITE_CHOICES, REWRITE_LABELS, caption_alternatives_attach
from web.presenters import caption_stats, platform_limits
from web.review_cards import review_cards_prepare, review_cards_render, rewrite_options
from web.shell import (
    error_response,
    page_url,
    run_action,
    safe_next,
    scoped_post,
    view_of_next,
    workspace_context,
    workspace_page,
)

REVIEW_PAGE_SIZE = 20
DRAFTS_LIMIT = 20
BULK_APPROVE_LIMIT = 100


def review_context(request: HttpRequest) -> dict:
    ctx = workspace_context(request)
    try:
        page = max(1, int(request.GET.get("page", "1")))
    except ValueError:
        page = 1
    layout = "grid" if request.GET.get("layout") == "grid" else "single"
    persona_param = request.GET.get("persona") or ""
    persona_id = int(persona_param) if persona_param.isdigit() else None
    offset = (page - 1) * REVIEW_PAGE_SIZE
    off_model = request.GET.get("likeness") == "off"
    sort = request.GET.get("sort", "")
    sort = sort if sort in LIKENESS_SORTS else ""
    personas = workspace_personas(workspace_id=ctx.workspace.pk)  # the filter's, and each card's persona
    by_id = {p.pk: p for p in personas}
    # One row more than the page tells whether a next page exists without a COUNT query.
    def likeness(queue):
        return posts_likeness_annotate(queue, off_model_only=off_model, sort=sort)

    posts = review_page(user=request.user, workspace_id=ctx.workspace.pk, persona_id=persona_id, offset=offset,
                        limit=REVIEW_PAGE_SIZE + 1, personas=by_id, annotate=likeness,
                        refine=likeness if off_model or sort else None)  # the whole queue only when it must
    has_next = len(posts) > REVIEW_PAGE_SIZE
    posts = posts[:REVIEW_PAGE_SIZE]
    candidates = posts_best_of_candidates(posts=posts, images_of=lambda post: post.image_list)
    for post in posts:
        post.candidates = candidates.get(post.pk, [])
        post.problems = selectors.validate_post_for_platform(post=post, images=post.image_list)
        post.local_target = selectors.local_time(post.scheduled_at, post.persona)
        caption_stats(post)
    drafts = drafts_with_change_requests(workspace_id=ctx.workspace.pk, persona_id=persona_id, limit=DRAFTS_LIMIT,
                                         personas=by_id)
    for post in drafts:
        caption_stats(post)
    caption_alternatives_attach([*posts, *drafts])
    review_cards_prepare(posts, drafts)
    here = page_url(request, "review_queue")
    review_cards_render(request, posts, drafts, ws=ctx, here=here, rewrite=rewrite_options(REWRITE_CHOICES))

    def query(**overrides) -> str:
        params = {"layout": layout, "persona": persona_id or "", "likeness": "off" if off_model else "",
                  "sort": sort, "page": page}
        params.update(overrides)
        return "&".join(f"{k}={v}" for k, v in params.items() if v)

    return {
        "posts": posts,
        "page": page,
        "has_next": has_next,
        "has_previous": page > 1,
        "drafts": drafts,
        "layout": layout,
        "persona_id": persona_id,
        "likeness_off": off_model,
        "likeness_sort": sort,
        "likeness_sorts": LIKENESS_SORTS,
        "review_personas": personas,
        "platform_limits": platform_limits(),
        "here": here,
        "single_query": query(layout="single"),
        "grid_query": query(layout="grid"),
        "prev_query": query(page=page - 1),
        "next_query": query(page=page + 1),
    }


def review_render(request: HttpRequest, *, status: int = 200) -> HttpResponse:
    return workspace_page(request, "scheduler/review_queue.html", review_context, status=status)


@login_required
@require_GET
def review_queue(request: HttpRequest) -> HttpResponse:
    return review_render(request)


def _review_action(request: HttpRequest, call, *, done: str) -> HttpResponse:
    return run_action(request, call, done=done, back=reverse("review_queue"),
                      rerender=lambda status: review_render(view_of_next(request), status=status))


REVIEW_ACTIONS = {
    "approve": (post_services.post_approve, "Post approved."),
    "request_changes": (post_services.post_request_changes, "Changes requested."),
    "reject": (post_services.post_reject, "Post rejected."),
}


@login_required
@require_POST
def review_decide(request: HttpRequest, post_id: int) -> HttpResponse:
    post = scoped_post(request, post_id)
    action = REVIEW_ACTIONS.get(request.POST.get("action", ""))
    if action is None:
        messages.error(request, "Choose approve, request changes or reject.")
        return review_render(view_of_next(request), status=400)
    service, done = action
    return _review_action(
        request, lambda: service(actor=request.user, post_id=post.pk, comment=request.POST.get("comment", "").strip()),
        done=f"{done} (post #{post.pk}, {post.persona.name})",
    )


@login_required
@require_POST
def post_submit(request: HttpRequest, post_id: int) -> HttpResponse:
    post = scoped_post(request, post_id)
    return _review_action(
        request,
        lambda: post_services.post_submit(actor=request.user, post_id=post.pk,
                                          comment=request.POST.get("comment", "").strip()),
        done=f"Post #{post.pk} submitted for review.",
    )


@login_required
@require_POST
def review_bulk_approve(request: HttpRequest) -> HttpResponse:
    """Approve each ticked post through post_approve; one bad post never blocks the others."""
    ctx = workspace_context(request)
    ids = list(dict.fromkeys(int(v) for v in request.POST.getlist("posts") if v.isdigit()))[:BULK_APPROVE_LIMIT]
    if not ids:
        messages.error(request, "Tick at least one post to approve.")
        return review_render(view_of_next(request), status=400)
    # Only posts of the user's workspaces are tried; any other id reads as "not found", like a 404.
    known = post_ids_in_workspaces(post_ids=ids, workspace_ids=ctx.workspace_ids)
    approved, failed = [], []
    comment = request.POST.get("comment", "").strip()
    for post_id in ids:
        if post_id not in known:
            failed.append(f"Post #{post_id}: not found.")
            continue
        try:
            post_services.post_approve(actor=request.user, post_id=post_id, comment=comment)
        except ApplicationError as exc:
            failed.append(f"Post #{post_id}: {exc.message}")
        else:
            approved.append(post_id)
    if approved:
        messages.success(request, f"Approved {len(approved)} of {len(ids)} post(s): " + ", ".join(
            f"#{pk}" for pk in approved) + ".")
    for problem in failed:
        messages.error(request, problem)
    return redirect(safe_next(request, reverse("review_queue")))


@login_required
@require_POST
def post_caption(request: HttpRequest, post_id: int) -> HttpResponse:
    """Save a draft's caption and hashtags (post_update validates state and role)."""
    post = scoped_post(request, post_id)
    hashtags = [tag for tag in request.POST.get("hashtags", "").replace(",", " ").split() if tag]
    try:
        post_services.post_update(actor=request.user, post=post, caption=request.POST.get("caption", ""),
                                  hashtags=hashtags)
        problems = post_platform_problems(post_id=post.pk)
    except ApplicationError as exc:
        return error_response(request, exc, lambda status: review_render(view_of_next(request), status=status))
    messages.success(request, f"Caption of post #{post.pk} saved.")
    for problem in problems:
        messages.warning(request, f"Post #{post.pk}: {problem}")
    return redirect(safe_next(request, reverse("review_queue")))


def _back_to(request: HttpRequest, post: Post) -> str:
    anchor = "draft" if post.status != PostStatus.IN_REVIEW else "post"
    return safe_next(request, f"{reverse('review_queue')}#{anchor}-{post.pk}")


@login_required
@require_POST
def caption_rewrite(request: HttpRequest, post_id: int) -> HttpResponse:
    """Ask for a rewrite of the post's caption (written on the worker; eager runs have it at once)."""
    post = scoped_post(request, post_id)
    # "translate:de" from the page's select: the rewrite and its language.
    instruction, _, language = request.POST.get("instruction", "").partition(":")
    try:
        alternative = captioning.caption_rewrite_request(
            actor=request.user, post_id=post.pk, instruction=instruction, language=language
        )
    except ApplicationError as exc:
        return error_response(request, exc, lambda status: review_render(view_of_next(request), status=status))
    alternative.refresh_from_db()
    what = REWRITE_LABELS.get(alternative.instruction, alternative.instruction)
    if alternative.status == CaptionStatus.PENDING:
        messages.info(request, f"Rewriting the caption of post #{post.pk} ({what}); reload in a moment to see it.")
    else:
        messages.success(request, f"New caption for post #{post.pk}: {what}.")
    return redirect(_back_to(request, post))


@login_required
@require_POST
def caption_use(request: HttpRequest, post_id: int, alternative_id: int) -> HttpResponse:
    """The post takes one of its caption alternatives."""
    post = scoped_post(request, post_id)
    try:
        captioning.caption_alternative_use(actor=request.user, post_id=post.pk, alternative_id=alternative_id)
    except ApplicationError as exc:
        return error_response(request, exc, lambda status: review_render(view_of_next(request), status=status))
    messages.success(request, f"Post #{post.pk} now uses caption {alternative_id}.")
    return redirect(_back_to(request, post))
