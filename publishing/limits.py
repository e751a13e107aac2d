"""The platforms' limits, checked by us before any container is made (core owns the numbers: core.platforms and
core.captions). Two kinds: content that can never pass (caption too long, too many hashtags or images, a ratio,
size or format the platform refuses) fails with the limit and the value, for a person to edit; the 24-hour
publishing quota frees up by itself, so the post waits until the window moves.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.core.files.storage import default_storage
from PIL import Image

from core.captions import caption_problems
from core.errors import ApplicationError
from core.platforms import image_files_problems, images_problems, rule_for
from publishing.models import ConnectedAccount, Publication, PublicationStatus
from scheduler.models import Post

WINDOW = dt.timedelta(hours=24)
# When only the platform's count is full (posts made outside this studio), we cannot know when a slot frees.
QUOTA_RECHECK = dt.timedelta(hours=1)
# Our own runs between container and answer finish within minutes.
IN_FLIGHT_RECHECK = dt.timedelta(minutes=5)
_IN_FLIGHT = (PublicationStatus.CONTAINER_CREATED, PublicationStatus.PUBLISHING)


class LimitExceeded(ApplicationError):
    """The post breaks a platform limit that waiting cannot fix: it fails, naming the limit and the value."""

    code = "publish_limit_exceeded"


@dataclass(frozen=True)
class QuotaFull:
    message: str
    retry_at: dt.datetime


def _refuse(problems: list[str]) -> None:
    if problems:
        raise LimitExceeded("Not sent: " + " ".join(problems) + " Edit the post, then retry.")


def content_check(*, post: Post, caption: str, text_only_allowed: bool) -> None:
    """Caption, hashtags, image count and aspect ratios, from the post itself (before any file is labelled)."""
    sizes = [(image.width, image.height) for image in post.images.all()]
    problems = caption_problems(platform=post.platform, caption=caption, hashtags=list(post.hashtags or []))
    if sizes or not text_only_allowed:
        problems += images_problems(platform=post.platform, image_sizes=sizes)
    _refuse(problems)


def media_files_check(*, platform: str, names: list[str]) -> None:
    """Size and format of the labelled files the platform will fetch, and their own aspect ratios."""
    files, sizes = [], []
    for name in names:
        with default_storage.open(name, "rb") as handle, Image.open(handle) as image:
            files.append((default_storage.size(name), image.format or ""))
            sizes.append(image.size)
    if sizes:
        _refuse(images_problems(platform=platform, image_sizes=sizes)
                + image_files_problems(platform=platform, files=files))


def quota_full(*, used: int, quota: int, account: ConnectedAccount, publication_id: int, limit_name: str,
               now: dt.datetime) -> QuotaFull | None:
    """The platform's count (`used` of `quota`, from its publishing-limit edge) and ours (published in the moving
    24 hours, plus our runs already holding a container), whichever is stricter; None when a post may go out."""
    mine = Publication.objects.filter(account__platform=account.platform,
                                      account__platform_user_id=account.platform_user_id).exclude(pk=publication_id)
    published = sorted(mine.filter(status=PublicationStatus.PUBLISHED, published_at__gt=now - WINDOW,
                                   published_at__lte=now).values_list("published_at", flat=True))
    in_flight = mine.filter(status__in=_IN_FLIGHT).count()
    ours = len(published) + in_flight
    if max(used, ours) < quota:
        return None
    waits = []
    if 0 < quota <= len(published):  # a slot frees when the oldest post that fills the window leaves it
        waits.append(published[len(published) - quota] + WINDOW)
    elif in_flight and ours >= quota:
        waits.append(now + IN_FLIGHT_RECHECK)
    if used >= quota or not waits:
        waits.append(now + QUOTA_RECHECK)
    label = rule_for(account.platform).label
    going = f" and {in_flight} more being published" if in_flight else ""
    return QuotaFull(
        message=f"{label} allows {quota} API-published posts in 24 hours ({limit_name}); {max(used, len(published))} "
                f"went out in the last 24 hours{going}. The post waits for the window to move.",
        retry_at=max(waits),
    )
