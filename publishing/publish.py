"""Publishing one post, exactly once: a state machine over its Publication row.

The row is written only by short conditional updates, never held across an HTTP call. A run first takes the row's
lease (two workers given the same post: one acts, the other leaves), and every later write checks it still holds it.
The container id is stored before media_publish is called, so a run that died anywhere after that point is resumed
from the container's own status: PUBLISHED -> find the media it became and record it; FINISHED -> publish it;
EXPIRED or ERROR -> a new container. A container is published at most once by the platform itself, so publishing a
stored container again cannot double.
"""

from __future__ import annotations

import datetime as dt
import secrets
import time
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from core.access import SCHEDULER_ROLES
from core.errors import ApplicationError, NotFound
from personas.selectors import role_require
from provenance.bundles.files import post_message
from publishing.limits import content_check, media_files_check, quota_full
from publishing.media import PublicUrlMissing, media_url, media_urls_check, post_media_files_make
from publishing.models import AccountStatus, ConnectedAccount, Publication, PublicationStatus
from publishing.platforms.base import MediaItem
from publishing.platforms.graph import PlatformError, TokenExpired, Transient
from publishing.services import account_mark_reconnect_needed, account_token_store, platform_client
from publishing.tokens import token_decrypt
from scheduler.models import Post, PostStatus, PostTransition
from scheduler.services import post_transition

LEASE_SECONDS = 300  # settings.PUBLISHING_LEASE_SECONDS: how long a dead worker's run keeps others off the row
POLL_DELAYS = (1.0, 2.0, 4.0, 8.0, 15.0)  # seconds between container status reads within one run
MAX_ATTEMPTS = 8
NEW_CONTAINERS_PER_RUN = 2
# Long-lived tokens last 60 days and are refreshed when this close to expiring (a refresh needs a day-old token).
REFRESH_BEFORE = dt.timedelta(days=7)
# Editing a post sends it back to one of these; an approval after the last of them approves the current version.
_REOPENED = (PostStatus.DRAFT, PostStatus.IN_REVIEW, PostStatus.CHANGES_REQUESTED)
_DONE = (PublicationStatus.PUBLISHED, PublicationStatus.FAILED)


class PublishWait(ApplicationError):
    """Not publishable now (not approved, no account, the 24-hour quota used): the publication waits, saying why,
    until `retry_at` (None: an hour)."""

    code = "publish_waiting"

    def __init__(self, message: str, *, retry_at: dt.datetime | None = None):
        super().__init__(message)
        self.retry_at = retry_at


@dataclass(frozen=True)
class _Run:
    publication_id: int
    lease: str


def approved_version_current(post: Post) -> bool:
    """Scheduled, and approved since it last went back to editing: what goes out is what was approved."""
    approved = post.transitions.filter(to_status=PostStatus.APPROVED).order_by("-created_at", "-id").first()
    if approved is None:
        return False
    return not PostTransition.objects.filter(post=post, to_status__in=_REOPENED, id__gt=approved.id).exists()


def publication_queue(*, post_id: int) -> Publication:
    """The post's publication, created queued (once: the row is one per post)."""
    publication, _ = Publication.objects.get_or_create(post_id=post_id)
    return publication


def _claim(post_id: int, now: dt.datetime) -> _Run | None:
    """Take the lease with one conditional UPDATE (compare-and-set): of two workers, exactly one gets it, on any
    database."""
    publication = publication_queue(post_id=post_id)
    lease = secrets.token_hex(8)
    until = now + dt.timedelta(seconds=getattr(settings, "PUBLISHING_LEASE_SECONDS", LEASE_SECONDS))
    taken = (
        Publication.objects.filter(pk=publication.pk).exclude(status__in=_DONE)
        .filter(Q(lease_until__isnull=True) | Q(lease_until__lte=now))
        .update(lease_token=lease, lease_until=until, attempts=F("attempts") + 1, updated_at=timezone.now())
    )
    return _Run(publication.pk, lease) if taken else None


def _advance(run: _Run, **fields) -> Publication:
    """Write `fields` if this run still holds the lease (else another run took over: stop)."""
    if not Publication.objects.filter(pk=run.publication_id, lease_token=run.lease).update(
        **fields, updated_at=timezone.now()
    ):
        raise Transient("Another run took this publication over.")
    return Publication.objects.get(pk=run.publication_id)


def _release(run: _Run, **fields) -> Publication:
    return _advance(run, lease_token="", lease_until=None, **fields)


