"""Writes for workspaces, memberships, personas and reference images. All business rules live here."""

from __future__ import annotations

import logging
import os
import re
import uuid
import zoneinfo
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, transaction
from django.utils.text import slugify

from core.access import ADMIN_ROLES, AUTHOR_ROLES, Role
from core.captions import hashtag_clean
from core.constants import BadgePosition
from core.errors import Conflict, NotFound, ValidationFailed, in_use
from core.platforms import Platform
from personas.caption_settings import CAPTION_FIELDS, caption_field_clean, str_list
from personas.identity.reference_qa import reference_faces_refresh
from personas.image_validation import ImageRejected, ValidatedImage, human_size, sha256_of, validate_reference_image
from personas.models import (
    CONSENT_CONFIRMATION,
    DEFAULT_DISCLOSURE_LABEL,
    RIGHTS_CONFIRMATION,
    Membership,
    Persona,
    PersonaAgeChange,
    ReferenceImage,
    ReferenceUpload,
    Workspace,
)
from personas.selectors import role_require

logger = logging.getLogger(__name__)

MAX_FILES_PER_UPLOAD = 50
MIN_AGE = 18
MAX_AGE = 120
MAX_POST_GAP_MINUTES = 7 * 24 * 60
SLOT_RE = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")
HANDLE_RE = re.compile(r"^[A-Za-z0-9._]{1,64}$")
TOKEN_RE = re.compile(r"^\S{1,32}$")

# A persona's editable fields, in the order the API shows them: the one list that the services, the API's
# serializers and the admin form read.
PERSONA_FIELDS: tuple[str, ...] = (
    "name", "handle", "age", "pronouns", "bio", "appearance", "style_keywords", "voice", "default_hashtags",
    "trigger_token", "timezone", "target_platforms", "disclosure_label", "ai_badge_enabled", "ai_badge_position",
    "min_post_gap_minutes", "posting_slots", "banned_words", "must_include", "caption_examples", "caption_languages",
    "caption_language_mode", "caption_urls_allowed", "is_human_face", "based_on_real_person", "likeness_threshold",
    "hold_off_model_drafts",
)
# What changes a persona's face profile (reference QA runs again).
FACE_PROFILE_FIELDS = frozenset({"is_human_face"})
MAX_LIKENESS_THRESHOLD = 2.0
PERSONA_REQUIRED = ("name", "handle", "age", "trigger_token")


# --- workspaces and memberships ----------------------------------------------------------------


def _unique_slug(base: str) -> str:
    base = (slugify(base) or "workspace")[:100]
    slug, n = base, 2
    while Workspace.objects.filter(slug=slug).exists():
        slug, n = f"{base}-{n}", n + 1
    return slug


@transaction.atomic
def workspace_create(*, name: str, owner: AbstractBaseUser, slug: str | None = None) -> Workspace:
    """Create a workspace; `owner` becomes its admin."""
    name = (name or "").strip()
    if not name:
        raise ValidationFailed("A workspace needs a name.", extra={"fields": {"name": ["This field is required."]}})
    if slug:
        slug = slugify(slug)
        if Workspace.objects.filter(slug=slug).exists():
            raise ValidationFailed(f"The slug '{slug}' is already taken.", extra={"fields": {"slug": ["Taken."]}})
    workspace = Workspace.objects.create(name=name, slug=slug or _unique_slug(name))
    Membership.objects.create(workspace=workspace, user=owner, role=Role.ADMIN)
    return workspace


def _validate_role(role: str) -> str:
    if role not in Role.values:
        raise ValidationFailed(
            f"Unknown role '{role}'; use one of: {', '.join(Role.values)}.", extra={"fields": {"role": ["Unknown."]}}
        )
    return role


@transaction.atomic
def membership_add(*, workspace: Workspace, user: AbstractBaseUser, role: str, actor: AbstractBaseUser) -> Membership:
    role_require(user=actor, workspace_id=workspace.pk, roles=ADMIN_ROLES)
    _validate_role(role)
    if Membership.objects.filter(workspace=workspace, user=user).exists():
        raise ValidationFailed(f"{user} is already a member of {workspace}.")
    try:
        with transaction.atomic():
            return Membership.objects.create(workspace=workspace, user=user, role=role)
    except IntegrityError:  # a concurrent add won the race
        raise Conflict(f"{user} is already a member of {workspace}.") from None


