"""The persona page shows reference QA findings with their reasons, the rights / consent confirmation, and each
LoRA version's likeness report beside its loss curve; activating a worse version needs the confirm box."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from generation.models import JobStatus
from personas.models import FaceFinding, ReferenceUpload
from tests.factories import LoraVersionFactory, PersonaFactory, ReferenceImageFactory
from tests.personas import imaging

pytestmark = pytest.mark.django_db


def report(mean):
    summary = {"images": 3, "faces_found": 3, "face_found_rate": 1.0, "mean_likeness": mean, "min_likeness": mean}
    return {"status": "scored", "version": summary, "base_model": {**summary, "mean_likeness": 0.2}}


@pytest.fixture
def human(workspace, marketer):
    return PersonaFactory(workspace=workspace, created_by=marketer, is_human_face=True)


def test_findings_confirmation_and_report_on_the_persona_page(client, marketer, human):
    upload = ReferenceUpload.objects.create(persona=human, confirmed_by=marketer, confirmed_by_name=marketer.username,
                                            rights_text="r", consent_text="c")
    ReferenceImageFactory(persona=human, face_finding=FaceFinding.OUTLIER, upload=upload,
                          face_reason="looks like a different person from the other references")
    LoraVersionFactory(persona=human, version=1, status=JobStatus.SUCCEEDED, likeness_report=report(0.81))
    client.force_login(marketer)
    html = client.get(f"/personas/{human.pk}/").content.decode()
    assert 'data-face-finding="outlier"' in html and "looks like a different person" in html
    assert f"Rights and consent confirmed by {marketer.username}" in html
    assert "Reference faces: 0 usable; training needs 3." in html
    assert "mean 0.81, min 0.81" in html and "base model: mean 0.20" in html


def test_upload_form_records_the_rights_confirmation(client, marketer, human):
    client.force_login(marketer)
    response = client.post(f"/personas/{human.pk}/references/", {
        "images": [SimpleUploadedFile("a.jpg", imaging.jpeg(), content_type="image/jpeg")],
        "rights_confirmed": "on",
    })
    assert response.status_code == 302
    image = human.reference_images.get()
    assert image.upload.confirmed_by == marketer and image.face_finding == FaceFinding.NO_FACE
    human.based_on_real_person = True
    human.save(update_fields=["based_on_real_person"])
    refused = client.post(f"/personas/{human.pk}/references/", {
        "images": [SimpleUploadedFile("b.jpg", imaging.jpeg(color=(1, 2, 3)), content_type="image/jpeg")],
        "rights_confirmed": "on",
    })
    assert refused.status_code == 400 and human.reference_images.count() == 1


def test_activating_a_worse_version_needs_the_confirm_box(client, marketer, human):
    LoraVersionFactory(persona=human, version=1, status=JobStatus.SUCCEEDED, is_active=True,
                       likeness_report=report(0.8))
    worse = LoraVersionFactory(persona=human, version=2, status=JobStatus.SUCCEEDED, likeness_report=report(0.5))
    client.force_login(marketer)
    url = reverse("generation:lora_activate", args=[worse.pk])
    assert client.post(url).status_code == 409
    worse.refresh_from_db()
    assert not worse.is_active
    assert client.post(url, {"confirm": "on"}).status_code == 302
    worse.refresh_from_db()
    assert worse.is_active
