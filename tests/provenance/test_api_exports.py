import hashlib
import io
import json
import zipfile

import pytest
from django.urls import include, path
from drf_spectacular.drainage import GENERATOR_STATS
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.validation import validate_schema
from rest_framework.routers import DefaultRouter

from provenance.api.exports import ExportBundleViewSet
from provenance.bundles.build import export_bundle_create
from provenance.models import ExportBundle, ExportStatus
from scheduler.models import PostStatus
from tests.conftest import client_for
from tests.factories import PersonaFactory, PostFactory, PostImageFactory, aware

pytestmark = pytest.mark.django_db

URL = "/api/v1/exports/"


def body(workspace, personas, start="2026-03-01T00:00:00Z", end="2026-04-01T00:00:00Z"):
    return {"workspace": workspace.pk, "personas": [p.pk for p in personas], "start": start, "end": end}


@pytest.fixture
def scheduled(persona):
    # A text post: these tests are about the API around a build; labeling images is tested on the shared bundle.
    return PostFactory(persona=persona, status=PostStatus.SCHEDULED, scheduled_at=aware(2026, 3, 10, 9))


def create_built(client, payload, capture):
    with capture(execute=True):
        response = client.post(URL, payload, format="json")
    assert response.status_code == 202, response.content
    return response


def test_create_builds_and_download_streams_the_zip(
    workspace, marketer, persona, scheduled, django_capture_on_commit_callbacks
):
    client = client_for(marketer)
    response = create_built(client, body(workspace, [persona]), django_capture_on_commit_callbacks)
    bundle_id = response.json()["id"]
    assert response.json()["workspace"] == workspace.pk
    assert response.json()["personas"] == [persona.pk]

    detail = client.get(f"{URL}{bundle_id}/")
    assert detail.status_code == 200
    data = detail.json()
    assert (data["status"], data["progress"], data["post_count"], data["error"]) == ("succeeded", 100, 1, "")
    assert data["download_url"].endswith(f"/api/v1/exports/{bundle_id}/download/")

    download = client.get(f"{URL}{bundle_id}/download/")
    assert download.status_code == 200
    assert download["Content-Type"] == "application/zip"
    assert download["Content-Disposition"].startswith("attachment; filename=")
    blob = b"".join(download.streaming_content)
    assert hashlib.sha256(blob).hexdigest() == data["sha256"] == download["X-Content-SHA256"]
    manifest = json.loads(zipfile.ZipFile(io.BytesIO(blob)).read("manifest.json"))
    assert [p["id"] for p in manifest["posts"]] == [scheduled.pk]


def test_list_shows_only_the_callers_workspaces(workspace, marketer, persona, outsider):
    mine = export_bundle_create(
        actor=marketer, workspace=workspace, persona_ids=[persona.pk], start=aware(2026, 3, 1), end=aware(2026, 4, 1)
    )
    other_ws = outsider.memberships.get().workspace
    export_bundle_create(
        actor=outsider,
        workspace=other_ws,
        persona_ids=[PersonaFactory(workspace=other_ws).pk],
        start=aware(2026, 3, 1),
        end=aware(2026, 4, 1),
    )
    response = client_for(marketer).get(URL)
    assert response.status_code == 200
    assert [b["id"] for b in response.json()["results"]] == [mine.pk]
    assert response.json()["results"][0]["download_url"] is None


def test_other_workspace_gets_404_on_detail_and_download(
    workspace, marketer, persona, outsider, scheduled, django_capture_on_commit_callbacks
):
    bundle_id = create_built(
        client_for(marketer), body(workspace, [persona]), django_capture_on_commit_callbacks
    ).json()["id"]
    client = client_for(outsider)
    assert client.get(f"{URL}{bundle_id}/").status_code == 404
    assert client.get(f"{URL}{bundle_id}/download/").status_code == 404
    # Creating in a workspace you are not a member of is 404 too, and nothing is written.
    assert client.post(URL, body(workspace, [persona]), format="json").status_code == 404
    assert ExportBundle.objects.count() == 1


def test_anonymous_is_refused(workspace, persona):
    from rest_framework.test import APIClient

    assert APIClient().get(URL).status_code in (401, 403)


def test_download_before_ready_is_409(workspace, marketer, persona):
    # No on-commit execution: the build is never enqueued and the bundle stays pending.
    response = client_for(marketer).post(URL, body(workspace, [persona]), format="json")
    assert response.status_code == 202
    assert response.json()["status"] == "pending"
    download = client_for(marketer).get(f"{URL}{response.json()['id']}/download/")
    assert download.status_code == 409
    assert "pending" in download.json()["detail"]


def test_failed_bundle_download_is_409_with_error_in_detail(
    workspace, marketer, persona, scheduled, django_capture_on_commit_callbacks
):
    image = PostImageFactory(post=scheduled, position=0)
    image.image.storage.delete(image.image.name)
    client = client_for(marketer)
    bundle_id = create_built(client, body(workspace, [persona]), django_capture_on_commit_callbacks).json()["id"]
    detail = client.get(f"{URL}{bundle_id}/").json()
    assert detail["status"] == ExportStatus.FAILED
    assert "missing" in detail["error"]
    assert client.get(f"{URL}{bundle_id}/download/").status_code == 409


@pytest.mark.parametrize(
    ("override", "status_code"),
    [
        ({"end": "2026-02-01T00:00:00Z"}, 400),
        ({"start": "2025-01-01T00:00:00Z", "end": "2026-03-01T00:00:00Z"}, 400),
        ({"personas": []}, 400),
        ({"start": "not a date"}, 400),
        ({"workspace": 999999}, 404),
    ],
)
def test_create_validation(workspace, marketer, persona, override, status_code):
    payload = body(workspace, [persona]) | override
    response = client_for(marketer).post(URL, payload, format="json")
    assert response.status_code == status_code, response.content
    assert not ExportBundle.objects.exists()


def test_create_with_foreign_persona_is_404(workspace, marketer, persona):
    response = client_for(marketer).post(URL, body(workspace, [persona, PersonaFactory()]), format="json")
    assert response.status_code == 404
    assert not ExportBundle.objects.exists()


def test_openapi_schema_for_export_views_has_no_warnings():
    router = DefaultRouter()
    router.register("exports", ExportBundleViewSet, basename="export")
    GENERATOR_STATS.reset()
    schema = SchemaGenerator(patterns=[path("api/v1/", include(router.urls))]).get_schema(request=None, public=True)
    assert not GENERATOR_STATS._warn_cache, dict(GENERATOR_STATS._warn_cache)
    assert not GENERATOR_STATS._error_cache, dict(GENERATOR_STATS._error_cache)
    validate_schema(schema)
    paths = schema["paths"]
    assert set(paths) >= {"/api/v1/exports/", "/api/v1/exports/{id}/", "/api/v1/exports/{id}/download/"}
    assert "202" in paths["/api/v1/exports/"]["post"]["responses"]
    assert "application/zip" in paths["/api/v1/exports/{id}/download/"]["get"]["responses"]["200"]["content"]
