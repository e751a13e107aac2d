"""Prior preservation's class images, worker side: rendered once per base model (and prompt, resolution, count and
seeds) from the base model alone, stored through media storage and reused by every later training run on that
model, so only the first run pays the render.

One attempt renders a set at a time: the set's row is claimed under the base model's row lock (and the set's
unique key), and a second run that needs the same set meanwhile waits for it instead of rendering it again. A
claim whose attempt stops touching it for CLASS_RENDER_LEASE_S (its worker died) is taken over.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from django.core.files.base import ContentFile
from django.db import transaction
from django.utils import timezone
from PIL import Image

from core.errors import ValidationFailed
from generation.engine import specs
from generation.models import BaseModel, ClassImage, ClassImageSet, ClassImagesStatus, TrainingStage
from generation.training.class_image_selectors import class_set_key
from generation.transitions import error_text

logger = logging.getLogger(__name__)

# A rendering attempt touches its set after every pipeline call; one silent this long is taken to be dead.
CLASS_RENDER_LEASE_S = 900
CLASS_WAIT_POLL_S = 2.0
_sleep = time.sleep  # module-level so tests can drive the wait


@dataclass
class ClassImages:
    image_set: ClassImageSet
    images: list[Image.Image]
    rendered: bool  # by this attempt (False: the cached set was reused)
    render_seconds: float  # this attempt's (0 when reused)


# on_progress(stage, done, total): what the run does now, for its progress display.
ProgressCallback = Callable[[TrainingStage, int, int], None]


def _no_progress(stage: TrainingStage, done: int, total: int) -> None:
    pass


def _claim(key: dict) -> tuple[ClassImageSet, str | None]:
    """The set for `key`, and this attempt's claim token when it is now this attempt's to render (None: ready, or
    another live attempt renders it)."""
    token, now = uuid.uuid4().hex, timezone.now()
    with transaction.atomic():
        # The base model's row lock serialises claims on PostgreSQL; the unique key makes them safe on any database.
        BaseModel.objects.select_for_update().filter(pk=key["base_model"].pk).first()
        image_set, created = ClassImageSet.objects.select_for_update().get_or_create(
            **key, defaults={"claim": token, "touched_at": now, "status": ClassImagesStatus.RENDERING})
        if created:
            return image_set, token
        if image_set.status == ClassImagesStatus.READY:
            return image_set, None
        stale = now - image_set.touched_at > dt.timedelta(seconds=CLASS_RENDER_LEASE_S)
        if image_set.status == ClassImagesStatus.FAILED or stale:
            image_set.claim, image_set.touched_at = token, now
            image_set.status, image_set.error = ClassImagesStatus.RENDERING, ""
            image_set.save(update_fields=["claim", "touched_at", "status", "error"])
            return image_set, token
        return image_set, None


def _stored_images(image_set: ClassImageSet) -> list[Image.Image]:
    """The set's images, each checked against its recorded sha256."""
    rows = list(image_set.images.order_by("index"))
    if len(rows) != image_set.count:
        raise ValidationFailed(f"Class image set {image_set.pk} has {len(rows)} of its {image_set.count} images.")
    images = []
    for row in rows:
        with row.image.open("rb") as fh:
            data = fh.read()
        if hashlib.sha256(data).hexdigest() != row.sha256:
            raise ValidationFailed(f"Class image {row.index} of set {image_set.pk} does not match its sha256.")
        with Image.open(ContentFile(data)) as img:
            images.append(img.convert("RGB"))
    return images


def _fail(image_set_id: int, token: str, error: str) -> None:
    ClassImageSet.objects.filter(pk=image_set_id, claim=token).update(status=ClassImagesStatus.FAILED, error=error,
                                                                      claim="")


