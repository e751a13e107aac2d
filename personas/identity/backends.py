"""Identity backends: what detects, aligns and embeds a face (dlib's HOG detector and ResNet by default, or an
ArcFace ONNX model)."""

from __future__ import annotations

import importlib.util
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class Detection:
    box: tuple[int, int, int, int]  # in working-image pixels
    score: float

    @property
    def side(self) -> int:
        return max(1, min(self.box[2] - self.box[0], self.box[3] - self.box[1]))


def dlib_models_dir() -> Path:
    """The installed `face_recognition_models` package's model folder (the package itself is not imported: its
    __init__ needs pkg_resources)."""
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(
            "The face models are not installed: pip install face-recognition-models (see the README's set-up)."
        )
    return Path(next(iter(spec.submodule_search_locations))) / "models"


class IdentityBackend:
    """Detection + alignment + embedding. Subclasses set `name`, `threshold` and implement `embed`."""

    name = "base"
    threshold = 0.6  # distance at or below which two faces are the same person
    # Scores map distance d to 1 - d / (2 * threshold): the model's own threshold is a score of 0.5.
    score_scale: float | None = None

    def detect(self, rgb: np.ndarray, *, upsample: int) -> list[Detection]:
        raise NotImplementedError

    def embed(self, rgb: np.ndarray, detection: Detection) -> np.ndarray:
        raise NotImplementedError

    def distance(self, a: Sequence[float], b: Sequence[float]) -> float:
        return float(np.linalg.norm(np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)))

    def centroid(self, vectors: Sequence[Sequence[float]]) -> np.ndarray:
        return np.mean(np.asarray(vectors, dtype=np.float64), axis=0)

    def score(self, distance: float) -> float:
        scale = self.score_scale or 2 * self.threshold
        return float(min(1.0, max(0.0, 1.0 - distance / scale)))


class DlibBackend(IdentityBackend):
    """HOG detector, 5-point alignment, dlib's ResNet (128-d, Euclidean distance, threshold 0.6)."""

    name = "dlib-resnet-v1"
    threshold = 0.6
    chip_size = 150
    chip_padding = 0.25

    def __init__(self, models_dir: str | Path | None = None):
        import dlib

        folder = Path(models_dir) if models_dir else dlib_models_dir()
        self._dlib = dlib
        self._detector = dlib.get_frontal_face_detector()
        self._shape = dlib.shape_predictor(str(folder / "shape_predictor_5_face_landmarks.dat"))
        self._recognition = self._load_recognition(folder)
        # dlib objects are not documented as thread-safe; Celery threads or a threaded dev server share one.
        self._lock = threading.Lock()

    def _load_recognition(self, folder: Path):
        return self._dlib.face_recognition_model_v1(str(folder / "dlib_face_recognition_resnet_model_v1.dat"))

    def detect(self, rgb: np.ndarray, *, upsample: int) -> list[Detection]:
        with self._lock:
            rects, scores, _ = self._detector.run(rgb, upsample, 0.0)
        return [
            Detection(box=(r.left(), r.top(), r.right(), r.bottom()), score=float(s))
            for r, s in zip(rects, scores, strict=True)
        ]

    def _chip(self, rgb: np.ndarray, detection: Detection, *, size: int, padding: float) -> np.ndarray:
        rect = self._dlib.rectangle(*detection.box)
        with self._lock:
            shape = self._shape(rgb, rect)
            return self._dlib.get_face_chip(rgb, shape, size=size, padding=padding)

    def embed(self, rgb: np.ndarray, detection: Detection) -> np.ndarray:
        chip = self._chip(rgb, detection, size=self.chip_size, padding=self.chip_padding)
        with self._lock:
            return np.asarray(self._recognition.compute_face_descriptor(chip), dtype=np.float64)
