"""The perceptual fingerprint: stable under what platforms do, far apart for different photos."""

from __future__ import annotations

import io
import itertools

import imagehash
import pytest
from PIL import Image, ImageEnhance, ImageOps

from bench.samples import sample_photo, stranger_photos
from provenance.marks.fingerprint import (
    CROP_SCALES,
    HASH_HEX_LENGTH,
    MATCH_MAX_DISTANCE,
    centre_crop,
    distances,
    fingerprint,
    fingerprints,
    hamming,
    nearest,
)

NAMES = ("astronaut", "grace_hopper", "coffee", "chelsea", "rocket")


def jpeg(image: Image.Image, quality: int) -> Image.Image:
    buf = io.BytesIO()
    image.save(buf, "JPEG", quality=quality)
    return Image.open(io.BytesIO(buf.getvalue())).convert("RGB")


@pytest.fixture(scope="module")
def photos() -> dict[str, Image.Image]:
    return {name: ImageOps.fit(sample_photo(name), (1080, 1350)) for name in NAMES}


@pytest.fixture(scope="module")
def registry(photos) -> list[tuple[str, str]]:
    return [(name, fingerprint(image)) for name, image in photos.items()]


def test_fingerprint_is_the_256_bit_dct_hash(photos):
    image = photos["astronaut"]
    fp = fingerprint(image)
    assert len(fp) == HASH_HEX_LENGTH == 64
    assert fp == str(imagehash.phash(image, hash_size=16))
    assert hamming(fp, fp) == 0
    assert hamming("0" * 64, "f" * 64) == 256


@pytest.mark.parametrize(
    "attack",
    [
        pytest.param(lambda im: im.resize((540, 675), Image.Resampling.LANCZOS), id="resize50"),
        pytest.param(lambda im: jpeg(im, 50), id="jpeg50"),
        pytest.param(lambda im: jpeg(im.resize((864, 1080), Image.Resampling.LANCZOS), 85), id="reencode"),
        pytest.param(lambda im: ImageEnhance.Brightness(im).enhance(1.2), id="brighter"),
    ],
)
def test_platform_changes_still_match_the_right_image(photos, registry, attack):
    for name, image in photos.items():
        match = nearest(fingerprint(attack(image)), registry)
        assert match is not None and match.key == name
        assert match.distance <= MATCH_MAX_DISTANCE // 2


def test_different_photos_are_nothing_found(photos, registry):
    for (a, fa), (b, fb) in itertools.combinations(registry, 2):
        assert hamming(fa, fb) > 3 * MATCH_MAX_DISTANCE, (a, b)
    strangers = [ImageOps.fit(face, (1080, 1350)) for face in stranger_photos(40)]
    strangers += [ImageOps.mirror(image) for image in photos.values()]
    for stranger in strangers:
        assert nearest(fingerprint(stranger), registry) is None


def test_distances_are_vectorised_and_checked(registry):
    query = registry[0][1]
    found = distances(query, [fp for _name, fp in registry])
    assert found.tolist() == [hamming(query, fp) for _name, fp in registry]
    assert distances(query, []).size == 0
    assert nearest(query, []) is None
    with pytest.raises(ValueError):
        hamming(query, "abc")


@pytest.fixture(scope="module")
def crop_registry(photos) -> list[tuple[str, str]]:
    return [(name, variant) for name, image in photos.items() for variant in fingerprints(image)]


def test_fingerprints_are_the_whole_picture_then_centred_crops(photos):
    image = photos["astronaut"]
    stored = fingerprints(image)
    assert len(stored) == len(CROP_SCALES) and CROP_SCALES[0] == 1.0 and min(CROP_SCALES) == 0.75
    assert stored[0] == fingerprint(image)
    assert stored[2] == fingerprint(image.crop((27, 34, 1053, 1316)))  # 95% of each side, centred
    assert centre_crop(image, 0.9).size == (972, 1216)
    with pytest.raises(ValueError):
        centre_crop(image, 0)


@pytest.mark.parametrize("share", [0.05, 0.1, 0.13, 0.2, 0.25])
def test_cropped_copies_match_their_own_image(photos, crop_registry, share):
    for name, image in photos.items():
        cropped = centre_crop(image, 1 - share)
        for copy in (cropped, jpeg(cropped.resize((cropped.width // 2, cropped.height // 2)), 70)):
            match = nearest(fingerprint(copy), crop_registry)
            assert match is not None and match.key == name, (name, share)


def test_crop_variants_keep_strangers_far(photos, crop_registry):
    strangers = [ImageOps.fit(face, (1080, 1350)) for face in stranger_photos(60)]
    strangers += [ImageOps.mirror(image) for image in photos.values()]
    closest = min(int(distances(fingerprint(s), [fp for _n, fp in crop_registry]).min()) for s in strangers)
    assert closest > 2 * MATCH_MAX_DISTANCE