def class_images_ensure(*, base_model: BaseModel | None, engine, resolution: int, should_stop: Callable[[], bool],
                        on_progress: ProgressCallback = _no_progress) -> ClassImages:
    """The base model's class images for a training run at `resolution`: the cached set, or rendered now (once)
    and stored. `should_stop()` is asked between pipeline calls and while waiting for another attempt's render;
    True raises EngineCancelled. `on_progress` hears once when the wait for another attempt's render begins and
    before each of this attempt's pipeline calls (images rendered so far, of the set's count)."""
    if base_model is None:
        raise ValidationFailed("Prior preservation needs the version's base model from the library.")
    key = class_set_key(base_model=base_model, resolution=resolution)
    waiting = False
    while True:
        image_set, token = _claim(key)
        if image_set.status == ClassImagesStatus.READY:
            try:
                return ClassImages(image_set, _stored_images(image_set), rendered=False, render_seconds=0.0)
            except Exception as exc:  # a missing or changed file: the set is rendered again
                logger.warning("Class image set %s is unusable (%s); rendering it again", image_set.pk, exc)
                ClassImageSet.objects.filter(pk=image_set.pk, status=ClassImagesStatus.READY).update(
                    status=ClassImagesStatus.FAILED, error=error_text(exc))
                continue
        if token is not None:
            return _render(image_set, token=token, engine=engine, should_stop=should_stop, on_progress=on_progress)
        if should_stop():
            raise specs.EngineCancelled("Training cancelled while waiting for the class images.")
        if not waiting:
            waiting = True
            on_progress(TrainingStage.WAITING_FOR_CLASS_IMAGES, 0, image_set.count)
        _sleep(CLASS_WAIT_POLL_S)  # another attempt renders this set now: wait for it rather than render it twice


def _render(image_set: ClassImageSet, *, token: str, engine, should_stop: Callable[[], bool],
            on_progress: ProgressCallback) -> ClassImages:
    from generation.training import trainer as training

    seeds = [image_set.seed + i for i in range(image_set.count)]
    chunk = max(1, int(getattr(engine, "max_batch", 1) or 1))
    started = time.monotonic()
    pictures: list[Image.Image] = []
    try:
        for offset in range(0, len(seeds), chunk):
            if should_stop():
                raise specs.EngineCancelled("Training cancelled while rendering the class images.")
            on_progress(TrainingStage.CLASS_IMAGES, offset, len(seeds))
            pictures += training.generate_class_images(engine, seeds=seeds[offset: offset + chunk],
                                                       resolution=image_set.resolution, steps=image_set.steps)
            ClassImageSet.objects.filter(pk=image_set.pk, claim=token).update(touched_at=timezone.now())
    except Exception as exc:
        _fail(image_set.pk, token, error_text(exc))
        raise
    seconds = time.monotonic() - started
    return _store(image_set, token=token, pictures=pictures, seconds=seconds, engine=engine)


def _store(image_set: ClassImageSet, *, token: str, pictures: list[Image.Image], seconds: float,
           engine) -> ClassImages:
    """Save the rendered set and mark it ready, atomically. An attempt whose claim was taken over meanwhile keeps
    its pictures for its own run and stores nothing (the other attempt stores the set)."""
    storage = ClassImage._meta.get_field("image").storage
    saved: list[str] = []
    old: list[str] = []
    try:
        with transaction.atomic():
            locked = ClassImageSet.objects.select_for_update().filter(pk=image_set.pk).first()
            if locked is None or locked.claim != token or locked.status != ClassImagesStatus.RENDERING:
                return ClassImages(locked or image_set, pictures, rendered=True, render_seconds=seconds)
            old = [row.image.name for row in locked.images.all()]  # a failed earlier attempt's
            locked.images.all().delete()
            for index, picture in enumerate(pictures):
                seed = locked.seed + index
                record = {"prompt": locked.class_prompt, "negative_prompt": "", "seed": seed, "steps": locked.steps,
                          "guidance": specs.CLASS_IMAGE_GUIDANCE, "scheduler": specs.CLASS_IMAGE_SCHEDULER,
                          "width": picture.width, "height": picture.height, "base_model": locked.base_model.name,
                          "base_model_hash": locked.base_model_sha256 or getattr(engine, "base_model_hash", "")}
                data = specs.png_bytes_with_parameters(picture, record=record)
                row = ClassImage(image_set=locked, index=index, seed=seed, sha256=hashlib.sha256(data).hexdigest())
                row.image.save(f"class-{index + 1}-seed{seed}.png", ContentFile(data), save=False)
                saved.append(row.image.name)
                row.save()
            locked.status, locked.error, locked.claim = ClassImagesStatus.READY, "", ""
            locked.render_seconds, locked.finished_at = round(seconds, 3), timezone.now()
            locked.save(update_fields=["status", "error", "claim", "render_seconds", "finished_at"])
    except Exception as exc:
        logger.exception("Storing class image set %s failed", image_set.pk)
        for name in saved:  # rolled-back rows leave files behind
            storage.delete(name)
        _fail(image_set.pk, token, error_text(exc))
        raise
    for name in old:
        storage.delete(name)
    return ClassImages(locked, pictures, rendered=True, render_seconds=seconds)
