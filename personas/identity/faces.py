"""Face identity: find the largest face in a picture, align it and turn it into an embedding; compare embeddings.

Pure (no Django models, no database): the persona reference QA, the per-image likeness of generated images, the
LoRA version report and `manage.py likeness` all go through `face_analyse`, `profile_build` and `likeness`.

The built-in backend is dlib (`dlib-bin`) with the model files of `face-recognition-models`: the HOG frontal face
detector, the 5-point shape predictor (alignment) and the ResNet face-recognition model (128-d; two photos of
one person sit closer than 0.6 in Euclidean distance). All three were released into the public domain by their
author. The 68-point shape predictor in the same package (trained on iBUG 300-W, non-commercial) is never
loaded. An ArcFace ONNX model at a local path can replace the recognition step (personas.identity.arcface).
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from personas.identity.backend import backend_get
from personas.identity.backends import IdentityBackend

# Working size: detection and alignment run on a copy whose long side is at most this (huge photos are scaled
# down first; JPEGs are decoded at a reduced scale directly). Small pictures are upsampled inside the detector.
WORKING_MAX_SIDE = 1024
UPSAMPLE_BELOW_SIDE = 800  # a long side up to this is searched at 2x too: HOG alone misses faces under ~80 px
EXIF_ORIENTATION = 0x0112
MAX_PIXELS = 120_000_000  # beyond this a file is refused before decoding (decompression bombs)
# HOG detections score about 1-2 on a clear face; weak ones (< this) are patterns that merely look face-like.
# A weak one counts only when nothing stronger is found, and never as a second face.
CONFIDENT_SCORE = 0.3
MIN_FACE_PX = 40  # below this (in the picture's own pixels) an embedding is unreliable
SECOND_FACE_RATIO = 0.35  # another face at least this fraction of the largest's side makes "several faces"


class FaceStatus(StrEnum):
    OK = "ok"
    SEVERAL_FACES = "several_faces"  # the largest is embedded; the caller decides whether that is acceptable
    FACE_TOO_SMALL = "face_too_small"
    NO_FACE = "no_face"
    UNREADABLE = "unreadable"


@dataclass(frozen=True)
class FaceAnalysis:
    """What one picture holds. `embedding` is set when a face large enough to judge was found."""

    status: FaceStatus
    reason: str
    face_count: int = 0
    box: tuple[int, int, int, int] | None = None  # left, top, right, bottom in the picture's own pixels
    face_px: int = 0  # side of the largest face's box, in the picture's own pixels
    embedding: tuple[float, ...] | None = None
    width: int = 0
    height: int = 0

    @property
    def face_found(self) -> bool:
        return self.status in (FaceStatus.OK, FaceStatus.SEVERAL_FACES, FaceStatus.FACE_TOO_SMALL)

    def as_dict(self) -> dict:
        return {
            "status": str(self.status), "reason": self.reason, "face_count": self.face_count,
            "box": list(self.box) if self.box else None, "face_px": self.face_px,
            "width": self.width, "height": self.height,
        }


@dataclass(frozen=True)
class Likeness:
    """One picture against a persona's reference profile. `score` in 0..1 (1 = identical embedding; 0.5 exactly at
    the model's threshold), `distance` the raw embedding distance; both None when no face could be judged."""

    status: FaceStatus
    reason: str
    face_found: bool
    distance: float | None
    score: float | None
    on_model: bool | None
    threshold: float

    def as_dict(self) -> dict:
        return {
            "status": str(self.status), "reason": self.reason, "face": self.face_found,
            "distance": None if self.distance is None else round(self.distance, 4),
            "score": None if self.score is None else round(self.score, 4),
            "on_model": self.on_model, "threshold": self.threshold,
        }


@dataclass(frozen=True)
class Profile:
    """A persona's reference faces: the centroid of the ones that agree, and which ones do not."""

    centroid: tuple[float, ...] | None
    inliers: tuple[int, ...] = ()
    outliers: tuple[int, ...] = ()
    distances: dict[int, float] = field(default_factory=dict)  # index -> distance to the centroid


# --- pictures --------------------------------------------------------------------------------------


def _open(source: Image.Image | bytes | str | Path | np.ndarray) -> Image.Image:
    if isinstance(source, Image.Image):
        return source
    if isinstance(source, np.ndarray):
        return Image.fromarray(source)
    data = source if isinstance(source, bytes) else Path(source).read_bytes()
    return Image.open(io.BytesIO(data))


def _to_rgb(img: Image.Image) -> Image.Image:
    """Any mode as 8-bit RGB: greyscale and CMYK converted, transparency flattened on white, 16-bit scaled."""
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        img = img.convert("I").point(lambda value: value * (1 / 256)).convert("L")
    elif img.mode == "F":
        img = img.convert("L")
    if img.mode == "P":
        img = img.convert("RGBA")
    if img.mode in ("RGBA", "LA", "RGBa", "La", "PA"):
        rgba = img.convert("RGBA")
        flat = Image.new("RGB", rgba.size, (255, 255, 255))
        flat.paste(rgba, mask=rgba.getchannel("A"))
        return flat
    return img.convert("RGB") if img.mode != "RGB" else img


