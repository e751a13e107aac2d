"""What the generation benches share: Django set up for a script, and timing that waits for the GPU."""

from __future__ import annotations

import os
import statistics
import time
import warnings


def setup_django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("DJANGO_SECRET_KEY", "bench-only-secret-key")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import django

    django.setup()
    # Library chatter (progress bars, fp32-cast notes, "no text-encoder LoRA keys") would bury the table.
    import diffusers
    import transformers

    diffusers.utils.logging.set_verbosity_error()
    diffusers.utils.logging.disable_progress_bar()
    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    warnings.filterwarnings("ignore", category=UserWarning)
    warnings.filterwarnings("ignore", category=FutureWarning)


def sync(device) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn, device, *, repeats: int) -> tuple[float, float]:
    """(first call seconds, median of `repeats` later calls in seconds)."""
    sync(device)
    start = time.perf_counter()
    fn()
    sync(device)
    first = time.perf_counter() - start
    runs = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        sync(device)
        runs.append(time.perf_counter() - start)
    return first, statistics.median(runs)
