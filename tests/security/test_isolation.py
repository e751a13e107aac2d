"""Workspace isolation, enumerated automatically: every API route under /api/v1/ and every admin page.

The routes come from the URL resolver, so an endpoint added later is covered without editing this file.
A route whose URL kwargs name a model this file does not know fails loudly: add an object of that model
to `world` and an alias to KWARG_MODELS. Installation-wide models (SHARED_MODELS: the model library) belong to
no workspace: any signed-in user reads them, and only operators change them.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid

import pytest
from django.contrib import admin
from django.contrib.auth.models import Permission
from django.db import models
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from core.access import Role
from generation.library.models import BaseModel, BaseModelLayout
from generation.models import GeneratedImage, GenerationJob, JobStatus, LoraVersion, ReproductionCheck
from personas.models import Membership, Persona, ReferenceImage, Workspace
from provenance.models import ExportBundle, ExportedImage, ExportSettings
from scheduler.models import (
    CaptionAlternative,
    ContentPlan,
    Post,
    PostImage,
    PostStatus,
    PostTransition,
    ReviewLink,
    SlotSeries,
)
from scheduler.review import links
from tests.conftest import client_for
from tests.factories import (
    GeneratedImageFactory,
    GenerationJobFactory,
    LoraVersionFactory,
    MembershipFactory,
    PersonaFactory,
    PostFactory,
    PostImageFactory,
    ReferenceImageFactory,
    UserFactory,
    WorkspaceFactory,
)

MARKER = "SECRETW1MARKER"
# URL kwarg name -> model of the object it names.
KWARG_MODELS = {
    "persona_id": Persona,
    "post_id": Post,
    "job_id": GenerationJob,
    "generation_job_id": GenerationJob,
    "version_id": LoraVersion,
    "lora_version_id": LoraVersion,
    "bundle_id": ExportBundle,
    "export_id": ExportBundle,
    "workspace_id": Workspace,
    "image_id": ReferenceImage,
    "reference_image_id": ReferenceImage,
    "generated_image_id": GeneratedImage,
    "alternative_id": CaptionAlternative,
}
SCOPED_MODELS = (Workspace, Membership, Persona, ReferenceImage, Post, PostImage, PostTransition, ExportBundle,
                 LoraVersion, GenerationJob, GeneratedImage, ExportSettings, ExportedImage)  # fmt: skip
SHARED_MODELS = (BaseModel,)


@pytest.fixture
def world(db):
    workspace = WorkspaceFactory(name=f"{MARKER} brand")
    owner = MembershipFactory(workspace=workspace, role=Role.ADMIN).user
    persona = PersonaFactory(workspace=workspace, name=f"{MARKER} persona", created_by=owner)
    post = PostFactory(persona=persona, caption=f"{MARKER} caption {persona.disclosure_label}",
                       status=PostStatus.IN_REVIEW, created_by=owner)  # fmt: skip
    PostImageFactory(post=post, position=0)
    PostTransition.objects.create(post=post, actor=owner, from_status="draft", to_status="in_review")
    lora = LoraVersionFactory(persona=persona, created_by=owner)
    job = GenerationJobFactory(persona=persona, scene=f"{MARKER} scene", created_by=owner)
    objects = {
        Workspace: workspace,
        Persona: persona,
        Post: post,
        ReferenceImage: ReferenceImageFactory(persona=persona),
        ExportBundle: ExportBundle.objects.create(
            workspace=workspace, start=dt.datetime(2030, 1, 1, tzinfo=dt.UTC),
            end=dt.datetime(2030, 2, 1, tzinfo=dt.UTC), created_by=owner,
        ),
        LoraVersion: lora,
        GenerationJob: job,
        GeneratedImage: GeneratedImageFactory(job=job),
        CaptionAlternative: CaptionAlternative.objects.create(post=post, caption=f"{MARKER} alternative"),
    }  # fmt: skip
    objects[ExportBundle].personas.set([persona])
    objects[ReproductionCheck] = ReproductionCheck.objects.create(
        image=objects[GeneratedImage], status=JobStatus.FAILED, error=f"{MARKER} check", requested_by=owner
    )
    objects[BaseModel] = BaseModel.objects.create(
        name="Isolation tiny", family="tiny", native_size=64, layout=BaseModelLayout.BUILTIN, location="tiny"
    )
    objects[ReviewLink] = links.review_link_create(
        actor=owner, expires_at=dt.datetime.now(dt.UTC) + dt.timedelta(days=3), reviewer_name=f"{MARKER} client",
        posts=[post],
    )[0]
    objects[ContentPlan] = ContentPlan.objects.create(workspace=workspace, name=f"{MARKER} plan", created_by=owner)
    objects[SlotSeries] = SlotSeries.objects.create(persona=persona, name=f"{MARKER}-series", weekday=1,
                                                    time=dt.time(18, 0))
    outsider = MembershipFactory(role=Role.ADMIN).user  # admin of a second workspace only
    return {"owner": owner, "outsider": outsider, "objects": objects}


def _walk(patterns, prefix: str = ""):
    for entry in patterns:
        if isinstance(entry, URLResolver):
            yield from _walk(entry.url_patterns, prefix + str(entry.pattern))
        elif isinstance(entry, URLPattern):
            yield prefix + str(entry.pattern), entry


def api_routes() -> list[tuple[str, URLPattern]]:
    routes = []
    for route, pattern in _walk(get_resolver().url_patterns):
        if "format" in pattern.pattern.regex.groupindex:
            continue  # the `.json` twin of a route checked without the suffix
        if "token" in pattern.pattern.regex.groupindex:
            continue  # client review link routes: the token is the credential (tests/scheduler/test_api_links.py)
        if route.startswith("api/v1/") and "schema" not in route and "docs" not in route and pattern.name:
            routes.append((route, pattern))
    return routes


def _view_model(pattern: URLPattern) -> type[models.Model] | None:
    view = getattr(pattern.callback, "cls", None) or getattr(pattern.callback, "view_class", None)
    queryset = getattr(view, "queryset", None)
    if queryset is not None:
        return queryset.model
    serializer = getattr(view, "serializer_class", None)
    meta = getattr(serializer, "Meta", None)
    return getattr(meta, "model", None)


def _methods(pattern: URLPattern) -> list[str]:
    actions = getattr(pattern.callback, "actions", None)
    if actions:
        return sorted(set(actions) - {"head", "options"})
    view = getattr(pattern.callback, "view_class", None) or getattr(pattern.callback, "cls", None)
    return sorted(m for m in ("get", "post", "put", "patch", "delete") if hasattr(view, m))


def _names_only_shared(route: str, pattern: URLPattern) -> bool:
    names = list(pattern.pattern.regex.groupindex)
    models_named = {_view_model(pattern) if name == "pk" else KWARG_MODELS.get(name) for name in names}
    return bool(names) and models_named <= set(SHARED_MODELS)


def _kwargs_for(route: str, pattern: URLPattern, objects: dict) -> dict[str, int]:
    names = list(pattern.pattern.regex.groupindex)
    kwargs = {}
    for name in names:
        model = _view_model(pattern) if name == "pk" else KWARG_MODELS.get(name)
        assert model in objects, (
            f"{route}: no workspace-1 object for URL kwarg '{name}' (model {model}); extend tests/security/"
            "test_isolation.py so this endpoint is covered"
        )
        kwargs[name] = objects[model].pk
    return kwargs


def _counts(workspace: Workspace) -> dict[str, int]:
    return {
        "personas": Persona.objects.filter(workspace=workspace).count(),
        "refs": ReferenceImage.objects.filter(persona__workspace=workspace).count(),
        "posts": Post.objects.filter(workspace=workspace).count(),
        "post_states": Post.objects.filter(workspace=workspace, status=PostStatus.IN_REVIEW).count(),
        "transitions": PostTransition.objects.filter(post__workspace=workspace).count(),
        "bundles": ExportBundle.objects.filter(workspace=workspace).count(),
        "loras": LoraVersion.objects.filter(persona__workspace=workspace).count(),
        "jobs": GenerationJob.objects.filter(persona__workspace=workspace).count(),
        "job_states": GenerationJob.objects.filter(persona__workspace=workspace, status="queued").count(),
        "memberships": Membership.objects.filter(workspace=workspace).count(),
    }


def _hostile_body(objects: dict) -> dict:
    """A create payload that names workspace 1's objects in every field a create endpoint might take."""
    persona, workspace = objects[Persona], objects[Workspace]
    return {
        "persona": persona.pk, "persona_id": persona.pk, "personas": [persona.pk], "persona_ids": [persona.pk],
        "workspace": workspace.pk, "workspace_id": workspace.pk, "platform": "instagram",
        "caption": f"x {persona.disclosure_label}", "scene": "a cafe", "num_variants": 1, "steps": 2,
        "allow_base_model": True, "generated_images": [objects[GeneratedImage].pk],
        "start": "2030-01-01T00:00:00Z", "end": "2030-01-31T00:00:00Z", "scheduled_at": "2030-01-05T10:00:00Z",
        "comment": "hostile", "name": "hijack", "handle": "hijack", "age": 30, "timezone": "UTC",
    }  # fmt: skip