@transaction.atomic
def membership_update(*, membership: Membership, role: str, actor: AbstractBaseUser) -> Membership:
    role_require(user=actor, workspace_id=membership.workspace_id, roles=ADMIN_ROLES)
    _validate_role(role)
    locked = Membership.objects.select_for_update().get(pk=membership.pk)
    if locked.role == Role.ADMIN and role != Role.ADMIN:
        admins = Membership.objects.filter(workspace_id=locked.workspace_id, role=Role.ADMIN).count()
        if admins <= 1:
            raise ValidationFailed("A workspace must keep at least one admin.")
    locked.role = role
    locked.save(update_fields=["role"])
    membership.role = role
    return locked


# --- personas --------------------------------------------------------------------------------------


def persona_fields_clean(fields: dict[str, Any]) -> dict[str, Any]:
    """Validate and normalise persona fields (only those given). Raises ValidationFailed with per-field errors."""
    unknown = set(fields) - set(PERSONA_FIELDS)
    if unknown:
        raise ValidationFailed(f"Unknown persona fields: {', '.join(sorted(unknown))}.")
    errors: dict[str, list[str]] = {}
    clean: dict[str, Any] = {}
    for name, value in fields.items():
        if name in ("name", "pronouns", "bio", "appearance", "voice", "disclosure_label", "handle", "trigger_token"):
            value = "" if value is None else str(value).strip()
        if name == "name":
            if not value:
                errors[name] = ["A persona needs a name."]
            elif len(value) > 120:
                errors[name] = ["At most 120 characters."]
        elif name == "handle":
            value = value.lstrip("@")
            if not HANDLE_RE.match(value):
                errors[name] = ["Handles use 1-64 letters, digits, '.' or '_' (no @, no spaces)."]
        elif name == "age":
            try:
                value = int(value)
            except (TypeError, ValueError):
                errors[name] = ["Age must be a whole number."]
                continue
            if value < MIN_AGE:
                errors[name] = [f"Personas must be adults: age must be {MIN_AGE} or older (got {value})."]
            elif value > MAX_AGE:
                errors[name] = [f"Age must be at most {MAX_AGE}."]
        elif name == "pronouns" and len(value) > 32:
            errors[name] = ["At most 32 characters."]
        elif name == "trigger_token":
            if not TOKEN_RE.match(value):
                errors[name] = ["The trigger token is one word of 1-32 characters, e.g. 'ohwx'."]
        elif name == "timezone":
            try:
                zoneinfo.ZoneInfo(str(value))
            except (zoneinfo.ZoneInfoNotFoundError, ValueError, TypeError):
                errors[name] = [f"'{value}' is not a known IANA timezone (e.g. Europe/Paris)."]
        elif name == "disclosure_label":
            if not value:
                value = DEFAULT_DISCLOSURE_LABEL  # disclosure is never optional
            elif len(value) > 200:
                errors[name] = ["At most 200 characters."]
        elif name == "min_post_gap_minutes":
            try:
                value = int(value)
            except (TypeError, ValueError):
                errors[name] = ["Must be a whole number of minutes."]
                continue
            if not 0 <= value <= MAX_POST_GAP_MINUTES:
                errors[name] = [f"Must be between 0 and {MAX_POST_GAP_MINUTES} minutes."]
        elif name in ("ai_badge_enabled", "is_human_face", "based_on_real_person", "hold_off_model_drafts"):
            if not isinstance(value, bool):
                errors[name] = ["Must be true or false."]
        elif name == "likeness_threshold":
            if value in (None, ""):
                value = None
            else:
                try:
                    value = float(value)
                except (TypeError, ValueError):
                    errors[name] = ["Must be a number, or empty for the model's own threshold."]
                    continue
                if not 0 < value <= MAX_LIKENESS_THRESHOLD:
                    errors[name] = [f"Must be above 0 and at most {MAX_LIKENESS_THRESHOLD:g} (a face distance)."]
        elif name == "ai_badge_position":
            value = str(value or "").strip().lower().replace("_", "-")
            if value not in BadgePosition.values:
                errors[name] = [f"Badge position must be one of: {', '.join(BadgePosition.values)}."]
        elif name in CAPTION_FIELDS:
            value = caption_field_clean(name, value, errors)
        elif name in ("style_keywords", "default_hashtags", "target_platforms", "posting_slots"):
            value = str_list(value, name, errors)
            if value is None:
                continue
            if name == "default_hashtags":
                # The rule posts apply: a default such as "#new-york" would otherwise be stored here and then
                # refuse every post created with the defaults.
                cleaned = [hashtag_clean(tag) for tag in value]
                bad = [tag for tag, clean_tag in zip(value, cleaned, strict=True) if clean_tag is None]
                if bad:
                    errors[name] = [f"Hashtags are single words of letters, digits or underscores: {', '.join(bad)}."]
                value = cleaned
            elif name == "target_platforms":
                value = [p.lower() for p in value]
                bad = [p for p in value if p not in Platform.values]
                if bad:
                    errors[name] = [f"Unknown platforms: {', '.join(bad)}; use {', '.join(Platform.values)}."]
            elif name == "posting_slots":
                bad = [s for s in value if not SLOT_RE.match(s)]
                if bad:
                    errors[name] = [f"Posting slots are local times 'HH:MM' (00:00-23:59): {', '.join(bad)}."]
                value = sorted(value)
        clean[name] = value
    if errors:
        first = next(iter(errors.values()))[0]
        summary = first if len(errors) == 1 else "; ".join(f"{k}: {v[0]}" for k, v in errors.items())
        raise ValidationFailed(summary, extra={"fields": errors})
    return clean