def _gate(publication: Publication, post: Post) -> ConnectedAccount:
    """Refuse before anything is sent: an unapproved or edited post, no account, no public media URL."""
    if post.status != PostStatus.SCHEDULED or not approved_version_current(post):
        raise PublishWait(f"Post {post.pk} is {post.get_status_display().lower()}, not an approved, scheduled post: "
                          "only the approved version of a scheduled post is published.")
    account = (ConnectedAccount.objects.filter(persona_id=post.persona_id, platform=post.platform)
               .exclude(status=AccountStatus.REVOKED).order_by("-created_at").first())
    if account is None:
        raise PublishWait(f"{post.persona} has no connected {post.get_platform_display()} account.")
    if account.status != AccountStatus.CONNECTED:
        raise PublishWait(f"The {account.get_platform_display()} account @{account.username} needs to be "
                          f"reconnected: {account.status_reason or 'its token was refused'}")
    try:
        media_urls_check()
    except PublicUrlMissing as exc:
        raise PublishWait(exc.message) from exc
    return account


def _limits(client, token: str, account: ConnectedAccount, publication_id: int, now: dt.datetime) -> None:
    """The 24-hour quota, read from the platform right before a container is made, and counted by us too."""
    used, quota = client.publishing_limit(token=token, user_id=account.platform_user_id)
    full = quota_full(used=used, quota=quota, account=account, publication_id=publication_id,
                      limit_name=client.QUOTA_EDGE, now=now)
    if full is not None:
        raise PublishWait(full.message, retry_at=full.retry_at)


def _find_published(client, token: str, account: ConnectedAccount, caption: str) -> str:
    """The media a container became when its publish answer was lost: the newest with our caption."""
    for item in client.media_recent(token=token, user_id=account.platform_user_id):
        if item["text"] == caption:
            return item["id"]
    return ""


def _finish(run: _Run, post: Post, client, token: str, media_id: str) -> Publication:
    permalink, reported = client.media_read(token=token, media_id=media_id) if media_id else ("", None)
    note = "" if client.AI_FLAG_SUPPORTED else client.AI_FLAG_NOTE
    with transaction.atomic():
        publication = _release(run, status=PublicationStatus.PUBLISHED, platform_media_id=media_id,
                               permalink=permalink, ai_flag_reported=reported, ai_flag_note=note,
                               published_at=timezone.now(), last_error="", next_attempt_at=None)
        label = {True: "set", False: "NOT set", None: "not available"}[reported]
        where = permalink or media_id or "media id not found"
        post_transition(actor=None, post_id=post.pk, sources=(PostStatus.SCHEDULED,), target=PostStatus.PUBLISHED,
                        verb="published", roles=None,
                        comment=f"Published to {post.get_platform_display()}: {where} (AI label: {label}).")
    return publication


def _publish_steps(run: _Run, post: Post, account: ConnectedAccount, now: dt.datetime) -> Publication:
    client = platform_client(post.platform)
    token = token_decrypt(account.access_token_encrypted)
    if account.token_expires_at and account.token_expires_at < now + REFRESH_BEFORE:
        grant = client.token_refresh(token=token)
        account_token_store(account_id=account.pk, access_token=grant.access_token, expires_at=grant.expires_at)
        token = grant.access_token
    publication = Publication.objects.get(pk=run.publication_id)
    if publication.account_id != account.pk:
        publication = _advance(run, account=account)
    # What goes out: the disclosed caption, then the hashtags (what the platform counts against its limits).
    caption = post_message(post)
    if not publication.container_id:
        # Our own limit checks, before any container exists: a post that can never pass sends nothing.
        content_check(post=post, caption=caption, text_only_allowed=client.TEXT_POSTS)
    if not publication.media_files and post.images.exists():
        publication = _advance(run, media_files=post_media_files_make(post=post))
    if not publication.container_id:
        try:
            media_files_check(platform=post.platform, names=publication.media_files)
        except ApplicationError:
            _advance(run, media_files=[])  # refused files are never sent: an edited post is labelled afresh
            raise
    fresh = 0
    while True:
        if not publication.container_id:
            if fresh >= NEW_CONTAINERS_PER_RUN:
                raise Transient("The platform refused the media containers again; retrying later.")
            _limits(client, token, account, run.publication_id, now)
            items = [MediaItem(image_url=media_url(name=name)) for name in publication.media_files]
            publication = _advance(run, status=PublicationStatus.CREATING)
            parent, children = client.containers_create(token=token, user_id=account.platform_user_id,
                                                        items=items, caption=caption)
            fresh += 1
            # Stored before media_publish: from here on a resumed run reads the container's status first.
            publication = _advance(run, status=PublicationStatus.CONTAINER_CREATED, container_id=parent,
                                   child_container_ids=children)
        status, detail = _container_status_wait(client, token, publication.container_id)
        if status == "PUBLISHED":
            return _finish(run, post, client, token, _find_published(client, token, account, caption))
        if status in ("ERROR", "EXPIRED"):
            publication = _advance(run, status=PublicationStatus.CREATING, container_id="", child_container_ids=[],
                                   last_error=f"Container {publication.container_id} {status.lower()}: {detail}")
            continue
        if status != "FINISHED":
            raise Transient(f"Container {publication.container_id} is still {status.lower() or 'unknown'}.")
        publication = _advance(run, status=PublicationStatus.PUBLISHING)
        try:
            media_id = client.publish(token=token, user_id=account.platform_user_id,
                                      container_id=publication.container_id)
        except PlatformError:
            # The publish may have happened (a lost answer, a racing run): the container says.
            if _container_status_wait(client, token, publication.container_id)[0] == "PUBLISHED":
                return _finish(run, post, client, token, _find_published(client, token, account, caption))
            raise
        return _finish(run, post, client, token, media_id)


