"""Export bundles: a ZIP of a date range's scheduled posts for hand-off to a publishing tool.

The ZIP holds each post's final images, a versioned manifest.json, bulk-upload CSVs for Hootsuite and
Sprout Social, and an iCalendar file of the schedule. Every image goes through the AI-disclosure chain
(provenance.labeling: platform size, optional persona badge, RivaGAN and dwtDctSvd watermarks, IPTC XMP with
China's TC260:AIGC label, signed C2PA manifest), and the finished ZIP is checked with
provenance.checks.verify.bundle_verify before it is kept (both watermarks and the TC260 label read back): a bundle
that does not verify fails and marks nothing exported. A kept bundle registers each image (ExportedImage:
payloads, fingerprints, post, bundle), which is what the "Was this made here?" check looks images up in.

Entry order, timestamps and attributes are fixed, so the same posts give the same CSVs, calendar and image
pixels; the image files themselves differ between builds only in their C2PA signature (ECDSA signatures and
manifest instance ids are unique per signing), hence so do the ZIP bytes.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import io
import json
import logging
import tempfile
import uuid
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import IO, Any

from django.conf import settings as django_settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.core.files import File
from django.db import transaction
from django.utils import timezone
from PIL import Image

from core.access import SCHEDULER_ROLES
from core.dispatch import task_send
from core.errors import ApplicationError, NotFound, ValidationFailed
from personas.models import Persona, Workspace
from personas.selectors import role_require
from provenance.bundles.files import (
    SCHEMA_VERSION,
    ImporterPlan,
    bulk_csvs,
    calendar_ics,
    importer_plan,
    local_time,
    post_caption,
    post_message,
    readme_text,
    utc_iso,
)
from provenance.bundles.selectors import export_settings_get
from provenance.checks.verify import VerificationReport, bundle_verify
from provenance.labeling import GENERATOR_NAME, PLATFORM_AI_FLAGS, badge_for_persona, post_image_label
from provenance.marks.fingerprint import fingerprints
from provenance.marks.rivagan import payload_random
from provenance.marks.xmp import Tc260Label
from provenance.models import ExportBundle, ExportedImage, ExportSettings, ExportStatus
from provenance.signing import SigningCredentials, signing_credentials_get
from scheduler.models import Post, PostImage, PostStatus
from scheduler.services import post_mark_exported

logger = logging.getLogger(__name__)

MAX_RANGE = dt.timedelta(days=366)
MAX_PERSONAS = 100
STALE_PENDING_AFTER = dt.timedelta(minutes=5)
# Posts that belong in a bundle: still to be published. Already-exported ones stay in so that
# exporting the same range again yields the same content.
EXPORTABLE_STATUSES = (PostStatus.SCHEDULED, PostStatus.EXPORTED)

# 1980-01-01 is the earliest time a ZIP entry can carry; fixing it keeps the archive reproducible.
_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)
_ALREADY_COMPRESSED = {".png", ".jpg", ".jpeg", ".webp", ".gif"}


class ExportVerificationFailed(ApplicationError):
    """The built ZIP did not pass bundle_verify; carries the report so the bundle can store it."""

    status = 500
    code = "export_verification_failed"

    def __init__(self, report: VerificationReport) -> None:
        problems = report.all_problems
        shown = "; ".join(problems[:10]) + (f"; and {len(problems) - 10} more" if len(problems) > 10 else "")
        super().__init__(f"The export did not pass verification, so it was not kept: {shown}")
        self.report = report


# --- Creation and selection ---------------------------------------------------------------------


def export_bundle_create(
    *,
    actor: AbstractBaseUser,
    workspace: Workspace,
    persona_ids: Iterable[int],
    start: dt.datetime,
    end: dt.datetime,
) -> ExportBundle:
    """Record a pending bundle and queue its build once the transaction commits."""
    role_require(user=actor, workspace_id=workspace.pk, roles=SCHEDULER_ROLES)
    ids = sorted({int(pk) for pk in persona_ids})
    if not ids:
        raise ValidationFailed("Choose at least one persona to export.")
    if len(ids) > MAX_PERSONAS:
        raise ValidationFailed(f"An export can cover at most {MAX_PERSONAS} personas.")
    if timezone.is_naive(start) or timezone.is_naive(end):
        raise ValidationFailed("Start and end must include a timezone (e.g. 2026-03-01T00:00:00Z).")
    if end <= start:
        raise ValidationFailed("The range end must be after its start.")
    if end - start > MAX_RANGE:
        raise ValidationFailed(f"An export can cover at most {MAX_RANGE.days} days.")
    personas = list(Persona.objects.filter(workspace=workspace, pk__in=ids))
    if len(personas) != len(ids):
        missing = sorted(set(ids) - {p.pk for p in personas})
        raise NotFound(f"Persona not found in this workspace: {', '.join(map(str, missing))}.")

    with transaction.atomic():
        bundle = ExportBundle.objects.create(
            workspace=workspace,
            start=start.astimezone(dt.UTC),
            end=end.astimezone(dt.UTC),
            created_by=actor,
        )
        bundle.personas.set(personas)
        _enqueue_build(bundle.pk)
    return bundle


def _enqueue_build(bundle_id: int) -> None:
    task_send("provenance.tasks.export_bundle_build", args=(bundle_id,))


def export_bundles_requeue_stale(*, now: dt.datetime | None = None) -> int:
    """Queue again every bundle left pending longer than STALE_PENDING_AFTER (a lost message)."""
    cutoff = (now or timezone.now()) - STALE_PENDING_AFTER
    ids = list(
        ExportBundle.objects.filter(status=ExportStatus.PENDING, created_at__lt=cutoff)
        .order_by("id")
        .values_list("id", flat=True)
    )
    with transaction.atomic():
        for bundle_id in ids:
            _enqueue_build(bundle_id)
    return len(ids)


# --- Building ------------------------------------------------------------------------------------


def export_bundle_build(*, bundle_id: int) -> ExportBundle:
    """Build the bundle's ZIP, store it, and mark its posts exported. Safe to run again.

    A bundle that already succeeded is returned untouched. A failure leaves the bundle `failed`
    with a readable error and no stored file; the posts keep their status.
    """
    with transaction.atomic():
        bundle = ExportBundle.objects.select_for_update().filter(pk=bundle_id).first()
        if bundle is None:
            raise NotFound("Export bundle not found.")
        if bundle.status == ExportStatus.SUCCEEDED:
            return bundle
        # pending: the normal path; running: a redelivered task after a worker died;
        # failed: an explicit retry. All three start over from scratch.
        bundle.status = ExportStatus.RUNNING
        bundle.progress = 0
        bundle.error = ""
        bundle.verification = {}
        bundle.save(update_fields=["status", "progress", "error", "verification"])

    generated_at = timezone.now().replace(microsecond=0)
    try:
        posts = _bundle_posts(bundle)
        settings = export_settings_get(workspace_id=bundle.workspace_id)
        # The importers' rules first: a refusal costs no labeling.
        plan = importer_plan(posts, hootsuite_time_rule=settings.hootsuite_time_rule)
        if plan.refused:
            raise ValidationFailed(
                "Hootsuite's importer would refuse these posts (the workspace refuses rather than moves them): "
                + "; ".join(plan.refused)
            )
        credentials = signing_credentials_get()  # once per bundle: it reads (or creates) the key files
        shipped: list[_Shipped] = []
        with tempfile.TemporaryFile() as tmp:
            sha256 = _write_zip(
                bundle=bundle,
                posts=posts,
                generated_at=generated_at,
                out=tmp,
                credentials=credentials,
                shipped=shipped,
                settings=settings,
                plan=plan,
            )
            report = _verify(tmp, credentials)
            _finish(bundle=bundle, posts=posts, tmp=tmp, sha256=sha256, report=report, shipped=shipped)
    except Exception as exc:
        logger.exception("Export bundle %s failed", bundle_id)
        message = exc.message if isinstance(exc, ApplicationError) else f"Unexpected error: {exc}"
        verification = exc.report.as_dict() if isinstance(exc, ExportVerificationFailed) else {}
        _fail(bundle_id=bundle_id, error=message, verification=verification)
    bundle.refresh_from_db()
    return bundle


def _verify(tmp: IO[bytes], credentials: SigningCredentials) -> VerificationReport:
    """Check the archive exactly as it will be stored; any problem refuses the bundle."""
    tmp.seek(0)
    # The signer's own trust anchors: the dev root with the dev CA, C2PA_TRUST_ANCHORS_PATH in production.
    report = bundle_verify(zip_path_or_file=tmp, trust_anchors_pem=credentials.trust_anchors_pem)
    if not report.ok:
        raise ExportVerificationFailed(report)
    return report


def _bundle_posts(bundle: ExportBundle) -> list[Post]:
    return list(
        Post.objects.filter(
            workspace_id=bundle.workspace_id,
            persona__in=bundle.personas.all(),
            status__in=EXPORTABLE_STATUSES,
            scheduled_at__gte=bundle.start,
            scheduled_at__lt=bundle.end,
        )
        .select_related("persona")
        .prefetch_related("images")
        .order_by("scheduled_at", "id")
    )


def _finish(
    *,
    bundle: ExportBundle,
    posts: list[Post],
    tmp: IO[bytes],
    sha256: str,
    report: VerificationReport,
    shipped: list[_Shipped],
) -> None:
    """Store the file and mark posts exported in one transaction: all of it happens, or none."""
    with transaction.atomic():
        locked = ExportBundle.objects.select_for_update().get(pk=bundle.pk)
        if locked.status != ExportStatus.RUNNING:
            raise ApplicationError(f"The export changed to {locked.status} while it was being built.")
        old_name = locked.file.name
        tmp.seek(0)
        locked.file.save(_bundle_filename(locked), File(tmp), save=False)
        # If anything below fails the row rolls back; the stored file must go with it.
        new_name = locked.file.name
        transaction.on_commit(lambda: _delete_quietly(locked.file.storage, old_name) if old_name else None)
        try:
            for post in posts:
                if post.status == PostStatus.SCHEDULED:
                    post_mark_exported(actor=locked.created_by, post_id=post.pk, bundle_id=locked.pk)
            locked.status = ExportStatus.SUCCEEDED
            locked.progress = 100
            locked.sha256 = sha256
            locked.post_count = len(posts)
            locked.error = ""
            locked.verification = report.as_dict()
            locked.finished_at = timezone.now()
            locked.save()
            ExportedImage.objects.bulk_create(item.registry_row(locked) for item in shipped)
        except Exception:
            _delete_quietly(locked.file.storage, new_name)
            raise


def _fail(*, bundle_id: int, error: str, verification: dict[str, Any] | None = None) -> None:
    with transaction.atomic():
        bundle = ExportBundle.objects.select_for_update().filter(pk=bundle_id).first()
        if bundle is None or bundle.status == ExportStatus.SUCCEEDED:
            return
        bundle.status = ExportStatus.FAILED
        bundle.error = error[:2000]
        bundle.verification = verification or {}
        bundle.finished_at = timezone.now()
        bundle.save(update_fields=["status", "error", "verification", "finished_at"])


def _delete_quietly(storage: Any, name: str) -> None:
    try:
        storage.delete(name)
    except OSError:
        logger.warning("Could not delete export file %s", name)


def _bundle_filename(bundle: ExportBundle) -> str:
    return f"persona-studio-export-{bundle.pk}-{bundle.start:%Y%m%d}-{bundle.end:%Y%m%d}.zip"


def _set_progress(bundle_id: int, progress: int) -> None:
    # Outside any transaction the UI polls, so the value is visible while the build runs.
    ExportBundle.objects.filter(pk=bundle_id, status=ExportStatus.RUNNING).update(progress=min(progress, 99))


@dataclass(frozen=True)
class _Shipped:
    """One image of the bundle as the registry will record it once the bundle is kept."""

    public_id: uuid.UUID
    post: Post
    post_image: PostImage
    path: str
    sha256: str
    dwt: str
    rivagan: str
    fingerprints: list[str]

    def registry_row(self, bundle: ExportBundle) -> ExportedImage:
        return ExportedImage(
            public_id=self.public_id,
            workspace_id=bundle.workspace_id,
            persona_id=self.post.persona_id,
            post=self.post,
            post_image=self.post_image,
            bundle=bundle,
            platform=self.post.platform,
            position=self.post_image.position,
            path=self.path,
            sha256=self.sha256,
            dwt_payload=self.dwt,
            rivagan_payload=self.rivagan,
            fingerprints=self.fingerprints,
        )


def rivagan_payloads(post_image: PostImage, taken: set[str]) -> Callable[[], bytes]:
    """RivaGAN payloads for one post image: the one its last export carried (a re-export ships the same
    marks), then fresh ones no other image in the registry or this bundle has: a payload names one image."""
    previous = (
        ExportedImage.objects.filter(post_image=post_image)
        .exclude(rivagan_payload="")
        .order_by("-created_at", "-id")
        .values_list("rivagan_payload", flat=True)
        .first()
    )
    offered: list[str] = []

    def new() -> bytes:
        if previous and not offered:
            offered.append(previous)
            return bytes.fromhex(previous)
        while True:
            payload = payload_random()
            if payload.hex() not in taken and not ExportedImage.objects.filter(rivagan_payload=payload.hex()).exists():
                taken.add(payload.hex())
                offered.append(payload.hex())
                return payload

    return new


def produce_id(post_image: PostImage) -> uuid.UUID:
    """The image's TC260 ProduceID: the same in every export of it, and a keyed hash, so no row id can be
    read from it (as with watermark_payload)."""
    message = f"persona-studio-produce-id:{post_image.pk}".encode()
    digest = hmac.new(django_settings.SECRET_KEY.encode(), message, hashlib.sha256).digest()
    return uuid.UUID(bytes=digest[:16], version=4)


def tc260_label(settings: ExportSettings, produce_id: uuid.UUID) -> Tc260Label:
    """China's implicit label for one exported image: the workspace's producer id, the image's registry id."""
    return Tc260Label(content_producer=settings.content_producer or GENERATOR_NAME, produce_id=str(produce_id))