def handle_taken(*, workspace_id: int, handle: str, exclude_pk: int | None = None) -> bool:
    qs = Persona.objects.filter(workspace_id=workspace_id, handle__iexact=handle)
    if exclude_pk is not None:
        qs = qs.exclude(pk=exclude_pk)
    return qs.exists()


def _handle_error(handle: str) -> ValidationFailed:
    return ValidationFailed(
        f"The handle @{handle} is already used by another persona in this workspace.",
        extra={"fields": {"handle": ["Already used in this workspace."]}},
    )


def persona_create(*, actor: AbstractBaseUser, workspace: Workspace, **fields: Any) -> Persona:
    role_require(user=actor, workspace_id=workspace.pk, roles=AUTHOR_ROLES)
    missing = [name for name in PERSONA_REQUIRED if fields.get(name) in (None, "")]
    if missing:
        raise ValidationFailed(
            f"Missing required fields: {', '.join(missing)}.",
            extra={"fields": {name: ["This field is required."] for name in missing}},
        )
    clean = persona_fields_clean(fields)
    if handle_taken(workspace_id=workspace.pk, handle=clean["handle"]):
        raise _handle_error(clean["handle"])
    try:
        with transaction.atomic():
            return Persona.objects.create(workspace=workspace, created_by=actor, **clean)
    except IntegrityError:  # a concurrent create took the handle
        raise _handle_error(clean["handle"]) from None


def persona_update(*, actor: AbstractBaseUser, persona: Persona, **fields: Any) -> Persona:
    """Update the given fields; an age change is recorded as a PersonaAgeChange (who, old, new)."""
    role_require(user=actor, workspace_id=persona.workspace_id, roles=AUTHOR_ROLES)
    clean = persona_fields_clean(fields)
    try:
        with transaction.atomic():
            locked = Persona.objects.select_for_update().get(pk=persona.pk)
            if "handle" in clean and handle_taken(
                workspace_id=locked.workspace_id, handle=clean["handle"], exclude_pk=locked.pk
            ):
                raise _handle_error(clean["handle"])
            old_age = locked.age
            changed = [name for name, value in clean.items() if getattr(locked, name) != value]
            for name in changed:
                setattr(locked, name, clean[name])
            if changed:
                locked.save(update_fields=[*changed, "updated_at"])
            if "age" in changed:
                PersonaAgeChange.objects.create(persona=locked, old_age=old_age, new_age=locked.age, changed_by=actor)
    except IntegrityError:
        raise _handle_error(clean.get("handle", persona.handle)) from None
    # Keep the caller's instance in step with the database.
    for name in changed:
        setattr(persona, name, clean[name])
    persona.updated_at = locked.updated_at
    if FACE_PROFILE_FIELDS & set(changed):
        reference_faces_refresh(persona=locked)
        persona.face_centroid, persona.face_backend = locked.face_centroid, locked.face_backend
    return locked