def test_the_enumeration_finds_the_api(world):
    names = {pattern.name for _route, pattern in api_routes()}
    # A sanity floor: if routing changes shape, this test file must notice rather than check nothing.
    assert {"persona-detail", "post-detail", "post-approve", "export-detail", "reference-image-detail"} <= names


def test_no_api_route_reaches_another_workspaces_objects(world):
    objects = world["objects"]
    outsider, owner = client_for(world["outsider"]), client_for(world["owner"])
    workspace = objects[Workspace]
    before = _counts(workspace)
    checked = 0
    for route, pattern in api_routes():
        kwargs = _kwargs_for(route, pattern, objects)
        url = reverse(pattern.name, kwargs=kwargs)
        for method in _methods(pattern):
            if method == "get":
                response = outsider.get(url)
            else:
                body = json.dumps(_hostile_body(objects))
                response = getattr(outsider, method)(url, data=body, content_type="application/json")
            text = response.content.decode(errors="replace")
            if kwargs and _names_only_shared(route, pattern):
                # Not workspace 1's object: readable by all, but a workspace admin changes nothing in it.
                allowed = (200,) if method == "get" else (403, 404, 405)
                assert response.status_code in allowed, f"{method.upper()} {url}: {response.status_code} {text}"
            elif kwargs:
                assert response.status_code in (403, 404), f"{method.upper()} {url}: {response.status_code} {text}"
                if method == "get":  # the id is real: workspace 1's admin reaches it (409 = not ready yet)
                    status = owner.get(url).status_code
                    assert status in (200, 409), f"GET {url} gives workspace 1's admin {status}"
            else:
                assert response.status_code not in (200, 201, 202, 204) or method == "get", (
                    f"{method.upper()} {url} accepted a payload naming workspace 1: {response.status_code} {text}"
                )
            assert MARKER not in text, f"{method.upper()} {url} leaked workspace 1 data: {text[:500]}"
            assert response.status_code < 500, f"{method.upper()} {url}: {response.status_code}"
            checked += 1
    assert checked >= 20
    assert _counts(workspace) == before
    shared = BaseModel.objects.get(pk=objects[BaseModel].pk)  # neither deleted nor archived by the outsider
    assert shared.status == "active"


