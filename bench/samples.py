"""Real photographs that ship inside installed packages (no network): scikit-image's sample data and
matplotlib's grace_hopper.jpg. Used by bench/robustness.py and by the provenance tests.

The colour photos are people, animals, objects and scenes; the grey ones (converted to RGB) are camera
photos and textures. Strangers for false-match measurements: LFW faces (scikit-image's lfw_subset, 200
25x25 crops) and mirror images of the photos.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

COLOUR_PHOTOS = (
    "astronaut",
    "coffee",
    "chelsea",
    "rocket",
    "hubble_deep_field",
    "retina",
    "immunohistochemistry",
    "motorcycle",
    "grace_hopper",
)
GREY_PHOTOS = ("camera", "moon", "coins", "grass", "gravel", "brick", "cell")
QUICK_PHOTOS = ("astronaut", "grace_hopper", "coffee")


def _rgb(array: np.ndarray) -> Image.Image:
    array = np.asarray(array)
    if array.dtype != np.uint8:
        scale = 255.0 if array.max() <= 1.0 else 1.0
        array = np.clip(array * scale, 0, 255).astype(np.uint8)
    if array.ndim == 2:
        array = np.stack([array] * 3, axis=-1)
    return Image.fromarray(array[..., :3], "RGB")


def sample_photo(name: str) -> Image.Image:
    """One sample photo as RGB."""
    if name == "grace_hopper":
        from matplotlib import cbook

        with cbook.get_sample_data("grace_hopper.jpg") as fh, Image.open(fh) as image:
            return image.convert("RGB")
    from skimage import data

    if name == "motorcycle":
        return _rgb(data.stereo_motorcycle()[0])
    return _rgb(getattr(data, name)())


def sample_photos(names: tuple[str, ...] = COLOUR_PHOTOS + GREY_PHOTOS) -> dict[str, Image.Image]:
    return {name: sample_photo(name) for name in names}


def stranger_photos(count: int = 200) -> list[Image.Image]:
    """Photos of other people: scikit-image's LFW subset (faces, then non-face crops), up to `count`."""
    from skimage import data

    faces = data.lfw_subset()
    return [_rgb(face) for face in faces[:count]]