def _container_status_wait(client, token: str, container_id: str) -> tuple[str, str]:
    for delay in (*getattr(settings, "PUBLISHING_POLL_DELAYS", POLL_DELAYS), None):
        status, detail = client.container_status(token=token, container_id=container_id)
        if status != "IN_PROGRESS" or delay is None:
            return status, detail
        time.sleep(delay)
    return "IN_PROGRESS", ""


def _backoff(attempts: int) -> dt.timedelta:
    return dt.timedelta(minutes=min(2 ** max(attempts - 1, 0), 60))


def publication_run(*, post_id: int, now: dt.datetime | None = None) -> Publication | None:
    """Advance the post's publication as far as it goes; safe to call any number of times, from any worker."""
    now = now or timezone.now()
    run = _claim(post_id, now)
    if run is None:
        return Publication.objects.filter(post_id=post_id).first()
    post = Post.objects.select_related("persona").get(pk=post_id)
    account = None
    try:
        account = _gate(Publication.objects.get(pk=run.publication_id), post)
        return _publish_steps(run, post, account, now)
    except PublishWait as exc:
        return _release(run, status=PublicationStatus.WAITING, last_error=exc.message,
                        next_attempt_at=exc.retry_at or now + dt.timedelta(hours=1))
    except TokenExpired as exc:
        account_mark_reconnect_needed(account_id=account.pk, reason=exc.message)
        return _release(run, status=PublicationStatus.WAITING, next_attempt_at=None,
                        last_error=f"The {post.get_platform_display()} account must be reconnected: {exc.message}")
    except Transient as exc:
        publication = Publication.objects.get(pk=run.publication_id)
        if publication.attempts >= MAX_ATTEMPTS:
            return _fail(run, post, f"Gave up after {publication.attempts} attempts: {exc.message}")
        return _release(run, last_error=exc.message, next_attempt_at=now + _backoff(publication.attempts))
    except ApplicationError as exc:  # media rejected, permission missing: the platform's own words, retry by hand
        return _fail(run, post, exc.message)


def _fail(run: _Run, post: Post, message: str) -> Publication:
    with transaction.atomic():
        publication = _release(run, status=PublicationStatus.FAILED, last_error=message, next_attempt_at=None)
        PostTransition.objects.create(post=post, from_status=post.status, to_status=post.status,
                                      comment=f"Publishing to {post.get_platform_display()} failed: {message}")
    return publication


def publication_retry(*, post_id: int, actor: AbstractBaseUser | None = None) -> Publication:
    """A failed or waiting publication goes back in the queue (the "retry" action); any other is left as it is.
    `actor`: the member asking, who needs a scheduling role (a non-member gets NotFound); None: the system."""
    with transaction.atomic():
        publication = (Publication.objects.select_for_update(of=("self",)).select_related("post")
                       .filter(post_id=post_id).first())
        if publication is None:
            raise NotFound("Publication not found.")
        if actor is not None:
            role_require(user=actor, workspace_id=publication.post.workspace_id, roles=SCHEDULER_ROLES,
                         not_found="Publication not found.")
        if publication.status in (PublicationStatus.FAILED, PublicationStatus.WAITING):
            publication.status, publication.attempts, publication.next_attempt_at = PublicationStatus.QUEUED, 0, None
            publication.save(update_fields=["status", "attempts", "next_attempt_at", "updated_at"])
    return publication


def publications_due(*, now: dt.datetime | None = None) -> list[int]:
    """Post ids to run now: scheduled posts due within a minute whose persona has an account for their platform,
    unless their publication is done, leased, or waiting for a later attempt."""
    now = now or timezone.now()
    posts = Post.objects.filter(
        status=PostStatus.SCHEDULED, scheduled_at__lte=now + dt.timedelta(minutes=1),
        platform__in=("instagram", "threads"),
        persona__connected_accounts__status=AccountStatus.CONNECTED,
    ).values_list("pk", flat=True).distinct()
    ready = []
    for post_id in posts:
        publication = publication_queue(post_id=post_id)
        if publication.status in _DONE or (publication.lease_until and publication.lease_until > now):
            continue
        if publication.next_attempt_at and publication.next_attempt_at > now:
            continue
        ready.append(post_id)
    return ready