def _delete_files_on_commit(names: list[str]) -> None:
    def delete() -> None:
        storage = ReferenceImage._meta.get_field("image").storage
        for name in names:
            try:
                storage.delete(name)
            except OSError:
                logger.warning("Could not delete stored file %s", name, exc_info=True)

    transaction.on_commit(delete)


# What a persona's work is recorded in: its posts (some published or exported) and the runs and LoRAs behind them.
# Named by their reverse accessors because those models live in apps above this one.
PERSONA_WORK_RELATIONS = ("posts", "generation_jobs", "lora_versions")


@transaction.atomic
def persona_delete(*, actor: AbstractBaseUser, persona: Persona) -> None:
    """Delete a persona with its reference images and settings. Admins only. A persona that posts, generation jobs
    or LoRA versions still use is kept: deleting it would destroy that work (Conflict, code in_use, with their
    counts in extra.in_use_by)."""
    role_require(user=actor, workspace_id=persona.workspace_id, roles=ADMIN_ROLES)
    work = {getattr(persona, name).model: getattr(persona, name).count() for name in PERSONA_WORK_RELATIONS}
    if any(work.values()):
        raise in_use(persona.name, work)
    names = [n for n in persona.reference_images.values_list("image", flat=True) if n]
    persona.delete()
    _delete_files_on_commit(names)


# --- reference images ------------------------------------------------------------------------------


@dataclass(frozen=True)
class FileError:
    filename: str
    message: str

    # `message` already starts with the filename, e.g. "photo.gif: only JPEG, PNG or WebP images are accepted".
    def __str__(self) -> str:
        return self.message


@dataclass
class UploadResult:
    created: list[ReferenceImage] = field(default_factory=list)
    errors: list[FileError] = field(default_factory=list)


def _display_name(upload: UploadedFile, index: int) -> str:
    name = os.path.basename(getattr(upload, "name", "") or "").strip()
    return name[:255] or f"file {index + 1}"


def _read_capped(upload: UploadedFile, max_bytes: int) -> bytes | None:
    """The upload's bytes, or None when it exceeds the cap (read at most max_bytes + 1)."""
    size = getattr(upload, "size", None)
    if size is not None and size > max_bytes:
        return None
    upload.seek(0)
    data = upload.read(max_bytes + 1)
    return None if len(data) > max_bytes else data


