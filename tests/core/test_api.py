"""What every API route shares (core.api): an id that is not a number is a JSON 404 on every route, unknown API
paths answer JSON, a delete that others' work blocks is a 409, and the schema documents what the views give."""

from __future__ import annotations

import re

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

from core.api import IdConverter
from core.constants import MAX_DB_ID
from generation.models import GenerationJob, JobStatus, LoraVersion
from personas.models import Persona, ReferenceImage
from scheduler.models import Post
from tests.conftest import client_for
from tests.factories import (
    GenerationJobFactory,
    LoraVersionFactory,
    PostFactory,
    PostImageFactory,
    ReferenceImageFactory,
)

pytestmark = pytest.mark.django_db

NOT_IDS = ["null,null", "abc", "-1", "0", "1.5", "1e3", str(MAX_DB_ID + 1), "9" * 25]
ACTIONS = [
    ("post", "generated-images/{}/reproduce/"),
    ("post", "generation-jobs/{}/cancel/"),
    ("post", "generation-jobs/{}/draft-again/"),
    ("post", "lora-versions/{}/activate/"),
    ("post", "lora-versions/{}/cancel/"),
    ("patch", "workspaces/{}/caption-settings/"),
    ("get", "generated-images/{}/"),
    ("get", "generation-jobs/{}/"),
    ("get", "lora-versions/{}/"),
    ("get", "base-models/{}/"),
    ("get", "reproduction-checks/{}/"),
    ("get", "personas/{}/lora-versions/"),
    ("delete", "personas/{}/"),
    ("post", "posts/{}/approve/"),
    ("post", "posts/1/caption-alternatives/{}/use/"),
]


def assert_json_404(response) -> None:
    assert response.status_code == 404, response.content[:300]
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"detail": "Not found.", "code": "not_found", "extra": {}}


def test_the_id_converter_takes_database_ids_only():
    converter = IdConverter()
    assert converter.to_python("42") == 42 and converter.to_url(42) == "42"
    assert re.fullmatch(converter.regex, str(MAX_DB_ID)) and converter.to_python(str(MAX_DB_ID)) == MAX_DB_ID
    for value in ("0", str(MAX_DB_ID + 1)):
        with pytest.raises(ValueError):
            converter.to_python(value)
    for value in ("abc", "-1", "1.5", "null,null", "9" * 20):
        assert not re.fullmatch(converter.regex, value)


@pytest.mark.parametrize(("method", "path"), ACTIONS)
@pytest.mark.parametrize("bad", NOT_IDS)
def test_an_id_that_is_not_a_number_is_a_json_404(admin_member, method, path, bad):
    response = getattr(client_for(admin_member), method)(f"/api/v1/{path.format(bad)}", {}, format="json")
    assert_json_404(response)


def _api_routes() -> list[str]:
    def walk(patterns, prefix=""):
        for entry in patterns:
            if isinstance(entry, URLResolver):
                yield from walk(entry.url_patterns, prefix + str(entry.pattern))
            elif isinstance(entry, URLPattern):
                yield prefix + str(entry.pattern)

    return [route for route in walk(get_resolver().url_patterns) if route.startswith("api/")]


def test_every_route_with_an_id_takes_it_through_the_converter_and_404s_on_anything_else(admin_member):
    routes = _api_routes()
    assert not [r for r in routes if "<int:" in r or "(?P<" in r], "an API route takes an id without <id:...>"
    with_ids = [route for route in routes if "<id:" in route]
    assert len(with_ids) >= 40  # every detail route and action of the API
    client = client_for(admin_member)
    for route in with_ids:
        url = "/" + re.sub(r"<id:\w+>", "null,null", route.replace("<str:token>", "some-token"))
        for method in ("get", "post", "patch", "delete"):
            assert_json_404(getattr(client, method)(url, {}, format="json"))


@pytest.mark.parametrize("method", ["get", "post", "put", "patch", "delete"])
def test_an_unknown_api_path_is_a_json_404_even_without_signing_in(api_client, method):
    assert_json_404(getattr(api_client, method)("/api/v1/no-such-thing/42/", {}, format="json"))
    assert_json_404(getattr(api_client, method)("/api/v1/personas", {}, format="json"))  # no trailing slash


# --- a delete that others' work blocks ----------------------------------------------------------------------


