"""The ArcFace ONNX identity backend: an ArcFace-style recognition model at a local path replaces dlib's ResNet for
the embedding; dlib still detects and aligns. Chosen with LIKENESS_BACKEND=arcface:/path/model.onnx."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from personas.identity.backends import Detection, DlibBackend

ARCFACE_DEFAULT_THRESHOLD = 0.6  # cosine distance; measure your ArcFace model's own

ARCFACE_INPUT = (3, 112, 112)  # one aligned RGB face, channels first


def _shape(dims: Sequence) -> str:
    """1x3x112x112; a dynamic dimension (a name or None in ONNX) shows as N."""
    return "x".join(str(d) if isinstance(d, int) else "N" for d in dims)


def _is_batch(dim) -> bool:
    return not isinstance(dim, int) or dim == 1


class ArcFaceOnnxBackend(DlibBackend):
    """An ArcFace-style ONNX recognition model at a local path (input 1x3x112x112 RGB scaled to [-1, 1], output one
    embedding); dlib still detects and aligns. Cosine distance; `threshold` is a cosine distance (1 - similarity)
    and depends on the model: measure it on your own same / different person pairs."""

    name = "arcface-onnx"
    default_threshold = ARCFACE_DEFAULT_THRESHOLD
    chip_size = ARCFACE_INPUT[-1]
    chip_padding = 0.0

    def __init__(
        self, model_path: str | Path, *, threshold: float = default_threshold, models_dir: str | Path | None = None
    ):
        self.model_path = Path(model_path)
        if not self.model_path.is_file():
            raise RuntimeError(f"The ArcFace model {self.model_path} does not exist.")
        self.threshold = float(threshold)
        self.score_scale = 2 * self.threshold
        super().__init__(models_dir)

    def _load_recognition(self, folder: Path):
        import onnxruntime

        try:
            session = onnxruntime.InferenceSession(str(self.model_path), providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime's own exception types (not RuntimeError subclasses)
            raise RuntimeError(f"The ArcFace model {self.model_path} is not a readable ONNX model: {exc}") from exc
        inputs, outputs = session.get_inputs(), session.get_outputs()
        dims = list(inputs[0].shape) if len(inputs) == 1 else []
        if len(dims) != 4 or not _is_batch(dims[0]) or tuple(dims[1:]) != ARCFACE_INPUT:
            given = ", ".join(_shape(i.shape) for i in inputs)
            raise RuntimeError(
                f"The ArcFace model {self.model_path} takes {given}; an ArcFace recognition model takes one "
                f"1x{_shape(ARCFACE_INPUT)} input (an aligned RGB face)."
            )
        out = list(outputs[0].shape)
        if len(out) != 2 or not _is_batch(out[0]):
            raise RuntimeError(
                f"The ArcFace model {self.model_path} gives {_shape(out)}; an ArcFace recognition model gives one "
                "embedding vector per face (1xD)."
            )
        self._input_name = inputs[0].name
        return session

    def embed(self, rgb: np.ndarray, detection: Detection) -> np.ndarray:
        chip = self._chip(rgb, detection, size=self.chip_size, padding=self.chip_padding).astype(np.float32)
        batch = ((chip - 127.5) / 127.5).transpose(2, 0, 1)[None]
        with self._lock:
            (output, *_) = self._recognition.run(None, {self._input_name: batch})
        vector = np.asarray(output, dtype=np.float64).reshape(-1)
        norm = np.linalg.norm(vector)
        return vector / norm if norm else vector

    def distance(self, a: Sequence[float], b: Sequence[float]) -> float:
        a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
        denominator = np.linalg.norm(a) * np.linalg.norm(b)
        return float(1.0 - np.dot(a, b) / denominator) if denominator else 2.0

    def centroid(self, vectors: Sequence[Sequence[float]]) -> np.ndarray:
        mean = super().centroid(vectors)
        norm = np.linalg.norm(mean)
        return mean / norm if norm else mean
