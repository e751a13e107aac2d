import pytest

from core.access import Role
from personas.models import Persona, PersonaAgeChange, ReferenceImage
from tests.conftest import client_for
from tests.factories import MembershipFactory, PersonaFactory, ReferenceImageFactory
from tests.personas import imaging

pytestmark = pytest.mark.django_db

NEW = {"name": "Nova", "handle": "nova.vibes", "age": 27, "trigger_token": "ohwx", "timezone": "Asia/Tokyo"}


def results(response):
    assert response.status_code == 200, response.content
    return response.json()["results"]


def test_anonymous_is_refused(api_client):
    assert api_client.get("/api/v1/personas/").status_code in (401, 403)


def test_workspaces_list_shows_own_workspaces_with_role(workspace, reviewer, outsider):
    second = MembershipFactory(user=reviewer, role=Role.ADMIN).workspace
    rows = results(client_for(reviewer).get("/api/v1/workspaces/"))
    assert {(r["id"], r["role"]) for r in rows} == {(workspace.pk, "reviewer"), (second.pk, "admin")}
    assert client_for(outsider).get(f"/api/v1/workspaces/{workspace.pk}/").status_code == 404


def test_persona_crud(workspace, marketer, admin_member):
    client = client_for(marketer)
    created = client.post("/api/v1/personas/", {**NEW, "workspace": workspace.pk}, format="json")
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["handle"] == "nova.vibes"
    assert body["disclosure_label"] == "AI-generated virtual influencer"
    url = f"/api/v1/personas/{body['id']}/"

    assert client.get(url).json()["timezone"] == "Asia/Tokyo"

    patched = client.patch(url, {"age": 28, "posting_slots": ["20:00", "08:15"]}, format="json")
    assert patched.status_code == 200, patched.content
    assert patched.json()["posting_slots"] == ["08:15", "20:00"]
    change = PersonaAgeChange.objects.get(persona_id=body["id"])
    assert (change.old_age, change.new_age, change.changed_by) == (27, 28, marketer)

    replaced = client.put(url, {**NEW, "name": "Nova Prime", "age": 28}, format="json")
    assert replaced.status_code == 200, replaced.content
    assert replaced.json()["name"] == "Nova Prime"

    assert client.delete(url).status_code == 403  # deleting is for admins
    assert client_for(admin_member).delete(url).status_code == 204
    assert not Persona.objects.filter(pk=body["id"]).exists()


def test_persona_errors_are_clear_400s(workspace, marketer, persona):
    client = client_for(marketer)
    minor = client.post("/api/v1/personas/", {**NEW, "workspace": workspace.pk, "age": 16}, format="json")
    assert minor.status_code == 400
    assert "18 or older" in minor.json()["detail"]
    assert "age" in minor.json()["extra"]["fields"]

    taken = client.post(
        "/api/v1/personas/", {**NEW, "workspace": workspace.pk, "handle": persona.handle}, format="json"
    )
    assert taken.status_code == 400
    assert "already used" in taken.json()["detail"]

    bad_tz = client.patch(f"/api/v1/personas/{persona.pk}/", {"timezone": "Nowhere/City"}, format="json")
    assert bad_tz.status_code == 400
    assert "IANA" in bad_tz.json()["detail"]

    shape = client.post("/api/v1/personas/", {**NEW, "workspace": workspace.pk, "age": "old"}, format="json")
    assert shape.status_code == 400
    assert "age" in shape.json()["extra"]["fields"]


def test_persona_list_filters_and_search(workspace, marketer):
    PersonaFactory(workspace=workspace, name="Luna Park", handle="luna")
    PersonaFactory(workspace=workspace, name="Sol", handle="sunny_sol")
    other_ws = MembershipFactory(user=marketer).workspace
    PersonaFactory(workspace=other_ws, name="Elsewhere", handle="else")
    client = client_for(marketer)

    assert len(results(client.get("/api/v1/personas/"))) == 3
    assert [p["handle"] for p in results(client.get(f"/api/v1/personas/?workspace={workspace.pk}"))] == [
        "luna",
        "sunny_sol",
    ]
    assert [p["handle"] for p in results(client.get("/api/v1/personas/?search=SUNNY"))] == ["sunny_sol"]
    assert [p["handle"] for p in results(client.get("/api/v1/personas/?search=luna"))] == ["luna"]


def test_creating_in_a_foreign_workspace_is_404(workspace, outsider):
    response = client_for(outsider).post("/api/v1/personas/", {**NEW, "workspace": workspace.pk}, format="json")
    assert response.status_code == 404
    assert not Persona.objects.filter(handle=NEW["handle"]).exists()


