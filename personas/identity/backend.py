"""The identity backend: one per process and spec (`dlib`, or `arcface:/path/model.onnx`), and the configured one
with its threshold (settings LIKENESS_*), for everything that judges faces."""

from __future__ import annotations

import functools

from django.conf import settings

from personas.identity.arcface import ARCFACE_DEFAULT_THRESHOLD, ArcFaceOnnxBackend
from personas.identity.backends import DlibBackend, IdentityBackend


def backend_from_spec(spec: str = "dlib", *, threshold: float | None = None) -> IdentityBackend:
    """`dlib` (the default), or `arcface:/path/model.onnx` with its cosine-distance `threshold`."""
    spec = (spec or "dlib").strip()
    if spec == "dlib":
        return DlibBackend()
    if spec.startswith("arcface:"):
        threshold = ARCFACE_DEFAULT_THRESHOLD if threshold is None else threshold
        return ArcFaceOnnxBackend(spec.removeprefix("arcface:"), threshold=threshold)
    raise RuntimeError(f"Unknown likeness backend '{spec}'; use 'dlib' or 'arcface:/path/model.onnx'.")


def backend_default_threshold(spec: str = "dlib") -> float:
    """The threshold a backend spec brings, without loading its models."""
    return ARCFACE_DEFAULT_THRESHOLD if (spec or "").startswith("arcface:") else DlibBackend.threshold


@functools.cache
def backend_get(spec: str = "dlib", threshold: float | None = None) -> IdentityBackend:
    """One backend per process and spec (loading the models takes about a second)."""
    return backend_from_spec(spec, threshold=threshold)


def likeness_backend() -> IdentityBackend:
    return backend_get(settings.LIKENESS_BACKEND, settings.LIKENESS_THRESHOLD)


def default_threshold() -> float:
    """The on-model threshold of personas without their own: LIKENESS_THRESHOLD, else the model's own."""
    threshold = settings.LIKENESS_THRESHOLD
    return float(threshold) if threshold is not None else backend_default_threshold(settings.LIKENESS_BACKEND)
