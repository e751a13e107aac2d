"""The identity module on real photographs of two different people (tests/faces.py): the same person stays on-model
through crop, flip, resize, JPEG and brightness changes, the other person is off-model, noise and the tiny model's
output hold no face, and no picture makes it crash."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from personas.identity import backend as configured
from personas.identity import faces as identity
from personas.identity.faces import FaceStatus, face_analyse, likeness, profile_build
from tests import faces


@pytest.fixture(scope="module")
def backend():
    return configured.backend_get()


@pytest.fixture(scope="module")
def astronaut_profile(backend):
    refs = [faces.astronaut(), faces.variants(faces.astronaut())["flip"], faces.variants(faces.astronaut())["crop"]]
    profile = profile_build([face_analyse(r, backend=backend).embedding for r in refs], backend=backend)
    assert profile.centroid is not None and not profile.outliers
    return profile


@pytest.mark.parametrize("name", ["crop", "flip", "resize", "jpeg", "brighter", "darker"])
def test_the_same_person_is_on_model_after_each_edit(backend, astronaut_profile, name):
    edited = faces.variants(faces.astronaut())[name]
    result = likeness(face_analyse(edited, backend=backend), astronaut_profile.centroid, backend=backend)
    assert result.face_found and result.on_model, result
    assert result.distance < 0.4 and result.score > 0.65


@pytest.mark.parametrize("name", [None, "flip", "jpeg", "darker"])
def test_the_other_person_is_off_model(backend, astronaut_profile, name):
    picture = faces.grace_hopper() if name is None else faces.variants(faces.grace_hopper())[name]
    result = likeness(face_analyse(picture, backend=backend), astronaut_profile.centroid, backend=backend)
    assert result.face_found and result.on_model is False, result
    assert result.distance > backend.threshold and result.score < 0.5
    assert "off-model" in result.reason


def test_grace_hopper_matches_herself(backend):
    refs = [faces.grace_hopper(), faces.variants(faces.grace_hopper())["flip"]]
    profile = profile_build([face_analyse(r, backend=backend).embedding for r in refs], backend=backend)
    edited = faces.variants(faces.grace_hopper())["brighter"]
    assert likeness(face_analyse(edited, backend=backend), profile.centroid, backend=backend).on_model


def test_noise_has_no_face_and_no_likeness(backend, astronaut_profile):
    for seed in range(3):
        analysis = face_analyse(faces.noise(seed=seed), backend=backend)
        assert analysis.status == FaceStatus.NO_FACE and analysis.embedding is None
        result = likeness(analysis, astronaut_profile.centroid, backend=backend)
        # Reported as "no face", never as a likeness of zero.
        assert result.face_found is False and result.score is None and result.distance is None
        assert result.on_model is None and result.reason == "no face was found"


@pytest.mark.slow
def test_the_tiny_models_output_has_no_face(backend):
    from generation.engine.pipelines import GenerationRequest, get_engine

    request = GenerationRequest(prompt="photo of sks person, portrait", negative_prompt="", seeds=[1], steps=4,
                                guidance=7.0, scheduler="dpmpp_2m_karras", width=256, height=256)
    for picture in get_engine().generate(request):
        assert face_analyse(picture, backend=backend).status == FaceStatus.NO_FACE


def test_several_faces_use_the_largest_and_say_so(backend):
    grace = faces.grace_hopper()
    both = faces.side_by_side(faces.astronaut(), grace.resize((grace.width * 7 // 10, grace.height * 7 // 10)))
    analysis = face_analyse(both, backend=backend)
    assert analysis.status == FaceStatus.SEVERAL_FACES and analysis.face_count == 2
    assert analysis.embedding is not None and "2 faces" in analysis.reason
    assert analysis.box[0] >= 512  # Grace Hopper's face, the larger one, on the right


def test_a_small_face_in_the_background_is_not_a_second_face(backend):
    both = faces.side_by_side(faces.grace_hopper(), faces.astronaut().resize((256, 256)))
    analysis = face_analyse(both, backend=backend)
    assert analysis.status == FaceStatus.OK and analysis.face_count == 1


def test_a_weak_face_like_pattern_is_not_a_second_face(backend):
    # HOG finds a weak (score ~0.1) "face" in the astronaut's suit at 2x; it must not count.
    analysis = face_analyse(faces.astronaut(), backend=backend)
    assert analysis.status == FaceStatus.OK and analysis.face_count == 1


def test_a_tiny_face_is_too_small_to_judge(backend):
    analysis = face_analyse(faces.small_face(faces.astronaut()), backend=backend, min_face_px=64)
    assert analysis.status == FaceStatus.FACE_TOO_SMALL and analysis.embedding is None
    assert analysis.face_found and "px across" in analysis.reason
    result = likeness(analysis, [0.0] * 128, backend=backend)
    assert result.face_found and result.score is None and result.on_model is None


@pytest.mark.parametrize("mode", ["L", "CMYK", "RGBA", "LA", "P", "I;16"])
def test_every_image_mode_is_read(backend, astronaut_profile, mode):
    img = faces.astronaut()
    if mode == "I;16":
        converted = Image.frombytes("I;16", img.size, (np.asarray(img.convert("L"), dtype="<u2") * 256).tobytes())
    else:
        converted = img.convert(mode)
    result = likeness(face_analyse(converted, backend=backend), astronaut_profile.centroid, backend=backend)
    assert result.face_found and result.on_model, (mode, result)


def test_a_cmyk_jpeg_file_and_a_transparent_png_are_read(backend, astronaut_profile):
    cmyk, rgba = faces.astronaut().convert("CMYK"), faces.astronaut().convert("RGBA")
    for data in (faces.jpeg_bytes(cmyk), faces.png_bytes(rgba)):
        result = likeness(face_analyse(data, backend=backend), astronaut_profile.centroid, backend=backend)
        assert result.on_model


def test_a_huge_image_is_scaled_down_and_still_judged(backend, astronaut_profile):
    huge = faces.astronaut().resize((4096, 4096), Image.Resampling.BICUBIC)
    analysis = face_analyse(faces.jpeg_bytes(huge), backend=backend)
    assert analysis.status == FaceStatus.OK and (analysis.width, analysis.height) == (4096, 4096)
    assert analysis.face_px > 500  # reported in the picture's own pixels
    assert likeness(analysis, astronaut_profile.centroid, backend=backend).on_model


def test_exif_rotation_is_applied(backend, astronaut_profile):
    rotated = faces.astronaut().rotate(90, expand=True)
    exif = Image.Exif()
    exif[identity.EXIF_ORIENTATION] = 6  # viewers turn it 90 degrees clockwise, undoing the rotation
    buf = io.BytesIO()
    rotated.save(buf, "JPEG", quality=92, exif=exif)
    analysis = face_analyse(buf.getvalue(), backend=backend)
    assert likeness(analysis, astronaut_profile.centroid, backend=backend).on_model


@pytest.mark.parametrize(
    "data", [b"", b"not an image", b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, b"\xff\xd8\xff" + b"x" * 50]
)
def test_unreadable_bytes_get_a_status_not_an_exception(backend, data):
    analysis = face_analyse(data, backend=backend)
    assert analysis.status == FaceStatus.UNREADABLE and "cannot be read" in analysis.reason


def test_tiny_and_degenerate_pictures_do_not_crash(backend):
    for img in (Image.new("RGB", (1, 1)), Image.new("RGB", (7, 3000)), Image.new("L", (64, 64), 255)):
        assert face_analyse(img, backend=backend).status == FaceStatus.NO_FACE


def test_a_different_person_among_references_is_an_outlier(backend):
    refs = [faces.astronaut(), *[faces.variants(faces.astronaut())[n] for n in ("flip", "jpeg", "darker")],
            faces.grace_hopper()]
    embeddings = [face_analyse(r, backend=backend).embedding for r in refs]
    profile = profile_build([*embeddings, None], backend=backend)
    assert profile.outliers == (4,) and profile.inliers == (0, 1, 2, 3)
    assert profile.distances[4] > backend.threshold > max(profile.distances[i] for i in range(4))


def test_two_references_of_different_people_give_no_profile(backend):
    embeddings = [face_analyse(faces.astronaut(), backend=backend).embedding,
                  face_analyse(faces.grace_hopper(), backend=backend).embedding]
    profile = profile_build(embeddings, backend=backend)
    assert profile.centroid is None and profile.outliers == (0, 1)
    assert profile_build([None, None], backend=backend).centroid is None


def test_scores_map_the_threshold_to_one_half(backend):
    assert backend.score(0.0) == 1.0 and backend.score(backend.threshold) == pytest.approx(0.5)
    assert backend.score(5.0) == 0.0


def test_a_stricter_threshold_changes_the_verdict_not_the_score(backend, astronaut_profile):
    analysis = face_analyse(faces.variants(faces.astronaut())["resize"], backend=backend)
    loose = likeness(analysis, astronaut_profile.centroid, backend=backend)
    strict = likeness(analysis, astronaut_profile.centroid, backend=backend, threshold=loose.distance / 2)
    assert loose.on_model and strict.on_model is False and strict.score == loose.score


def test_unknown_backend_spec_is_refused():
    with pytest.raises(RuntimeError, match="Unknown likeness backend"):
        configured.backend_from_spec("magic")
    with pytest.raises(RuntimeError, match="does not exist"):
        configured.backend_from_spec("arcface:/nonexistent/model.onnx")