def test_upload_mixed_files(persona, marketer):
    files = [
        imaging.upload("front.jpg", imaging.jpeg(), "image/jpeg"),
        imaging.upload("photo.gif", imaging.encode(imaging.photo(), "GIF"), "image/gif"),
        imaging.upload("tiny.png", imaging.png(300, 300)),
        imaging.upload("page.png", imaging.HTML),
    ]
    response = client_for(marketer).post(
        f"/api/v1/personas/{persona.pk}/reference-images/", {"files": files}, format="multipart"
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert [c["original_filename"] for c in body["created"]] == ["front.jpg"]
    assert body["created"][0]["width"] == 512
    errors = {e["filename"]: e["message"] for e in body["errors"]}
    assert errors["photo.gif"] == "photo.gif: only JPEG, PNG or WebP images are accepted"
    assert set(errors) == {"photo.gif", "tiny.png", "page.png"}

    listed = results(client_for(marketer).get(f"/api/v1/personas/{persona.pk}/reference-images/"))
    assert [r["original_filename"] for r in listed] == ["front.jpg"]


def test_upload_with_only_bad_files_is_400_and_stores_nothing(persona, marketer):
    files = [imaging.upload("a.svg", imaging.SVG, "image/svg+xml"), imaging.upload("b.png", imaging.png(300, 300))]
    response = client_for(marketer).post(
        f"/api/v1/personas/{persona.pk}/reference-images/", {"files": files}, format="multipart"
    )
    assert response.status_code == 400
    assert response.json()["code"] == "invalid" and "No file was stored" in response.json()["detail"]
    assert len(response.json()["extra"]["errors"]) == 2
    assert not ReferenceImage.objects.exists()


def test_upload_without_files_is_400(persona, marketer):
    response = client_for(marketer).post(f"/api/v1/personas/{persona.pk}/reference-images/", {}, format="multipart")
    assert response.status_code == 400
    assert "at least one image" in response.json()["detail"]


def test_reference_image_retrieve_and_delete(persona, marketer, reviewer):
    image = ReferenceImageFactory(persona=persona)
    url = f"/api/v1/reference-images/{image.pk}/"
    assert client_for(reviewer).get(url).json()["id"] == image.pk
    assert client_for(reviewer).delete(url).status_code == 403
    assert client_for(marketer).delete(url).status_code == 204
    assert not ReferenceImage.objects.filter(pk=image.pk).exists()


def test_other_workspace_gets_404_on_every_persona_and_reference_endpoint(persona, outsider):
    image = ReferenceImageFactory(persona=persona)
    client = client_for(outsider)
    persona_url = f"/api/v1/personas/{persona.pk}/"
    refs_url = f"/api/v1/personas/{persona.pk}/reference-images/"
    image_url = f"/api/v1/reference-images/{image.pk}/"
    upload = {"files": [imaging.upload("a.png", imaging.png())]}

    assert client.get(persona_url).status_code == 404
    assert client.patch(persona_url, {"bio": "hacked"}, format="json").status_code == 404
    assert client.put(persona_url, NEW, format="json").status_code == 404
    assert client.delete(persona_url).status_code == 404
    assert client.get(refs_url).status_code == 404
    assert client.post(refs_url, upload, format="multipart").status_code == 404
    assert client.get(image_url).status_code == 404
    assert client.delete(image_url).status_code == 404
    assert persona.pk not in [p["id"] for p in results(client.get("/api/v1/personas/"))]
    assert results(client.get(f"/api/v1/personas/?workspace={persona.workspace_id}")) == []
    persona.refresh_from_db()
    assert persona.bio != "hacked"
    assert ReferenceImage.objects.filter(pk=image.pk).exists()


def test_reviewer_gets_403_on_writes(workspace, persona, reviewer):
    client = client_for(reviewer)
    image = ReferenceImageFactory(persona=persona)
    url = f"/api/v1/personas/{persona.pk}/"
    assert client.get(url).status_code == 200  # reviewers can read
    assert client.post("/api/v1/personas/", {**NEW, "workspace": workspace.pk}, format="json").status_code == 403
    assert client.patch(url, {"bio": "x"}, format="json").status_code == 403
    assert client.put(url, NEW, format="json").status_code == 403
    assert client.delete(url).status_code == 403
    upload = {"files": [imaging.upload("a.png", imaging.png())]}
    assert client.post(f"{url}reference-images/", upload, format="multipart").status_code == 403
    assert client.delete(f"/api/v1/reference-images/{image.pk}/").status_code == 403
    assert ReferenceImage.objects.filter(persona=persona).count() == 1
