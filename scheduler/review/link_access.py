"""The gate in front of every client review link route (API and pages): a rate limit per IP address, and a
lockout for an address that keeps presenting bad tokens (brute force).

Counters live in Django's cache (shared through REDIS_CACHE_URL when several web processes run):
- every link request counts towards REVIEW_LINK_RATE_LIMIT per REVIEW_LINK_RATE_WINDOW_SECONDS;
- a token that names no link counts towards REVIEW_LINK_MAX_FAILURES per REVIEW_LINK_FAILURE_WINDOW_SECONDS;
  past it, the address gets 429 on every link route, valid tokens included, until the window ends.
"""

from __future__ import annotations

import hashlib

from django.conf import settings
from django.core.cache import cache

from core.counters import cache_count
from core.errors import NotFound, TooManyRequests
from scheduler.models import ReviewLink
from scheduler.review.link_selectors import review_link_from_token


def _setting(name: str, default: int) -> int:
    return int(getattr(settings, name, default))


def _key(kind: str, ip: str) -> str:
    return f"review-link-{kind}:{hashlib.sha256(ip.encode()).hexdigest()}"


def link_request_allow(*, ip: str) -> None:
    """Count one link request from `ip`; TooManyRequests when the address is over a limit."""
    failure_window = _setting("REVIEW_LINK_FAILURE_WINDOW_SECONDS", 15 * 60)
    if cache.get(_key("failures", ip), 0) >= _setting("REVIEW_LINK_MAX_FAILURES", 10):
        raise TooManyRequests(
            f"Too many invalid review links from your address. Try again in {max(failure_window // 60, 1)} minutes.",
            extra={"retry_after": failure_window},
        )
    window = _setting("REVIEW_LINK_RATE_WINDOW_SECONDS", 60)
    if cache_count(_key("requests", ip), timeout=window) > _setting("REVIEW_LINK_RATE_LIMIT", 120):
        raise TooManyRequests("Too many requests. Wait a minute and try again.", extra={"retry_after": window})


def review_link_for_request(*, token: str, ip: str) -> ReviewLink:
    """The open link `token` names, for a request from `ip`: rate-limited, and a bad token counts as a failure."""
    link_request_allow(ip=ip)
    try:
        return review_link_from_token(token=token)
    except NotFound:
        cache_count(_key("failures", ip), timeout=_setting("REVIEW_LINK_FAILURE_WINDOW_SECONDS", 15 * 60))
        raise
