"""Cache counters: each call adds one; a counter that is gone starts again at one."""

from __future__ import annotations

from django.core.cache import cache

from core.counters import cache_count


def test_counts_up_from_one_and_starts_again_once_gone():
    cache.delete("counter-test")
    assert [cache_count("counter-test", timeout=60) for _ in range(3)] == [1, 2, 3]
    cache.delete("counter-test")  # as if it expired between calls
    assert cache_count("counter-test", timeout=60) == 1
