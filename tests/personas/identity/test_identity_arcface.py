"""The ArcFace ONNX backend with a real ONNX model: a tiny random-weight one built here with onnx's helper API (one
1x3x112x112 input, one 1x512 output), chosen as an operator does (LIKENESS_BACKEND=arcface:/path). A random model
recognises nobody, so only what any model guarantees is asserted: the embedding's size, unit length, the same
embedding for the same picture (distance 0, on-model), a non-zero distance for another face. A model of the wrong
shape, or a file that is no model, is refused when it loads, saying why."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto, checker, helper, numpy_helper, save

from personas.identity import backend as configured
from personas.identity.arcface import ARCFACE_DEFAULT_THRESHOLD, ArcFaceOnnxBackend
from personas.identity.faces import FaceStatus, face_analyse, likeness, profile_build
from tests import faces

EMBEDDING = 512


def tiny_arcface(path, *, input_shape=(1, 3, 112, 112), output_rank=2, seed=0):
    """Conv (8x8, stride 8) -> flatten -> a random projection to EMBEDDING values: deterministic, and different
    faces give different embeddings. `output_rank` 4: it gives the feature map instead (not an embedding)."""
    rng = np.random.default_rng(seed)
    cells = 8 * (input_shape[-2] // 8) * (input_shape[-1] // 8)
    weights = [
        numpy_helper.from_array(rng.standard_normal((8, 3, 8, 8)).astype(np.float32), "conv_w"),
        numpy_helper.from_array(np.zeros(8, dtype=np.float32), "conv_b"),
        numpy_helper.from_array((rng.standard_normal((cells, EMBEDDING)) / cells**0.5).astype(np.float32), "proj"),
    ]
    nodes = [helper.make_node("Conv", ["input", "conv_w", "conv_b"], ["features"], kernel_shape=[8, 8],
                              strides=[8, 8])]
    if output_rank == 2:
        nodes += [helper.make_node("Flatten", ["features"], ["flat"], axis=1),
                  helper.make_node("MatMul", ["flat", "proj"], ["embedding"])]
        output = helper.make_tensor_value_info("embedding", TensorProto.FLOAT, ["batch", EMBEDDING])
    else:
        weights = weights[:2]
        output = helper.make_tensor_value_info("features", TensorProto.FLOAT,
                                               [1, 8, input_shape[-2] // 8, input_shape[-1] // 8])
    graph = helper.make_graph(
        nodes, "tiny-arcface", [helper.make_tensor_value_info("input", TensorProto.FLOAT, list(input_shape))],
        [output], initializer=weights)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8  # what every supported onnxruntime reads
    checker.check_model(model)
    save(model, str(path))
    return path


@pytest.fixture(scope="module")
def model_path(tmp_path_factory):
    return tiny_arcface(tmp_path_factory.mktemp("arcface") / "arcface.onnx")


@pytest.fixture
def backend(model_path, settings):
    settings.LIKENESS_BACKEND = f"arcface:{model_path}"
    settings.LIKENESS_THRESHOLD = None
    return configured.likeness_backend()


def test_the_configured_model_embeds_faces_as_unit_vectors_deterministically(backend, model_path):
    assert isinstance(backend, ArcFaceOnnxBackend) and backend.model_path == model_path
    assert configured.default_threshold() == backend.threshold == ARCFACE_DEFAULT_THRESHOLD
    first = face_analyse(faces.astronaut(), backend=backend)
    assert first.status == FaceStatus.OK and len(first.embedding) == EMBEDDING
    assert np.linalg.norm(first.embedding) == pytest.approx(1.0)
    again = face_analyse(faces.astronaut(), backend=backend)
    assert again.embedding == first.embedding and backend.distance(first.embedding, again.embedding) == pytest.approx(
        0.0, abs=1e-9)
    # A fresh backend on the same file gives the same embedding (nothing random at run time).
    assert face_analyse(faces.astronaut(), backend=ArcFaceOnnxBackend(model_path)).embedding == first.embedding
    other = face_analyse(faces.grace_hopper(), backend=backend)
    assert other.status == FaceStatus.OK and backend.distance(first.embedding, other.embedding) > 0.001


def test_the_same_picture_is_on_model_against_its_own_profile(backend):
    embedding = face_analyse(faces.astronaut(), backend=backend).embedding
    profile = profile_build([embedding, embedding], backend=backend)
    assert profile.inliers == (0, 1) and np.linalg.norm(profile.centroid) == pytest.approx(1.0)
    result = likeness(face_analyse(faces.astronaut(), backend=backend), profile.centroid, backend=backend)
    assert result.on_model and result.distance == pytest.approx(0.0, abs=1e-9) and result.score == pytest.approx(1.0)
    # No face: reported as such, never as a likeness of zero.
    blank = likeness(face_analyse(faces.noise(), backend=backend), profile.centroid, backend=backend)
    assert (blank.face_found, blank.score) == (False, None)


def test_a_model_of_the_wrong_shape_is_refused_when_it_loads(tmp_path):
    small = tiny_arcface(tmp_path / "small.onnx", input_shape=(1, 3, 64, 64))
    with pytest.raises(RuntimeError, match=r"small\.onnx takes 1x3x64x64; .* takes one 1x3x112x112 input"):
        configured.backend_from_spec(f"arcface:{small}")
    grey = tiny_arcface(tmp_path / "grey.onnx", input_shape=(1, 1, 112, 112))
    with pytest.raises(RuntimeError, match=r"takes 1x1x112x112"):
        configured.backend_from_spec(f"arcface:{grey}")
    features = tiny_arcface(tmp_path / "features.onnx", output_rank=4)
    with pytest.raises(RuntimeError, match=r"gives 1x8x14x14; an ArcFace recognition model gives one embedding"):
        configured.backend_from_spec(f"arcface:{features}")
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"not a model" * 10)
    with pytest.raises(RuntimeError, match=r"junk\.onnx is not a readable ONNX model"):
        configured.backend_from_spec(f"arcface:{junk}")


def test_a_batch_dimension_that_is_named_is_accepted(tmp_path):
    dynamic = tiny_arcface(tmp_path / "dynamic.onnx", input_shape=("batch", 3, 112, 112))
    backend = configured.backend_from_spec(f"arcface:{dynamic}", threshold=0.4)
    assert backend.threshold == 0.4
    assert len(face_analyse(faces.astronaut(), backend=backend).embedding) == EMBEDDING
