"""Counters in Django's cache, shared by every web process when REDIS_CACHE_URL is set."""

from __future__ import annotations

from django.core.cache import cache


def cache_count(key: str, *, timeout: int) -> int:
    """Atomically add one to the counter at `key`, created with `timeout` when missing (its expiry is kept)."""
    cache.add(key, 0, timeout=timeout)
    try:
        return cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.add(key, 1, timeout=timeout)
        return 1