def working_image(source: Image.Image | bytes | str | Path | np.ndarray) -> tuple[np.ndarray, float, int, int]:
    """(RGB uint8 array of at most WORKING_MAX_SIDE, scale from the picture to it, picture width, height)."""
    img = _open(source)
    width, height = img.size
    if width * height > MAX_PIXELS:
        raise ValueError(f"the image is {width}x{height} pixels; at most {MAX_PIXELS:,} are analysed")
    if img.format == "JPEG" and max(width, height) > 2 * WORKING_MAX_SIDE:
        img.draft("RGB", (WORKING_MAX_SIDE, WORKING_MAX_SIDE))  # decode at 1/2, 1/4 or 1/8 scale
    try:
        if img.getexif().get(EXIF_ORIENTATION, 1) in (5, 6, 7, 8):  # rotated a quarter turn
            width, height = height, width
        img = ImageOps.exif_transpose(img)
    except Exception:  # noqa: S110 - a malformed EXIF block leaves the pixels as stored
        pass
    img = _to_rgb(img)
    if max(img.size) > WORKING_MAX_SIDE:
        img = img.copy()
        img.thumbnail((WORKING_MAX_SIDE, WORKING_MAX_SIDE), Image.Resampling.LANCZOS)
    scale = img.size[0] / width if width else 1.0
    return np.ascontiguousarray(np.asarray(img, dtype=np.uint8)), scale, width, height


# --- analysis --------------------------------------------------------------------------------------


def face_analyse(
    source: Image.Image | bytes | str | Path | np.ndarray,
    *,
    backend: IdentityBackend | None = None,
    min_face_px: int = MIN_FACE_PX,
) -> FaceAnalysis:
    """Find the largest face, align and embed it. Never raises for a bad picture: it gets a status and a reason."""
    backend = backend or backend_get()
    try:
        rgb, scale, width, height = working_image(source)
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        return FaceAnalysis(status=FaceStatus.UNREADABLE, reason=f"the picture cannot be read ({exc})")
    upsample = 1 if max(rgb.shape[:2]) <= UPSAMPLE_BELOW_SIDE else 0
    detections = backend.detect(rgb, upsample=upsample)
    confident = [d for d in detections if d.score >= CONFIDENT_SCORE]
    candidates = confident or sorted(detections, key=lambda d: d.score, reverse=True)[:1]
    if not candidates:
        return FaceAnalysis(status=FaceStatus.NO_FACE, reason="no face was found", width=width, height=height)
    largest = max(candidates, key=lambda d: (d.side, d.score))
    others = [d for d in confident if d is not largest and d.side >= SECOND_FACE_RATIO * largest.side]
    box = tuple(int(round(v / scale)) for v in largest.box)
    face_px = int(round(largest.side / scale))
    common = {"face_count": 1 + len(others), "box": box, "face_px": face_px, "width": width, "height": height}
    if face_px < min_face_px:
        return FaceAnalysis(
            status=FaceStatus.FACE_TOO_SMALL,
            reason=f"the face is {face_px} px across; at least {min_face_px} px are needed to judge it",
            **common,
        )
    embedding = tuple(float(v) for v in backend.embed(rgb, largest))
    if others:
        return FaceAnalysis(
            status=FaceStatus.SEVERAL_FACES, embedding=embedding,
            reason=f"{1 + len(others)} faces were found; the largest was used", **common,
        )
    return FaceAnalysis(status=FaceStatus.OK, reason="one face found", embedding=embedding, **common)


def profile_build(
    embeddings: Sequence[Sequence[float] | None],
    *,
    backend: IdentityBackend | None = None,
    threshold: float | None = None,
) -> Profile:
    """The centroid of the reference faces that agree, and the outliers (a different person mixed in).

    The medoid (the face with the smallest median distance to the others) anchors the profile: faces farther than
    `threshold` from it are outliers, the centroid is the mean of the rest, and a face farther than `threshold`
    from that centroid is an outlier too. With two faces that disagree there is no telling which is the persona:
    both are outliers. None entries (no usable face) are skipped; indices refer to the input list.
    """
    backend = backend or backend_get()
    threshold = backend.threshold if threshold is None else threshold
    present = [i for i, e in enumerate(embeddings) if e is not None]
    if not present:
        return Profile(centroid=None)
    vectors = {i: np.asarray(embeddings[i], dtype=np.float64) for i in present}
    if len(present) == 1:
        centroid = vectors[present[0]]
        return Profile(centroid=tuple(centroid), inliers=(present[0],), distances={present[0]: 0.0})
    pair = {(i, j): backend.distance(vectors[i], vectors[j]) for i in present for j in present if i < j}

    def d(i: int, j: int) -> float:
        return 0.0 if i == j else pair[(min(i, j), max(i, j))]

    if len(present) == 2:
        i, j = present
        centroid = backend.centroid([vectors[i], vectors[j]])
        distances = {k: backend.distance(vectors[k], centroid) for k in present}
        if d(i, j) > threshold:
            return Profile(centroid=None, outliers=(i, j), distances=distances)
        return Profile(centroid=tuple(centroid), inliers=(i, j), distances=distances)
    medoid = min(present, key=lambda i: (float(np.median([d(i, j) for j in present if j != i])), i))
    near = [i for i in present if d(i, medoid) <= threshold]
    centroid = backend.centroid([vectors[i] for i in near])
    distances = {i: backend.distance(vectors[i], centroid) for i in present}
    inliers = tuple(i for i in present if distances[i] <= threshold and i in near)
    outliers = tuple(i for i in present if i not in inliers)
    if len(inliers) < 2:  # no two faces agree: no profile
        return Profile(centroid=None, outliers=tuple(present), distances=distances)
    if len(inliers) != len(near):
        centroid = backend.centroid([vectors[i] for i in inliers])
        distances = {i: backend.distance(vectors[i], centroid) for i in present}
    return Profile(centroid=tuple(float(v) for v in centroid), inliers=inliers, outliers=outliers, distances=distances)


