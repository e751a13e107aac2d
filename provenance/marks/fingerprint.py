"""Perceptual fingerprint of an exported image, and lookup by Hamming distance.

The hash is imagehash's DCT perceptual hash at hash_size 16: the image in grey at 64x64, its 2-D DCT, the
16x16 lowest frequencies compared with their median: 256 bits, the layout PDQ uses (imagehash is
BSD-2-Clause and pure Python; pdqhash ships only as a C++ source package that would need a compiler on every
install). Resizing, JPEG, re-encoding and brightness changes move it by a few bits; a crop or a rotation
moves it by about as much as an unrelated image does. So each exported image is registered with several
fingerprints (`fingerprints`): the whole picture and centred crops of it (CROP_SCALES). A copy whose borders
a platform or a user cropped away lands near the stored crop of about the same scale; the registry holds
every variant under the image's key and the lookup takes the nearest of them all.

MATCH_MAX_DISTANCE comes from bench/robustness.py (16 package sample photos and 2 tiny-model images; 236
strangers: the same photos mirrored or cropped otherwise, and 200 LFW faces): the same image after
resize, JPEG q50-q90, 1080-px re-encode, brightness +-20%, a screenshot rescale or a centred crop of 10-25%
was at most 12 bits from one of its stored fingerprints; the closest stranger, against every crop
fingerprint, was 80 bits away. 32 is PDQ's own recommended cut (31) rounded to a byte boundary: far from
both.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

import imagehash
import numpy as np
from PIL import Image

HASH_SIZE = 16
HASH_BITS = HASH_SIZE * HASH_SIZE
HASH_HEX_LENGTH = HASH_BITS // 4
MATCH_MAX_DISTANCE = 32
# Share of each side kept by the stored centred crops: the whole picture, then 2.5% steps down to 75%. The
# hash is sensitive to scale: a crop 2% off the nearest stored one moved a photo by 26 bits, 1.25% by <= 16.
CROP_SCALES = tuple(round(1 - 0.025 * i, 3) for i in range(11))

Key = TypeVar("Key")


@dataclass(frozen=True)
class FingerprintMatch(Generic[Key]):
    key: Key
    distance: int


def fingerprint(image: Image.Image) -> str:
    """The 256-bit perceptual hash as 64 hex characters."""
    return str(imagehash.phash(image.convert("RGB"), hash_size=HASH_SIZE))


def centre_crop(image: Image.Image, scale: float) -> Image.Image:
    """The centred part of `image` that keeps `scale` of its width and of its height."""
    if not 0 < scale <= 1:
        raise ValueError(f"A crop scale is in (0, 1], got {scale}.")
    if scale == 1:
        return image
    dx, dy = round(image.width * (1 - scale) / 2), round(image.height * (1 - scale) / 2)
    return image.crop((dx, dy, image.width - dx, image.height - dy))


def fingerprints(image: Image.Image) -> list[str]:
    """What the registry stores for an exported image: one fingerprint per CROP_SCALES entry, whole first."""
    rgb = image.convert("RGB")
    return [fingerprint(centre_crop(rgb, scale)) for scale in CROP_SCALES]


def _bits(hex_hash: str) -> np.ndarray:
    if len(hex_hash) != HASH_HEX_LENGTH:
        raise ValueError(f"A fingerprint is {HASH_HEX_LENGTH} hex characters, got {len(hex_hash)}.")
    return np.frombuffer(bytes.fromhex(hex_hash), dtype=np.uint8)


def hamming(a: str, b: str) -> int:
    """Bits that differ between two fingerprints (0..256)."""
    return int(np.unpackbits(_bits(a) ^ _bits(b)).sum())


def distances(query: str, candidates: Sequence[str]) -> np.ndarray:
    """Hamming distance from `query` to each candidate, vectorised (a 100k-image registry scans in ~50 ms)."""
    if not candidates:
        return np.zeros(0, dtype=np.int64)
    matrix = np.frombuffer(bytes.fromhex("".join(candidates)), dtype=np.uint8).reshape(len(candidates), -1)
    if matrix.shape[1] != HASH_BITS // 8:
        raise ValueError("Every candidate must be a full fingerprint.")
    return np.unpackbits(matrix ^ _bits(query), axis=1).sum(axis=1, dtype=np.int64)


def nearest(
    query: str, candidates: Iterable[tuple[Key, str]], *, max_distance: int = MATCH_MAX_DISTANCE
) -> FingerprintMatch[Key] | None:
    """The closest candidate (key, fingerprint) within `max_distance` bits, or None: "nothing found"."""
    pairs = list(candidates)
    if not pairs:
        return None
    found = distances(query, [fp for _key, fp in pairs])
    best = int(np.argmin(found))
    if found[best] > max_distance:
        return None
    return FingerprintMatch(key=pairs[best][0], distance=int(found[best]))
