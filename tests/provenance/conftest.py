"""What the provenance tests build once per test run instead of once per test.

Labeling one image (RivaGAN, dwtDctSvd, XMP, C2PA) and verifying it costs seconds of CPU, so the tests that
only read what the chain or an export produced share what is built here:

- `credentials`: the session's C2PA development CA, the one settings.C2PA_DEV_CA_DIR points at in every test
  (tests/conftest.py), so verification that trusts the settings' dev root trusts what these sign;
- `exported_photo`: one photo labeled as an export writes it (both watermarks, XMP with TC260, C2PA);
- `shared_exports`: export bundles built by export_bundle_build from real rows, read back into plain data (ZIP
  bytes, bundle fields, registry rows, post transitions), then rolled back. No row they made outlives the build,
  so each test's database is as empty as it was, and what the tests get are frozen values, not model instances
  that could be saved or queried. The ZIPs stay on disk (a session folder) for `manage.py verify_bundle`.

Tests must only read these. A test that needs another setup (a failure, a workspace rule) builds its own.
Under pytest-xdist each worker builds them once.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import uuid
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

import pytest
from django.core.files.base import ContentFile
from django.db import transaction
from django.test import override_settings
from django.utils import timezone
from PIL import ImageOps

from bench.samples import sample_photo
from core.access import Role
from core.constants import BadgePosition
from core.platforms import Platform
from provenance import labeling
from provenance.bundles.build import export_bundle_build, export_bundle_create
from provenance.labeling import image_label
from provenance.marks.xmp import Tc260Label
from provenance.models import ExportBundle, ExportedImage, ExportSettings, VisibleLabelStyle
from provenance.signing import SigningCredentials
from scheduler.models import Post, PostStatus, PostTransition
from tests.factories import (
    MembershipFactory,
    PersonaFactory,
    PostFactory,
    PostImageFactory,
    WorkspaceFactory,
    aware,
    png_bytes,
)
from tests.provenance.helpers import dev_credentials, sample_png

# Europe/Paris switches to summer time on Sunday 2026-03-29: +01:00 before, +02:00 after.
BEFORE_DST = aware(2026, 3, 28, 8, 0)
AFTER_DST = aware(2026, 3, 30, 16, 30)
WHEN = aware(2026, 3, 10, 9, 0)
RANGE = (aware(2026, 3, 1, 0, 0), aware(2026, 4, 1, 0, 0))
# The clock while the main bundle is built, twice: the same content then gives the same entries but signatures.
MAIN_BUILT_AT = aware(2026, 2, 1, 10, 0)

# The photo the origin tests look for (exported_photo).
ORIGIN_SIZE = (1080, 1350)
RIVA = bytes.fromhex("a55ac33c")
DWT = bytes.fromhex("0badf00d")
PRODUCE_ID = uuid.UUID("6f1c1f7e-0000-4000-8000-000000000017")


SHARED_GROUPS = {"shared_exports": "provenance-shared-exports", "exported_photo": "provenance-exported-photo"}


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist turns xdist_group marks into node-id suffixes
def pytest_collection_modifyitems(config, items):
    """The tests that read `shared_exports` are database tests: pytest-django creates the test database only when a
    collected test asks for one, and the build needs it. Under `--dist loadgroup` (make test), the tests that read
    a fixture built once per run go to one worker, so it is built once, not once per worker; with pytest 9.2 and
    pytest-xdist 3.8 loadgroup groups nothing (pytest-dev/pytest-xdist#1386), so for now each worker builds its own."""
    for item in items:
        fixtures = getattr(item, "fixturenames", ())
        if "shared_exports" in fixtures and not item.get_closest_marker("django_db"):
            item.add_marker(pytest.mark.django_db)
        if item.get_closest_marker("xdist_group"):
            continue
        group = next((g for name, g in SHARED_GROUPS.items() if name in fixtures), None)
        if group:
            item.add_marker(pytest.mark.xdist_group(group))


@pytest.fixture(scope="session")
def credentials(_c2pa_dev_ca_dir) -> SigningCredentials:
    return dev_credentials(_c2pa_dev_ca_dir)


@pytest.fixture(scope="session")
def exported_photo(credentials) -> bytes:
    """A post image as the export writes it: both watermarks, XMP with the TC260 label, C2PA."""
    labeled = image_label(
        source=ImageOps.fit(sample_photo("grace_hopper"), ORIGIN_SIZE),
        size=ORIGIN_SIZE,
        watermark=DWT,
        title="12_0.jpg",
        credentials=credentials,
        rivagan=True,
        rivagan_payload_new=lambda: RIVA,
        tc260=Tc260Label(content_producer="Persona Studio", produce_id=str(PRODUCE_ID)),
    )
    assert labeled.rivagan == RIVA.hex()
    return labeled.data


# --- Shared export bundles ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class PersonaFacts:
    id: int
    name: str
    handle: str
    timezone: str
    disclosure_label: str


@dataclass(frozen=True)
class RegisteredImage:
    """One ExportedImage row as the build wrote it."""

    public_id: uuid.UUID
    workspace_id: int
    persona_id: int | None
    post_id: int | None
    bundle_id: int | None
    platform: str
    position: int
    path: str
    sha256: str
    dwt_payload: str
    rivagan_payload: str
    fingerprints: tuple[str, ...]


@dataclass(frozen=True)
class Transition:
    post_id: int
    from_status: str
    to_status: str
    actor_id: int | None
    comment: str


@dataclass(frozen=True)
class BuiltBundle:
    """One export bundle as its build left it."""

    pk: int
    status: str
    error: str
    progress: int
    post_count: int
    sha256: str
    finished_at: dt.datetime | None
    file_name: str
    path: Path  # the stored ZIP, in the session's media folder
    data: bytes  # its bytes
    verification_json: str
    registered: tuple[RegisteredImage, ...]  # by post, then position
    badge_calls: tuple[tuple[str, str], ...]  # (position, style) of each badge the build drew

    @property
    def verification(self) -> dict:
        """The stored verification report (a fresh copy each time)."""
        return json.loads(self.verification_json)

    def zip(self) -> zipfile.ZipFile:
        return zipfile.ZipFile(io.BytesIO(self.data))

    def manifest(self) -> dict:
        return json.loads(self.zip().read("manifest.json"))


@dataclass(frozen=True)
class MainExport:
    """Two posts of one persona (Europe/Paris, AI badge top-left) around the DST switch, exported twice with
    the clock stopped at MAIN_BUILT_AT: `first`, then `again` (the same range re-exported)."""

    workspace_id: int
    workspace_name: str
    workspace_slug: str
    marketer_id: int
    persona: PersonaFacts
    early_id: int  # instagram, BEFORE_DST, 2 images (a 900x1200 photo, a 1080x1350 photo)
    late_id: int  # threads, AFTER_DST, sponsored, "#ad" among its hashtags, 1 image
    originals: Mapping[tuple[int, int], bytes]  # (post id, position) -> the stored upload
    statuses_after_first: Mapping[int, str]  # post id -> status
    transitions_after_first: tuple[Transition, ...]
    transitions_after_again: tuple[Transition, ...]
    first: BuiltBundle
    again: BuiltBundle


@dataclass(frozen=True)
class RegistryExport:
    """A workspace with a TC260 content producer; one post with a photo (takes RivaGAN) and a flat colour
    (does not)."""

    workspace_id: int
    persona_id: int
    post_id: int
    platform: str
    content_producer: str
    bundle: BuiltBundle


@dataclass(frozen=True)
class SingleImageExport:
    """One post with one 900x1200 photo, in a workspace whose visible label style is China's explicit label, its
    persona badged bottom-left. The bundle for tests that verify a whole ZIP: one image is all they need."""

    post_id: int
    original: bytes  # the stored upload
    bundle: BuiltBundle


@dataclass(frozen=True)
class SharedExports:
    main: MainExport
    registry: RegistryExport
    single: SingleImageExport


def _persona_facts(persona) -> PersonaFacts:
    return PersonaFacts(persona.pk, persona.name, persona.handle, persona.timezone, persona.disclosure_label)


def _transitions(post_ids) -> tuple[Transition, ...]:
    rows = PostTransition.objects.filter(post_id__in=post_ids).order_by("id")
    return tuple(Transition(r.post_id, r.from_status, r.to_status, r.actor_id, r.comment) for r in rows)


def _read_back(bundle_id: int, badge_calls: list[tuple[str, str]]) -> BuiltBundle:
    bundle = ExportBundle.objects.get(pk=bundle_id)
    with bundle.file.open("rb") as fh:
        data = fh.read()
    rows = ExportedImage.objects.filter(bundle=bundle).order_by("post_id", "position", "id")
    return BuiltBundle(
        pk=bundle.pk,
        status=bundle.status,
        error=bundle.error,
        progress=bundle.progress,
        post_count=bundle.post_count,
        sha256=bundle.sha256,
        finished_at=bundle.finished_at,
        file_name=bundle.file.name,
        path=Path(bundle.file.path),
        data=data,
        verification_json=json.dumps(bundle.verification),
        registered=tuple(
            RegisteredImage(
                public_id=row.public_id,
                workspace_id=row.workspace_id,
                persona_id=row.persona_id,
                post_id=row.post_id,
                bundle_id=row.bundle_id,
                platform=row.platform,
                position=row.position,
                path=row.path,
                sha256=row.sha256,
                dwt_payload=row.dwt_payload,
                rivagan_payload=row.rivagan_payload,
                fingerprints=tuple(row.fingerprints),
            )
            for row in rows
        ),
        badge_calls=tuple(badge_calls),
    )


def _export(actor, workspace, personas, badge_calls: list[tuple[str, str]]) -> BuiltBundle:
    """Create and build one bundle (the build a worker runs once the creation commits)."""
    bundle = export_bundle_create(
        actor=actor, workspace=workspace, persona_ids=[p.pk for p in personas], start=RANGE[0], end=RANGE[1]
    )
    badge_calls.clear()
    bundle = export_bundle_build(bundle_id=bundle.pk)
    assert bundle.status == "succeeded", bundle.error
    return _read_back(bundle.pk, badge_calls)


def _post_image(post, position: int, data: bytes, name: str):
    return PostImageFactory(
        post=post, position=position, image=ContentFile(data, name=name), sha256=hashlib.sha256(data).hexdigest()
    )


def _main_export(monkeypatch: pytest.MonkeyPatch, badge_calls: list[tuple[str, str]]) -> MainExport:
    workspace = WorkspaceFactory()
    marketer = MembershipFactory(workspace=workspace, role=Role.MARKETER).user
    persona = PersonaFactory(
        workspace=workspace, created_by=marketer, ai_badge_enabled=True, ai_badge_position=BadgePosition.TOP_LEFT
    )
    early = PostFactory(
        persona=persona,
        status=PostStatus.SCHEDULED,
        scheduled_at=BEFORE_DST,
        caption="Café morning. AI-generated virtual influencer",
        hashtags=["#paris"],
    )
    late = PostFactory(
        persona=persona,
        status=PostStatus.SCHEDULED,
        scheduled_at=AFTER_DST,
        platform=Platform.THREADS,
        is_sponsored=True,
        hashtags=["#ad", "#coffee"],
    )
    # Photos, not flat colours: a badge on a flat colour gives RivaGAN just enough texture to try every payload
    # and feedback round (20-26 s of CPU an image, measured); a photo takes the mark in 1-7 s.
    uploads = {
        (early.pk, 0): sample_png("grace_hopper", (900, 1200)),  # fitted up to Instagram's 1080x1350
        (early.pk, 1): sample_png("astronaut", (1080, 1350)),
        (late.pk, 0): sample_png("coffee", (1080, 1350)),
    }
    for (post_id, position), data in uploads.items():
        _post_image(early if post_id == early.pk else late, position, data, f"img{position}.png")

    posts = [early.pk, late.pk]
    with monkeypatch.context() as clock:
        clock.setattr(timezone, "now", lambda: MAIN_BUILT_AT)
        first = _export(marketer, workspace, [persona], badge_calls)
        statuses = dict(Post.objects.filter(pk__in=posts).values_list("pk", "status"))
        after_first = _transitions(posts)
        again = _export(marketer, workspace, [persona], badge_calls)
        after_again = _transitions(posts)
    return MainExport(
        workspace_id=workspace.pk,
        workspace_name=workspace.name,
        workspace_slug=workspace.slug,
        marketer_id=marketer.pk,
        persona=_persona_facts(persona),
        early_id=early.pk,
        late_id=late.pk,
        originals=MappingProxyType(uploads),
        statuses_after_first=MappingProxyType(statuses),
        transitions_after_first=after_first,
        transitions_after_again=after_again,
        first=first,
        again=again,
    )


def _registry_export(badge_calls: list[tuple[str, str]]) -> RegistryExport:
    workspace = WorkspaceFactory()
    marketer = MembershipFactory(workspace=workspace, role=Role.MARKETER).user
    ExportSettings.objects.create(workspace=workspace, content_producer="CN-AIGC-0042")
    persona = PersonaFactory(workspace=workspace, created_by=marketer)
    post = PostFactory(persona=persona, status=PostStatus.SCHEDULED, scheduled_at=WHEN)
    _post_image(post, 0, sample_png("grace_hopper", (900, 1200)), "photo.png")
    # A flat colour has no texture for RivaGAN to hide in: it ships with dwtDctSvd and the fingerprint only.
    _post_image(post, 1, png_bytes(900, 1200, (40, 100, 200)), "flat.png")
    bundle = _export(marketer, workspace, [persona], badge_calls)
    return RegistryExport(
        workspace_id=workspace.pk,
        persona_id=persona.pk,
        post_id=post.pk,
        platform=post.platform,
        content_producer="CN-AIGC-0042",
        bundle=bundle,
    )


def _single_image_export(badge_calls: list[tuple[str, str]]) -> SingleImageExport:
    workspace = WorkspaceFactory()
    marketer = MembershipFactory(workspace=workspace, role=Role.MARKETER).user
    ExportSettings.objects.create(workspace=workspace, visible_label_style=VisibleLabelStyle.EXPLICIT)
    persona = PersonaFactory(
        workspace=workspace, created_by=marketer, ai_badge_enabled=True, ai_badge_position=BadgePosition.BOTTOM_LEFT
    )
    post = PostFactory(persona=persona, status=PostStatus.SCHEDULED, scheduled_at=WHEN)
    original = sample_png("chelsea", (900, 1200))  # fitted up to Instagram's 1080x1350
    _post_image(post, 0, original, "a.png")
    return SingleImageExport(
        post_id=post.pk, original=original, bundle=_export(marketer, workspace, [persona], badge_calls)
    )


@pytest.fixture(scope="session")
def shared_exports(django_db_setup, django_db_blocker, tmp_path_factory, _c2pa_dev_ca_dir) -> SharedExports:
    """The export bundles most bundle tests read (see the module doc): built once, rows rolled back."""
    media = tmp_path_factory.mktemp("shared-exports")
    # What tests/conftest.py's _test_settings gives each test; this runs before any test's own settings.
    isolated = override_settings(
        MEDIA_ROOT=media / "media",
        WORKER_CACHE_DIR=media / "worker-cache",
        C2PA_DEV_CA_DIR=_c2pa_dev_ca_dir,
        C2PA_CERT_CHAIN_PATH="",
        C2PA_PRIVATE_KEY_PATH="",
        C2PA_TRUST_ANCHORS_PATH="",
        PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"],
    )
    badge_calls: list[tuple[str, str]] = []
    original_badge_draw = labeling.badge_draw

    def badge_spy(image, badge):
        badge_calls.append((badge.position, badge.style))
        return original_badge_draw(image, badge)

    with (
        django_db_blocker.unblock(),
        isolated,
        pytest.MonkeyPatch.context() as monkeypatch,
        transaction.atomic(),
    ):
        monkeypatch.setattr(labeling, "badge_draw", badge_spy)
        shared = SharedExports(
            main=_main_export(monkeypatch, badge_calls),
            registry=_registry_export(badge_calls),
            single=_single_image_export(badge_calls),
        )
        # Nothing of it stays: the on-commit callbacks (the queued builds) are dropped with the rows.
        transaction.set_rollback(True)
    return shared
