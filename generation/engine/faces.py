"""Face boxes for the face detail pass, from the identity module's detector (personas.identity.faces: dlib's HOG frontal
face detector behind the configured likeness backend), so the pass and the likeness checks see the same faces."""

from __future__ import annotations

import numpy as np
from PIL import Image

from personas.identity.backend import likeness_backend
from personas.identity.faces import CONFIDENT_SCORE

# Faces smaller than this (pixels on a side) are left alone: too few pixels to re-render into anything useful.
MIN_FACE_SIDE = 24
DETECTOR_NAME = "dlib-hog"


def face_boxes(image: Image.Image, *, upsample: int = 1) -> list[tuple[int, int, int, int]]:
    """(left, top, right, bottom) of each confidently detected face, largest first, clipped to the image."""
    rgb = np.ascontiguousarray(np.asarray(image.convert("RGB"), dtype=np.uint8))
    width, height = image.size
    boxes = []
    for detection in likeness_backend().detect(rgb, upsample=upsample):
        if detection.score < CONFIDENT_SCORE:
            continue
        left, top, right, bottom = detection.box
        box = (max(0, left), max(0, top), min(width, right), min(height, bottom))
        if min(box[2] - box[0], box[3] - box[1]) >= MIN_FACE_SIDE:
            boxes.append(box)
    return sorted(boxes, key=lambda b: (b[2] - b[0]) * (b[3] - b[1]), reverse=True)