@dataclass
class _ZipWriter:
    zf: zipfile.ZipFile
    names: set[str] = field(default_factory=set)

    def add(self, name: str, data: bytes) -> None:
        if name in self.names:
            raise ApplicationError(f"Duplicate file in export: {name}")
        self.names.add(name)
        info = zipfile.ZipInfo(name, date_time=_ZIP_EPOCH)
        info.create_system = 3  # unix, so external_attr below means the same everywhere
        info.external_attr = 0o644 << 16
        suffix = PurePosixPath(name).suffix.lower()
        info.compress_type = zipfile.ZIP_STORED if suffix in _ALREADY_COMPRESSED else zipfile.ZIP_DEFLATED
        self.zf.writestr(info, data, compresslevel=6)


def _write_zip(
    *,
    bundle: ExportBundle,
    posts: list[Post],
    generated_at: dt.datetime,
    out: IO[bytes],
    credentials: SigningCredentials,
    shipped: list[_Shipped],
    settings: ExportSettings,
    plan: ImporterPlan,
) -> str:
    """Write the archive to `out`; return its sha256. `shipped` receives what the registry will record."""
    manifest_posts: list[dict[str, Any]] = []
    taken: set[str] = set()
    with zipfile.ZipFile(out, "w") as zf:
        writer = _ZipWriter(zf)
        for index, post in enumerate(posts, start=1):
            badge = badge_for_persona(post.persona, style=settings.visible_label_style)
            images = []
            for image in post.images.all():
                public_id = produce_id(image)
                labeled = post_image_label(
                    post_image=image,
                    badge=badge,
                    credentials=credentials,
                    rivagan_payload_new=rivagan_payloads(image, taken),
                    tc260=tc260_label(settings, public_id),
                )
                path = f"images/{post.pk}_{image.position}{labeled.extension}"
                if path in writer.names:  # two images share a position: keep both, distinctly
                    path = f"images/{post.pk}_{image.position}_{image.pk}{labeled.extension}"
                writer.add(path, labeled.data)
                with Image.open(io.BytesIO(labeled.data)) as published:
                    stored = fingerprints(published)
                shipped.append(
                    _Shipped(
                        public_id, post, image, path, labeled.sha256, labeled.watermark, labeled.rivagan or "", stored
                    )
                )
                images.append(
                    {
                        "path": path,
                        "sha256": labeled.sha256,
                        "mime_type": labeled.mime_type,
                        "width": labeled.width,
                        "height": labeled.height,
                        "watermark": labeled.watermark,
                        "rivagan": labeled.rivagan,
                        "produce_id": str(public_id),
                        "badge": labeled.badge,
                    }
                )
            manifest_posts.append(_manifest_post(post, images))
            _set_progress(bundle.pk, index * 90 // len(posts))

        csv_files = bulk_csvs(posts, plan)
        manifest = {
            "schema_version": SCHEMA_VERSION,
            "generated_at": utc_iso(generated_at),
            "workspace": {"id": bundle.workspace_id, "name": bundle.workspace.name, "slug": bundle.workspace.slug},
            "range": {"start": utc_iso(bundle.start), "end": utc_iso(bundle.end)},
            "personas": sorted(p.pk for p in bundle.personas.all()),
            "files": {
                "hootsuite": sorted(n for n in csv_files if n.startswith("hootsuite/")),
                "sprout_social": sorted(n for n in csv_files if n.startswith("sprout_social/")),
                "calendar": "schedule.ics",
            },
            "posts": manifest_posts,
            # Changes made to fit the importers' rules, and what they will still warn about.
            "importer": plan.as_dict(),
        }
        writer.add("manifest.json", json.dumps(manifest, indent=2, ensure_ascii=False).encode() + b"\n")
        for name in sorted(csv_files):
            writer.add(name, csv_files[name])
        writer.add("schedule.ics", calendar_ics(posts, generated_at))
        writer.add("README.txt", readme_text().encode())

    out.seek(0)
    digest = hashlib.sha256()
    for chunk in iter(lambda: out.read(1024 * 1024), b""):
        digest.update(chunk)
    return digest.hexdigest()


def _manifest_post(post: Post, images: list[dict[str, Any]]) -> dict[str, Any]:
    persona = post.persona
    return {
        "id": post.pk,
        "persona": {"id": persona.pk, "name": persona.name, "handle": persona.handle, "timezone": persona.timezone},
        "platform": post.platform,
        "scheduled_at_utc": utc_iso(post.scheduled_at),
        "scheduled_at_local": local_time(post).isoformat(),
        "caption": post_caption(post),
        "hashtags": list(post.hashtags or []),
        "message": post_message(post),
        "disclosure_label": post.disclosure_label,
        "is_sponsored": post.is_sponsored,
        # Declare the paid partnership in the platform's branded-content tool too; "#ad" alone is the minimum.
        "paid_partnership": post.is_sponsored,
        "ai_generated": True,
        # How to flag the post as AI-generated when publishing through the platform's API (None: no API flag).
        "platform_ai_flag": PLATFORM_AI_FLAGS.get(post.platform),
        "images": images,
    }


