"""Sign-in throttling: after LOGIN_MAX_FAILURES wrong passwords for one username from one IP address,
that pair is locked out for LOGIN_LOCKOUT_SECONDS.

Enforced in the authentication backend, so every sign-in path (the login page, the admin's login, a future
API token endpoint) is covered; the login view only turns a lockout into a clear message and a 429.
Counts live in Django's cache (set CACHES to Redis when several web processes run).
"""

from __future__ import annotations

import hashlib

from django.conf import settings
from django.contrib.auth import views as auth_views
from django.contrib.auth.backends import ModelBackend
from django.core.cache import cache
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse


def _max_failures() -> int:
    return int(getattr(settings, "LOGIN_MAX_FAILURES", 5))


def _lockout_seconds() -> int:
    return int(getattr(settings, "LOGIN_LOCKOUT_SECONDS", 15 * 60))


def client_ip(request: HttpRequest | None) -> str:
    # REMOTE_ADDR only: X-Forwarded-For is client-controlled unless a trusted proxy rewrites REMOTE_ADDR.
    return (request.META.get("REMOTE_ADDR") or "") if request is not None else ""


def _key(*, username: str, ip: str) -> str:
    digest = hashlib.sha256(f"{(username or '').strip().lower()}|{ip}".encode()).hexdigest()
    return f"login-failures:{digest}"


def login_attempt_locked(*, username: str, ip: str) -> bool:
    return cache.get(_key(username=username, ip=ip), 0) >= _max_failures()


def login_attempt_failed(*, username: str, ip: str) -> int:
    """Count one failure; the lockout window restarts with each failure. Returns the count."""
    key = _key(username=username, ip=ip)
    count = cache.get(key, 0) + 1
    cache.set(key, count, timeout=_lockout_seconds())
    return count


def login_attempt_succeeded(*, username: str, ip: str) -> None:
    cache.delete(_key(username=username, ip=ip))


class ThrottledModelBackend(ModelBackend):
    def authenticate(self, request, username=None, password=None, **kwargs):
        username = username if username is not None else kwargs.get("username", "")
        ip = client_ip(request)
        if login_attempt_locked(username=username or "", ip=ip):
            raise PermissionDenied("Too many failed sign-in attempts.")  # stops every backend
        user = super().authenticate(request, username=username, password=password, **kwargs)
        if user is None:
            login_attempt_failed(username=username or "", ip=ip)
        else:
            login_attempt_succeeded(username=username or "", ip=ip)
        return user


class LoginView(auth_views.LoginView):
    """The standard login page, answering 429 with a clear message while the username+IP is locked out."""

    def post(self, request: HttpRequest, *args, **kwargs) -> HttpResponse:
        username = request.POST.get("username", "")
        if login_attempt_locked(username=username, ip=client_ip(request)):
            form = self.get_form()
            form.is_valid()  # populates cleaned_data; the backend refuses the attempt anyway
            form.errors.clear()
            minutes = max(1, _lockout_seconds() // 60)
            form.add_error(None, f"Too many failed sign-in attempts. Try again in {minutes} minutes.")
            return self.render_to_response(self.get_context_data(form=form), status=429)
        return super().post(request, *args, **kwargs)