def test_deleting_a_persona_that_posts_jobs_and_loras_use_is_a_409_and_deletes_nothing(persona, admin_member):
    ReferenceImageFactory(persona=persona)
    lora = LoraVersionFactory(persona=persona, status=JobStatus.SUCCEEDED)
    GenerationJobFactory(persona=persona, lora_version=lora)  # PROTECTs the version: once a server error
    PostImageFactory(post=PostFactory(persona=persona))
    PostFactory(persona=persona)

    response = client_for(admin_member).delete(f"/api/v1/personas/{persona.pk}/")

    assert response.status_code == 409, response.content
    body = response.json()
    assert body["code"] == "in_use"
    assert body["extra"] == {"in_use_by": {"posts": 2, "generation_jobs": 1, "lora_versions": 1}}
    assert body["detail"] == (
        f"{persona.name} cannot be deleted: 2 posts, 1 generation job, 1 lora version still use it."
    )
    assert Persona.objects.filter(pk=persona.pk).exists()
    assert Post.objects.filter(persona=persona).count() == 2
    assert GenerationJob.objects.filter(persona=persona).exists() and LoraVersion.objects.filter(pk=lora.pk).exists()
    assert ReferenceImage.objects.filter(persona=persona).exists()


def test_only_an_admin_learns_what_blocks_a_delete(persona, marketer):
    PostFactory(persona=persona)
    response = client_for(marketer).delete(f"/api/v1/personas/{persona.pk}/")
    assert response.status_code == 403 and response.json()["code"] == "permission_denied"


def test_a_persona_nothing_uses_is_deleted_with_its_reference_images(persona, admin_member):
    ReferenceImageFactory(persona=persona)
    response = client_for(admin_member).delete(f"/api/v1/personas/{persona.pk}/")
    assert response.status_code == 204
    assert not Persona.objects.filter(pk=persona.pk).exists() and not ReferenceImage.objects.exists()


# --- the schema says what the views give ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def schema():
    from drf_spectacular.generators import SchemaGenerator

    return SchemaGenerator().get_schema(request=None, public=True)


def test_every_operation_documents_its_errors_in_the_one_shape(schema):
    error = {"$ref": "#/components/schemas/ApiError"}
    assert set(schema["components"]["schemas"]["ApiError"]["required"]) == {"detail", "code", "extra"}
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            responses = operation["responses"]
            assert "404" in responses, f"{method} {path}"
            for status, response in responses.items():
                if status.startswith("4"):
                    assert response["content"]["application/json"]["schema"] == error, f"{method} {path} {status}"
    delete = schema["paths"]["/api/v1/personas/{id}/"]["delete"]["responses"]
    assert {"204", "403", "404", "409"} <= set(delete)
    create = schema["paths"]["/api/v1/personas/"]["post"]["responses"]
    assert {"201", "400", "403", "404", "409", "415"} <= set(create)
    client_review = schema["paths"]["/api/v1/client-review/{token}/"]["get"]["responses"]
    assert {"404", "410", "429"} <= set(client_review) and "403" not in client_review


def test_ids_in_paths_are_documented_as_positive_integers(schema):
    for path, operations in schema["paths"].items():
        for operation in operations.values():
            for parameter in operation.get("parameters", []):
                if parameter["in"] == "path" and parameter["name"] != "token":
                    assert parameter["schema"]["type"] == "integer", f"{path} {parameter['name']}"
                    assert parameter["schema"]["minimum"] == 1, f"{path} {parameter['name']}"


def test_lists_answered_whole_are_documented_as_lists(schema):
    for path in ("/api/v1/posts/{id}/caption-alternatives/", "/api/v1/posts/{id}/likeness/",
                 "/api/v1/posts/{id}/comments/", "/api/v1/posts/{id}/transitions/"):  # fmt: skip
        ok = schema["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
        assert ok["type"] == "array", path


def test_formats_match_what_the_api_answers(schema):
    components = schema["components"]["schemas"]
    # A slot's local time has no UTC offset, so it is not OpenAPI's `time` (RFC 3339 full-time).
    for name in ("SlotSeries", "SlotSeriesCreateRequest"):
        time = components[name]["properties"]["time"]
        assert "format" not in time and re.fullmatch(time["pattern"], "18:00:00"), name
    assert "format" not in components["ReviewLink"]["properties"]["reviewer_email"]  # blank when none was given
    upload = schema["paths"]["/api/v1/personas/{id}/reference-images/"]["post"]["responses"]
    assert upload["201"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/UploadResult"}
    assert upload["400"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/ApiError"}


def test_an_upload_that_stores_nothing_answers_the_error_shape(persona, marketer):
    from django.core.files.uploadedfile import SimpleUploadedFile

    page = SimpleUploadedFile("page.png", b"<html></html>", content_type="image/png")
    response = client_for(marketer).post(f"/api/v1/personas/{persona.pk}/reference-images/", {"files": [page]},
                                         format="multipart")  # fmt: skip
    assert response.status_code == 400
    body = response.json()
    assert set(body) == {"detail", "code", "extra"}
    assert [error["filename"] for error in body["extra"]["errors"]] == ["page.png"]