def likeness(
    analysis: FaceAnalysis,
    centroid: Sequence[float] | None,
    *,
    backend: IdentityBackend | None = None,
    threshold: float | None = None,
) -> Likeness:
    """Score one analysed picture against a profile centroid. A picture without a judgeable face is reported as
    such (face_found, status, reason), never as a likeness of zero."""
    backend = backend or backend_get()
    threshold = backend.threshold if threshold is None else float(threshold)
    if analysis.embedding is None:
        return Likeness(status=analysis.status, reason=analysis.reason, face_found=analysis.face_found,
                        distance=None, score=None, on_model=None, threshold=threshold)
    if centroid is None:
        return Likeness(status=analysis.status, reason="the persona has no usable reference face to compare with",
                        face_found=True, distance=None, score=None, on_model=None, threshold=threshold)
    distance = backend.distance(analysis.embedding, centroid)
    on_model = distance <= threshold
    verdict = "on-model" if on_model else "off-model"
    reason = f"{verdict}: distance {distance:.2f} to the persona's references (threshold {threshold:.2f})"
    if analysis.status == FaceStatus.SEVERAL_FACES:
        reason += f"; {analysis.reason}"
    score = backend.score(distance)
    return Likeness(status=analysis.status, reason=reason, face_found=True, distance=distance,
                    score=score if math.isfinite(score) else 0.0, on_model=on_model, threshold=threshold)


# --- reference QA ------------------------------------------------------------------------------------


class ReferenceFinding(StrEnum):
    """What reference QA says about one reference photo. Only USABLE ones shape the persona's profile."""

    USABLE = "usable"
    NO_FACE = "no_face"
    SEVERAL_FACES = "several_faces"
    FACE_TOO_SMALL = "face_too_small"
    OUTLIER = "outlier"
    UNREADABLE = "unreadable"


@dataclass(frozen=True)
class ReferenceCheck:
    finding: ReferenceFinding
    reason: str
    distance: float | None = None  # to the profile's centroid


@dataclass(frozen=True)
class ReferencesAssessment:
    profile: Profile
    checks: tuple[ReferenceCheck, ...]

    @property
    def usable(self) -> int:
        return sum(1 for check in self.checks if check.finding == ReferenceFinding.USABLE)


def references_assess(
    analyses: Sequence[FaceAnalysis], *, backend: IdentityBackend | None = None, threshold: float | None = None
) -> ReferencesAssessment:
    """Reference QA: each photo needs exactly one face, large enough, of the same person as the others.

    A photo with several faces is not used (which one is the persona?); the outlier test (profile_build) catches a
    different person mixed in, the commonest cause of a LoRA that does not look like anyone.
    """
    backend = backend or backend_get()
    threshold = backend.threshold if threshold is None else threshold
    candidates = [a.embedding if a.status == FaceStatus.OK else None for a in analyses]
    profile = profile_build(candidates, backend=backend, threshold=threshold)
    checks = []
    for index, analysis in enumerate(analyses):
        distance = profile.distances.get(index)
        if analysis.status == FaceStatus.OK and index in profile.outliers:
            if profile.centroid is None and len(profile.outliers) == 2:
                reason = "the two usable photos look like different people: add more photos of the persona"
            elif profile.centroid is None:
                reason = "no two photos look like the same person: add more photos of the persona"
            else:
                reason = (f"looks like a different person from the other references (distance {distance:.2f} to "
                          f"their centroid; threshold {threshold:.2f})")
            checks.append(ReferenceCheck(ReferenceFinding.OUTLIER, reason, distance))
        elif analysis.status == FaceStatus.OK:
            checks.append(ReferenceCheck(ReferenceFinding.USABLE, "one face, consistent with the others", distance))
        elif analysis.status == FaceStatus.SEVERAL_FACES:
            checks.append(ReferenceCheck(
                ReferenceFinding.SEVERAL_FACES,
                f"{analysis.face_count} faces are in the photo; crop it to the persona's face",
            ))
        else:
            checks.append(ReferenceCheck(ReferenceFinding(str(analysis.status)), analysis.reason))
    return ReferencesAssessment(profile=profile, checks=tuple(checks))
