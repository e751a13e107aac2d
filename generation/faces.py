"""Face boxes for the face detail pass: dlib's HOG frontal face detector (dlib-bin, Boost licence), CPU only."""

from __future__ import annotations

import functools

import numpy as np
from PIL import Image

# Faces smaller than this (pixels on a side) are left alone: too few pixels to re-render into anything useful.
MIN_FACE_SIDE = 24


@functools.cache
def _detector():
    import dlib

    return dlib.get_frontal_face_detector()


def face_boxes(image: Image.Image, *, upsample: int = 1) -> list[tuple[int, int, int, int]]:
    """(left, top, right, bottom) of each frontal face, largest first, clipped to the image."""
    rgb = np.asarray(image.convert("RGB"))
    width, height = image.size
    boxes = []
    for rect in _detector()(rgb, upsample):
        box = (max(0, rect.left()), max(0, rect.top()), min(width, rect.right()), min(height, rect.bottom()))
        if min(box[2] - box[0], box[3] - box[1]) >= MIN_FACE_SIDE:
            boxes.append(box)
    return sorted(boxes, key=lambda b: (b[2] - b[0]) * (b[3] - b[1]), reverse=True)
