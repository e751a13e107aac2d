"""Page fragments (a review card, a draft card) rendered once and kept in the cache under a digest of everything
they show.

A fragment's key is made of the values of every row it shows, as loaded for this request (fields, annotations
and the strings the page module prepared), the page's own values it uses (the viewer's rights, the page's URL)
and the source of its templates. An edit to any of them is a new key, so the edited fragment is rendered again at
once while the others come from the cache; nothing needs to be invalidated.

A fragment's forms carry the request's CSRF token, which is never cached: the fragment is rendered with a
placeholder holding a raw "<", which escaped content can never produce, and the token replaces it on the way out.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable, Iterable
from decimal import Decimal

from django.core.cache import cache
from django.http import HttpRequest
from django.middleware.csrf import get_token
from django.template.loader import get_template
from django.utils.safestring import SafeString, mark_safe

CSRF_PLACEHOLDER = mark_safe("<csrf-token-placeholder>")
FRAGMENT_TIMEOUT = 6 * 3600
_SCALARS = frozenset({str, SafeString, int, float, bool, type(None), dt.datetime, dt.date, dt.time, Decimal})


def _plain(value) -> bool:
    if type(value) in _SCALARS:
        return True
    if isinstance(value, list | tuple):
        return all(_plain(item) for item in value)
    if isinstance(value, dict):
        return all(type(key) is str and _plain(item) for key, item in value.items())
    return False


def row_values(obj) -> list:
    """The plain values an object holds (a model row's fields and annotations, and the strings set on it for the
    page), for a fragment's key; related objects are not followed."""
    if obj is None:
        return []
    return [(key, value) for key, value in vars(obj).items()
            if key[0] != "_" and key != "card_html" and (type(value) in _SCALARS or _plain(value))]


def templates_version(*names: str) -> str:
    """A digest of these templates' source: a changed template does not reuse fragments of the old one."""
    parts = []
    for name in names:
        template = get_template(name).template
        # Kept on the compiled template: the loader compiles a changed template anew.
        if not hasattr(template, "fragment_digest"):
            template.fragment_digest = digest(template.source)
        parts.append(template.fragment_digest)
    return digest(parts)


def digest(parts) -> str:
    return hashlib.blake2b(repr(parts).encode(), digest_size=16).hexdigest()


def render_fragments(
    request: HttpRequest, items: Iterable, *, template: str, name: str, context: dict, key_parts: Callable,
    includes: tuple[str, ...] = (), item_name: str = "post",
) -> list[SafeString]:
    """Each item rendered with `template` (the item as `item_name`, plus `context`), from the cache when its key
    (key_parts(item), `context` and the templates' source) is there, rendered and stored otherwise."""
    items = list(items)
    if not items:
        return []
    shared = digest([templates_version(template, *includes), sorted((k, repr(v)) for k, v in context.items())])
    keys = [f"fragment:{name}:{digest([shared, key_parts(item)])}" for item in items]
    found = cache.get_many(keys)
    compiled = get_template(template)
    rendered, missing = [], {}
    for key, item in zip(keys, items, strict=True):
        html = found.get(key)
        if html is None:
            html = compiled.render({**context, item_name: item, "csrf_token": CSRF_PLACEHOLDER})
            missing[key] = html
        rendered.append(html)
    if missing:
        cache.set_many(missing, FRAGMENT_TIMEOUT)
    token = get_token(request)  # letters and digits only
    # The template's own output (escaped when it was rendered), with the token in place of the placeholder.
    return [mark_safe(html.replace(CSRF_PLACEHOLDER, token)) for html in rendered]  # noqa: S308
