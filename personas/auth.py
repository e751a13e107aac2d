"""Sign-in throttling, enforced in the authentication backend, so every sign-in path (the login page, the
admin's login, a future API token endpoint) is covered; the login view only turns a lockout into a clear
message and a 429.

Two counters, both in Django's cache (set REDIS_CACHE_URL when several web processes run):
- username + IP: after LOGIN_MAX_FAILURES wrong passwords that pair is locked for LOGIN_LOCKOUT_SECONDS; the
  window restarts with each failure (one guesser on one address).
- username alone, across every IP: LOGIN_USER_MAX_FAILURES wrong passwords within LOGIN_USER_WINDOW_SECONDS
  lock the username for LOGIN_USER_LOCKOUT_SECONDS (a guesser rotating addresses). So that this cannot lock the
  real user out for good, the lock has a fixed end (attempts refused while locked neither count nor extend it),
  and it does not apply to a browser that has signed in as that user before (a signed "known device" cookie,
  set on every successful sign-in through the login page).
Counters are incremented atomically (cache.add + cache.incr), so concurrent requests on several web processes
all count.
"""

from __future__ import annotations

import hashlib

from django.conf import settings
from django.contrib.auth.backends import ModelBackend
from django.core import signing
from django.core.cache import cache
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse

from core.counters import cache_count

KNOWN_DEVICE_COOKIE = "studio_known_device"
KNOWN_DEVICE_SALT = "personas.auth.known-device"
KNOWN_DEVICE_MAX_AGE = 180 * 24 * 60 * 60
KNOWN_DEVICE_MAX_USERS = 5  # usernames remembered per browser (a shared family or office machine)


def _setting(name: str, default: int) -> int:
    return int(getattr(settings, name, default))


def client_ip(request: HttpRequest | None) -> str:
    # REMOTE_ADDR only: X-Forwarded-For is client-controlled unless a trusted proxy rewrites REMOTE_ADDR.
    return (request.META.get("REMOTE_ADDR") or "") if request is not None else ""


def _digest(*parts: str) -> str:
    return hashlib.sha256("|".join(parts).encode()).hexdigest()


def _username_digest(username: str) -> str:
    return _digest((username or "").strip().lower())


def _pair_key(*, username: str, ip: str) -> str:
    return f"login-failures:{_digest((username or '').strip().lower(), ip)}"


def _user_count_key(username: str) -> str:
    return f"login-user-failures:{_username_digest(username)}"


def _user_lock_key(username: str) -> str:
    return f"login-user-locked:{_username_digest(username)}"


def known_device_usernames(request: HttpRequest | None) -> set[str]:
    """Digests of the usernames that signed in from this browser before (empty when the cookie is bad)."""
    value = request.COOKIES.get(KNOWN_DEVICE_COOKIE) if request is not None else None
    if not value:
        return set()
    try:
        digests = signing.loads(value, salt=KNOWN_DEVICE_SALT, max_age=KNOWN_DEVICE_MAX_AGE)
    except signing.BadSignature:
        return set()
    return {d for d in digests if isinstance(d, str)} if isinstance(digests, list) else set()


def known_device_remember(*, request: HttpRequest, response: HttpResponse, username: str) -> None:
    digests = [d for d in known_device_usernames(request) if d != _username_digest(username)]
    digests = [_username_digest(username), *digests][:KNOWN_DEVICE_MAX_USERS]
    response.set_cookie(
        KNOWN_DEVICE_COOKIE,
        signing.dumps(digests, salt=KNOWN_DEVICE_SALT),
        max_age=KNOWN_DEVICE_MAX_AGE,
        secure=settings.SESSION_COOKIE_SECURE,
        httponly=True,
        samesite="Lax",
    )


def login_attempt_locked(*, username: str, ip: str, known_device: bool = False) -> bool:
    if cache.get(_pair_key(username=username, ip=ip), 0) >= _setting("LOGIN_MAX_FAILURES", 5):
        return True
    return not known_device and cache.get(_user_lock_key(username)) is not None


def login_attempt_failed(*, username: str, ip: str) -> int:
    """Count one failure on both counters; returns the username + IP count."""
    pair_key = _pair_key(username=username, ip=ip)
    count = cache_count(pair_key, timeout=_setting("LOGIN_LOCKOUT_SECONDS", 15 * 60))
    cache.touch(pair_key, _setting("LOGIN_LOCKOUT_SECONDS", 15 * 60))  # this window restarts with each failure
    user_failures = cache_count(_user_count_key(username), timeout=_setting("LOGIN_USER_WINDOW_SECONDS", 15 * 60))
    # add, not set: a lock already in force keeps its end, so it cannot be extended indefinitely.
    if user_failures >= _setting("LOGIN_USER_MAX_FAILURES", 20) and cache.add(
        _user_lock_key(username), 1, timeout=_setting("LOGIN_USER_LOCKOUT_SECONDS", 15 * 60)
    ):
        cache.delete(_user_count_key(username))  # counting starts afresh after this lock ends
    return count


def login_attempt_succeeded(*, username: str, ip: str) -> None:
    cache.delete(_pair_key(username=username, ip=ip))


def lockout_minutes() -> int:
    """The longest lockout, in whole minutes, for the sign-in page's message."""
    return max(1, max(_setting("LOGIN_LOCKOUT_SECONDS", 900), _setting("LOGIN_USER_LOCKOUT_SECONDS", 900)) // 60)


def is_known_device(request: HttpRequest | None, username: str) -> bool:
    return _username_digest(username) in known_device_usernames(request)


class ThrottledModelBackend(ModelBackend):
    def authenticate(self, request, username=None, password=None, **kwargs):
        username = (username if username is not None else kwargs.get("username", "")) or ""
        ip = client_ip(request)
        if login_attempt_locked(username=username, ip=ip, known_device=is_known_device(request, username)):
            raise PermissionDenied("Too many failed sign-in attempts.")  # stops every backend
        user = super().authenticate(request, username=username, password=password, **kwargs)
        if user is None:
            login_attempt_failed(username=username, ip=ip)
        else:
            login_attempt_succeeded(username=username, ip=ip)
        return user