def reference_images_upload(
    *,
    actor: AbstractBaseUser,
    persona: Persona,
    files: list[UploadedFile],
    rights_confirmed: bool = False,
    consent_confirmed: bool = False,
) -> UploadResult:
    """Validate and store each file independently: a bad file never blocks the good ones.

    Each stored image is a metadata-free re-encode (see image_validation). Per-file problems end up in
    `errors` as "<filename>: <reason>"; only request-level problems (role, too many files, a missing consent)
    raise. `rights_confirmed` (and, for a persona based on a real person, `consent_confirmed`, which it requires)
    records who confirmed which statement, and when, with the stored images. Reference QA then runs: each stored
    image comes back with its face finding.
    """
    role_require(user=actor, workspace_id=persona.workspace_id, roles=AUTHOR_ROLES)
    files = list(files)
    if not files:
        raise ValidationFailed("Choose at least one image to upload.")
    if len(files) > MAX_FILES_PER_UPLOAD:
        raise ValidationFailed(f"At most {MAX_FILES_PER_UPLOAD} files per upload; you sent {len(files)}.")
    if persona.based_on_real_person and not (rights_confirmed and consent_confirmed):
        raise ValidationFailed(
            f"{persona.name} is based on a real person's likeness: confirm that you hold the rights to these images "
            "(rights_confirmed) and that the person consented (consent_confirmed).",
            code="consent_required",
            extra={"rights_text": RIGHTS_CONFIRMATION, "consent_text": CONSENT_CONFIRMATION},
        )
    confirmation = None
    if rights_confirmed:
        confirmation = ReferenceUpload.objects.create(
            persona=persona, confirmed_by=actor, confirmed_by_name=actor.get_username(),
            rights_text=RIGHTS_CONFIRMATION, consent_text=CONSENT_CONFIRMATION if consent_confirmed else "",
        )

    max_bytes = settings.REFERENCE_IMAGE_MAX_BYTES
    known = set(ReferenceImage.objects.filter(persona=persona).values_list("sha256", flat=True))
    seen_in_batch: dict[str, str] = {}
    result = UploadResult()

    for index, upload in enumerate(files):
        filename = _display_name(upload, index)

        def reject(message: str, filename: str = filename) -> None:
            result.errors.append(FileError(filename=filename, message=f"{filename}: {message}"))

        data = _read_capped(upload, max_bytes)
        if data is None:
            reject(f"the file is larger than the {human_size(max_bytes)} limit")
            continue
        digest = sha256_of(data)
        if digest in seen_in_batch:
            reject(f"duplicate of {seen_in_batch[digest]} in this upload")
            continue
        if digest in known:
            reject("this image was already uploaded for this persona")
            continue
        try:
            validated = validate_reference_image(data)
        except ImageRejected as exc:
            reject(exc.message)
            continue
        image = _reference_image_store(
            actor=actor, persona=persona, validated=validated, filename=filename, upload=confirmation
        )
        if image is None:
            reject("this image was already uploaded for this persona")
            continue
        known.add(digest)
        seen_in_batch[digest] = filename
        result.created.append(image)
    if confirmation is not None and not result.created:
        confirmation.delete()  # a confirmation belongs with what it covers
    if result.created:
        reference_faces_refresh(persona=persona)
        fresh = ReferenceImage.objects.select_related("upload").in_bulk([image.pk for image in result.created])
        result.created = [fresh.get(image.pk, image) for image in result.created]
    return result


def _reference_image_store(
    *, actor: AbstractBaseUser, persona: Persona, validated: ValidatedImage, filename: str,
    upload: ReferenceUpload | None = None,
) -> ReferenceImage | None:
    """Write one row and its file together; None if a concurrent upload stored the same image first."""
    stored_name = f"{uuid.uuid4().hex}.{validated.extension}"
    image = ReferenceImage(
        persona=persona, sha256=validated.sha256, original_filename=filename, uploaded_by=actor, upload=upload
    )
    try:
        with transaction.atomic():
            # The file is written first; a failed INSERT must not leave it behind.
            image.image.save(stored_name, ContentFile(validated.content), save=False)
            image.width, image.height = validated.width, validated.height  # no re-read of the stored file
            image.save()
    except BaseException as exc:
        if image.image.name:
            image.image.storage.delete(image.image.name)
        duplicate = ReferenceImage.objects.filter(persona=persona, sha256=validated.sha256).exists()
        if isinstance(exc, IntegrityError) and duplicate:
            return None
        raise
    return image


def reference_image_delete(*, actor: AbstractBaseUser, image: ReferenceImage) -> None:
    """Delete one reference; the persona's face profile is rebuilt without it (an outlier may become usable)."""
    persona = image.persona
    role_require(user=actor, workspace_id=persona.workspace_id, roles=AUTHOR_ROLES)
    with transaction.atomic():
        deleted, _ = ReferenceImage.objects.filter(pk=image.pk).delete()
        if not deleted:
            raise NotFound("Reference image not found.")
        if image.image.name:
            _delete_files_on_commit([image.image.name])
    if persona.is_human_face:
        reference_faces_refresh(persona=persona)
