"""The configured identity backend and threshold (settings LIKENESS_*), for everything that judges faces."""

from __future__ import annotations

from django.conf import settings

from personas.identity import faces as identity


def likeness_backend() -> identity.IdentityBackend:
    return identity.backend_get(settings.LIKENESS_BACKEND, settings.LIKENESS_THRESHOLD)


def default_threshold() -> float:
    """The on-model threshold of personas without their own: LIKENESS_THRESHOLD, else the model's own."""
    threshold = settings.LIKENESS_THRESHOLD
    return float(threshold) if threshold is not None else identity.backend_default_threshold(settings.LIKENESS_BACKEND)
