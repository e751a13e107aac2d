"""Sign-in lockout per username across IP addresses, with a fixed end and known browsers spared; on the
in-process cache and on the real Redis cache that several web processes share."""

from __future__ import annotations

import socket
import time

import pytest
from django.core.cache import caches
from django.test import Client
from django.urls import reverse

from core.access import Role
from personas.auth import KNOWN_DEVICE_COOKIE
from tests.factories import MembershipFactory
from tests.services import service_unavailable

PASSWORD = "pw-Correct-Horse-1"
REDIS_CACHE = "redis://127.0.0.1:6379/6"  # away from `make run` (0, 1) and the integration session (8-15)


def _redis_up() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=1):
            return True
    except OSError:
        return False


@pytest.fixture(params=["locmem", pytest.param("redis", marks=pytest.mark.services)])
def lockout_cache(request, settings):
    if request.param == "redis":
        if not _redis_up():
            service_unavailable("Redis is not reachable on 127.0.0.1:6379")
        settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache",
                                       "LOCATION": REDIS_CACHE}}
    cache = caches["default"]
    cache.clear()
    settings.LOGIN_MAX_FAILURES = 100  # the per username + IP counter stays out of these tests
    settings.LOGIN_USER_MAX_FAILURES = 4
    settings.LOGIN_USER_WINDOW_SECONDS = 60
    settings.LOGIN_USER_LOCKOUT_SECONDS = 60
    yield cache
    cache.clear()


@pytest.fixture
def member(db):
    return MembershipFactory(role=Role.MARKETER).user


def _login(client: Client, username: str, password: str, ip: str):
    return client.post(reverse("login"), {"username": username, "password": password}, REMOTE_ADDR=ip)


def _fail_from_many_ips(username: str, count: int) -> None:
    for n in range(count):
        assert _login(Client(), username, "wrong", ip=f"203.0.113.{n + 1}").status_code == 200


def test_failures_from_rotating_ips_lock_the_username(lockout_cache, member):
    _fail_from_many_ips(member.username, 4)
    locked = _login(Client(), member.username, PASSWORD, ip="198.51.100.7")  # a fresh address, right password
    assert locked.status_code == 429
    assert "Too many failed sign-in attempts" in locked.content.decode()
    # The lock is per username: another user from the same addresses signs in.
    other = MembershipFactory(role=Role.MARKETER).user
    assert _login(Client(), other.username, PASSWORD, ip="203.0.113.1").status_code == 302


def test_a_browser_that_signed_in_before_is_not_locked_out(lockout_cache, member):
    own_browser = Client()
    assert _login(own_browser, member.username, PASSWORD, ip="192.0.2.10").status_code == 302
    assert own_browser.cookies[KNOWN_DEVICE_COOKIE].value
    del own_browser.cookies["sessionid"]  # signed out, the known-device cookie stays (Client.logout drops all)
    _fail_from_many_ips(member.username, 4)
    assert _login(Client(), member.username, PASSWORD, ip="192.0.2.10").status_code == 429  # a new browser
    assert _login(own_browser, member.username, PASSWORD, ip="198.51.100.9").status_code == 302  # even elsewhere


def test_a_forged_known_device_cookie_does_not_bypass_the_lock(lockout_cache, member):
    _fail_from_many_ips(member.username, 4)
    client = Client()
    client.cookies[KNOWN_DEVICE_COOKIE] = "W10:forged:signature"
    assert _login(client, member.username, PASSWORD, ip="198.51.100.7").status_code == 429


def test_the_lock_ends_on_time_however_many_attempts_arrive_meanwhile(lockout_cache, member, settings):
    settings.LOGIN_USER_LOCKOUT_SECONDS = lock = 3
    _fail_from_many_ips(member.username, 3)
    earliest = time.monotonic()  # the lock starts during the fourth failure: not before this, nor after `latest`
    _fail_from_many_ips(member.username, 1)
    latest = time.monotonic()
    # A guesser keeps trying during the lock: refused attempts neither count nor push the end back. Timed from the
    # lock's bounds, not from a clock read after a request that a loaded machine may have made slow.
    refused = 0
    while refused < 2 or time.monotonic() < latest + 1.5:
        sent = time.monotonic()
        answer = _login(Client(), member.username, "wrong", ip="203.0.113.200")
        if sent >= earliest + lock - 0.2:
            pytest.skip("this machine was too slow to try during the lock")
        assert answer.status_code == 429
        refused += 1
        time.sleep(0.2)
    time.sleep(max(0.0, latest + lock + 0.3 - time.monotonic()))
    assert _login(Client(), member.username, PASSWORD, ip="198.51.100.7").status_code == 302
    # Counting starts afresh after the lock: one more failure does not lock the user again at once.
    assert _login(Client(), member.username, "wrong", ip="203.0.113.201").status_code == 200
    assert _login(Client(), member.username, PASSWORD, ip="198.51.100.7").status_code == 302


def test_concurrent_failures_are_all_counted(lockout_cache, member, settings):
    """Several web processes count on one cache: increments are atomic, not read-modify-write."""
    from concurrent.futures import ThreadPoolExecutor

    from personas.auth import login_attempt_failed, login_attempt_locked

    settings.LOGIN_USER_MAX_FAILURES = 60
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda n: login_attempt_failed(username=member.username, ip=f"203.0.113.{n}"), range(59)))
    assert not login_attempt_locked(username=member.username, ip="198.51.100.1")
    login_attempt_failed(username=member.username, ip="203.0.113.99")
    assert login_attempt_locked(username=member.username, ip="198.51.100.1")
