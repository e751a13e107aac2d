"""Query-string filters more than one app's API needs."""

from __future__ import annotations

import django_filters

from core.constants import MAX_DB_ID


class IdFilter(django_filters.NumberFilter):
    """A database id in the query string: a whole number 1..MAX_DB_ID.

    Anything else is a 400 naming the parameter, never a driver overflow (a 500) or a float id.
    """

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", MAX_DB_ID)
        kwargs.setdefault("decimal_places", 0)
        super().__init__(*args, **kwargs)