@pytest.mark.parametrize(
    "query",
    ["/api/v1/posts/?persona={persona}", "/api/v1/calendar/?start=2020-01-01&end=2040-01-01&persona={persona}",
     "/api/v1/personas/?search=" + MARKER],
)  # fmt: skip
def test_query_parameters_naming_another_workspace_leak_nothing(world, query):
    url = query.format(persona=world["objects"][Persona].pk)
    response = client_for(world["outsider"]).get(url)
    assert response.status_code in (200, 400, 404)
    assert MARKER not in response.content.decode()


def _admin_objects(objects: dict) -> dict[type[models.Model], models.Model]:
    workspace = objects[Workspace]
    extra = {
        Membership: Membership.objects.filter(workspace=workspace).first(),
        ExportSettings: ExportSettings.objects.create(workspace=workspace, content_producer=MARKER),
        ExportedImage: ExportedImage.objects.create(
            public_id=uuid.uuid4(), workspace=workspace, persona=objects[Persona], post=objects[Post],
            platform="instagram", path=f"images/{MARKER}.jpg", sha256="0" * 64, dwt_payload="0badf00d",
        ),
    }  # fmt: skip
    return {**objects, **extra}


def test_admin_pages_are_scoped_to_the_staff_users_workspaces(world):
    staff = UserFactory(is_staff=True)
    MembershipFactory(user=staff, role=Role.ADMIN)  # a staff admin of another workspace
    staff.user_permissions.set(Permission.objects.all())
    from django.test import Client

    client = Client()
    client.force_login(staff)
    objects = _admin_objects(world["objects"])
    covered = 0
    for model in admin.site._registry:
        if model not in SCOPED_MODELS:
            continue
        info = (model._meta.app_label, model._meta.model_name)
        changelist = client.get(reverse("admin:{}_{}_changelist".format(*info)))
        assert changelist.status_code in (200, 302, 403)
        assert MARKER not in changelist.content.decode(), f"{model.__name__} changelist leaks workspace 1"
        obj = objects.get(model)
        assert obj is not None, f"admin for {model.__name__}: add a workspace-1 object to this test"
        change = client.get(reverse("admin:{}_{}_change".format(*info), args=[obj.pk]))
        assert change.status_code in (302, 403, 404), f"{model.__name__} change page: {change.status_code}"
        assert MARKER not in change.content.decode()
        covered += 1
    assert covered >= 5
