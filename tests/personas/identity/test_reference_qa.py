"""Reference QA at upload on real photographs (tests/faces.py): each photo's finding with its reason, the profile's
centroid, a different person mixed in, a persona that is not a human face, and the rights / consent confirmation
stored with the upload. Nothing uploaded is ever lost to a finding."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from core.errors import ValidationFailed
from personas import services
from personas.identity import reference_qa
from personas.models import CONSENT_CONFIRMATION, RIGHTS_CONFIRMATION, FaceFinding, ReferenceImage, ReferenceUpload
from personas.selectors import reference_profile_summary
from tests import faces
from tests.conftest import client_for
from tests.factories import PersonaFactory

pytestmark = pytest.mark.django_db


def upload(name: str, img) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, faces.jpeg_bytes(faces.at_least(img), quality=92), content_type="image/jpeg")


def astronaut_set() -> list[SimpleUploadedFile]:
    edits = faces.variants(faces.astronaut())
    return [upload("a-front.jpg", faces.astronaut()), upload("a-flip.jpg", edits["flip"]),
            upload("a-crop.jpg", edits["crop"]), upload("a-dark.jpg", edits["darker"])]


def findings(persona) -> dict[str, tuple[str, str]]:
    return {r.original_filename: (r.face_finding, r.face_reason) for r in persona.reference_images.all()}


@pytest.fixture
def human(workspace, marketer):
    return PersonaFactory(workspace=workspace, created_by=marketer, is_human_face=True)


def test_a_different_person_and_a_photo_without_a_face_are_flagged_and_kept(human, marketer):
    files = [*astronaut_set(), upload("grace.jpg", faces.grace_hopper()), upload("noise.jpg", faces.noise(640))]
    result = services.reference_images_upload(actor=marketer, persona=human, files=files, rights_confirmed=True)
    assert not result.errors and len(result.created) == 6  # nothing lost
    found = findings(human)
    assert {name for name, (finding, _) in found.items() if finding == FaceFinding.USABLE} == {
        "a-front.jpg", "a-flip.jpg", "a-crop.jpg", "a-dark.jpg"}
    finding, reason = found["grace.jpg"]
    assert finding == FaceFinding.OUTLIER and reason.startswith("looks like a different person from the other")
    assert found["noise.jpg"] == (FaceFinding.NO_FACE, "no face was found")
    # The returned images carry their findings too.
    assert {img.original_filename: img.face_finding for img in result.created}["grace.jpg"] == FaceFinding.OUTLIER

    human.refresh_from_db()
    assert len(human.face_centroid) == 128 and human.face_backend == "dlib-resnet-v1"
    grace = human.reference_images.get(original_filename="grace.jpg")
    assert grace.face_distance > 0.6 and grace.face_embedding is not None
    summary = reference_profile_summary(persona=human)
    assert summary["status"] == "ready" and summary["usable_faces"] == 4 and summary["threshold"] == 0.6
    assert summary["findings"] == {"usable": 4, "outlier": 1, "no_face": 1}


def test_several_faces_and_a_face_too_small(human, marketer):
    grace = faces.grace_hopper()
    both = faces.side_by_side(faces.astronaut(), grace.resize((grace.width * 7 // 10, grace.height * 7 // 10)))
    files = [*astronaut_set()[:3], upload("group.jpg", both), upload("far.jpg", faces.small_face(faces.astronaut()))]
    services.reference_images_upload(actor=marketer, persona=human, files=files)
    found = findings(human)
    assert found["group.jpg"] == (FaceFinding.SEVERAL_FACES, "2 faces are in the photo; crop it to the persona's face")
    finding, reason = found["far.jpg"]
    assert finding == FaceFinding.FACE_TOO_SMALL and "at least 64 px" in reason
    assert reference_profile_summary(persona=human)["usable_faces"] == 3


def test_deleting_references_rebuilds_the_profile(human, marketer):
    services.reference_images_upload(
        actor=marketer, persona=human, files=[*astronaut_set()[:2], upload("grace.jpg", faces.grace_hopper())]
    )
    assert findings(human)["grace.jpg"][0] == FaceFinding.OUTLIER
    for reference in human.reference_images.filter(original_filename__startswith="a-"):
        services.reference_image_delete(actor=marketer, image=reference)
    human.refresh_from_db()
    # Alone, Grace Hopper's photo is the profile: nothing to disagree with.
    assert findings(human)["grace.jpg"][0] == FaceFinding.USABLE and human.face_centroid is not None


def test_training_needs_enough_usable_faces(human, marketer):
    services.reference_images_upload(
        actor=marketer, persona=human,
        files=[*astronaut_set()[:2], upload("grace.jpg", faces.grace_hopper()), upload("noise.jpg", faces.noise(640))],
    )
    with pytest.raises(ValidationFailed) as caught:
        reference_qa.training_faces_require(persona=human)
    error = caught.value
    assert error.code == "not_enough_usable_faces" and error.extra["usable_faces"] == 2
    assert "grace.jpg: looks like a different person" in error.message
    assert "noise.jpg: no face was found" in error.message
    services.reference_images_upload(actor=marketer, persona=human, files=astronaut_set()[2:])
    reference_qa.training_faces_require(persona=human)  # four usable now


def test_references_stored_before_qa_are_checked_before_training(human, marketer):
    services.reference_images_upload(actor=marketer, persona=human, files=astronaut_set()[:3])
    ReferenceImage.objects.filter(persona=human).update(face_finding=FaceFinding.PENDING, face_backend="",
                                                        face_embedding=None)
    reference_qa.training_faces_require(persona=human)
    assert set(human.reference_images.values_list("face_finding", flat=True)) == {FaceFinding.USABLE}


def test_not_a_human_face_makes_likeness_not_applicable(human, marketer):
    services.reference_images_upload(actor=marketer, persona=human, files=astronaut_set()[:3])
    services.persona_update(actor=marketer, persona=human, is_human_face=False)
    human.refresh_from_db()
    assert human.face_centroid is None
    assert set(findings(human).values()) == {(FaceFinding.NOT_APPLICABLE, reference_qa.NOT_A_FACE_REASON)}
    assert reference_profile_summary(persona=human)["status"] == "not_applicable"
    reference_qa.training_faces_require(persona=human)  # never refused for that
    services.reference_images_upload(actor=marketer, persona=human, files=[upload("noise.jpg", faces.noise(640))])
    assert findings(human)["noise.jpg"][0] == FaceFinding.NOT_APPLICABLE
    # Back to a human face: everything is checked again.
    services.persona_update(actor=marketer, persona=human, is_human_face=True)
    found = findings(human)
    assert found["noise.jpg"][0] == FaceFinding.NO_FACE and found["a-front.jpg"][0] == FaceFinding.USABLE


def test_a_stricter_on_model_threshold_leaves_the_references_alone(human, marketer, settings):
    services.reference_images_upload(actor=marketer, persona=human, files=astronaut_set())
    services.persona_update(actor=marketer, persona=human, likeness_threshold=0.01)
    assert {f for f, _ in findings(human).values()} == {FaceFinding.USABLE}
    assert reference_profile_summary(persona=human)["threshold"] == 0.01
    # The "different person" test follows the configured default (LIKENESS_THRESHOLD), the model's question.
    settings.LIKENESS_THRESHOLD = 0.01
    ReferenceImage.objects.filter(persona=human).update(face_backend="")
    reference_qa.reference_faces_refresh(persona=human)
    assert FaceFinding.OUTLIER in {f for f, _ in findings(human).values()}
    with pytest.raises(ValidationFailed, match="likeness_threshold|above 0"):
        services.persona_update(actor=marketer, persona=human, likeness_threshold=5)


def test_the_rights_confirmation_is_stored_with_the_upload(human, marketer):
    result = services.reference_images_upload(actor=marketer, persona=human, files=astronaut_set()[:2],
                                              rights_confirmed=True)
    confirmation = ReferenceUpload.objects.get(persona=human)
    assert confirmation.confirmed_by == marketer and confirmation.confirmed_by_name == marketer.username
    assert confirmation.rights_text == RIGHTS_CONFIRMATION and confirmation.consent_text == ""
    assert confirmation.confirmed_at is not None
    assert {img.upload_id for img in result.created} == {confirmation.pk}
    # Without a confirmation nothing is recorded; a confirmation that covered nothing is not kept.
    services.reference_images_upload(actor=marketer, persona=human, files=astronaut_set()[2:3])
    services.reference_images_upload(actor=marketer, persona=human, files=astronaut_set()[:1], rights_confirmed=True)
    assert ReferenceUpload.objects.filter(persona=human).count() == 1


def test_a_persona_based_on_a_real_person_needs_consent(human, marketer):
    services.persona_update(actor=marketer, persona=human, based_on_real_person=True)
    for rights, consent in ((False, False), (True, False), (False, True)):
        with pytest.raises(ValidationFailed) as caught:
            services.reference_images_upload(actor=marketer, persona=human, files=astronaut_set()[:1],
                                             rights_confirmed=rights, consent_confirmed=consent)
        assert caught.value.code == "consent_required"
    assert not human.reference_images.exists() and not ReferenceUpload.objects.exists()
    services.reference_images_upload(actor=marketer, persona=human, files=astronaut_set()[:1],
                                     rights_confirmed=True, consent_confirmed=True)
    assert ReferenceUpload.objects.get(persona=human).consent_text == CONSENT_CONFIRMATION


def test_api_upload_with_confirmation_returns_findings(human, marketer):
    client = client_for(marketer)
    url = f"/api/v1/personas/{human.pk}/reference-images/"
    response = client.post(url, {"files": [*astronaut_set()[:3], upload("noise.jpg", faces.noise(640))],
                                 "rights_confirmed": "true"}, format="multipart")
    assert response.status_code == 201, response.content
    created = {c["original_filename"]: c for c in response.json()["created"]}
    assert created["noise.jpg"]["face_finding"] == "no_face"
    assert created["noise.jpg"]["face_reason"] == "no face was found"
    assert created["a-front.jpg"]["face_finding"] == "usable" and created["a-front.jpg"]["face_px"] >= 64
    assert created["a-front.jpg"]["upload"]["rights_text"] == RIGHTS_CONFIRMATION
    assert created["a-front.jpg"]["upload"]["confirmed_by_name"] == marketer.username

    body = client.get(f"/api/v1/personas/{human.pk}/").json()
    assert body["is_human_face"] is True and body["likeness_threshold"] is None
    assert body["reference_profile"]["status"] == "ready" and body["reference_profile"]["usable_faces"] == 3

    patched = client.patch(f"/api/v1/personas/{human.pk}/", {"is_human_face": False, "likeness_threshold": 0.5,
                                                              "hold_off_model_drafts": False}, format="json")
    assert patched.status_code == 200, patched.content
    assert patched.json()["reference_profile"]["status"] == "not_applicable"
    bad = client.patch(f"/api/v1/personas/{human.pk}/", {"likeness_threshold": -1}, format="json")
    assert bad.status_code == 400

    services.persona_update(actor=marketer, persona=human, based_on_real_person=True)
    refused = client.post(url, {"files": [upload("x.jpg", faces.astronaut())], "rights_confirmed": "true"},
                          format="multipart")
    assert refused.status_code == 400 and refused.json()["code"] == "consent_required"
