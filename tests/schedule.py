"""The order the suite's tests are handed to xdist workers: longest first.

Under `--dist loadgroup` every test is a unit of its own, except the tests of one `xdist_group`, which share one.
A few units take minutes (their own PostgreSQL, Redis and worker sessions; a cold torch.compile); queued after
the short ones they ran alone at the end while the other workers sat idle. Handing them out first (the
longest-processing-time rule) lets the short tests fill in around them. The Makefile passes
`--no-loadscope-reorder`, so this order is the schedule (xdist's own puts groups with more tests first).
"""

from __future__ import annotations

import pytest

# Units of one test, several minutes each.
LONGEST_GROUPS = frozenset({"integration", "contract", "upgrade"})


def schedule_weight(item: pytest.Item) -> int:
    """0: the longest groups; 1: tests marked slow; 2: the rest."""
    group = item.get_closest_marker("xdist_group")
    if group is not None and group.args and group.args[0] in LONGEST_GROUPS:
        return 0
    return 1 if item.get_closest_marker("slow") else 2


@pytest.hookimpl(trylast=True)  # after pytest-django's ordering and every marker is set; a stable sort keeps it
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    items.sort(key=schedule_weight)
