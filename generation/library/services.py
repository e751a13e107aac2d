"""Writes of the base-model library: register (files checked first, nothing half-registered), archive, delete,
the default model, a persona's choice, and the sample gallery's rendering request. Registering is for operators
(superusers, or `manage.py base_model_add`): a model is a file on every GPU worker's disk."""

from __future__ import annotations

from django.contrib.auth.base_user import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from core.access import AUTHOR_ROLES, is_operator
from core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from generation.engine.families import FAMILY_LABELS, model_family
from generation.engine.specs import BUILTIN_MODEL_IDS
from generation.library.checkpoints import model_files_check
from generation.models import (
    BaseModel,
    BaseModelLayout,
    BaseModelSample,
    BaseModelStatus,
    ClassImage,
    PersonaBaseModel,
    SamplesStatus,
)
from generation.selectors import base_model_default
from generation.transitions import gpu_task_send
from personas.models import Persona
from personas.selectors import role_require
from personas.services import persona_create

BUILTIN_NAMES = {"tiny": "Tiny SD (built-in)", "tiny-sdxl": "Tiny SDXL (built-in)"}


def _operator_require(actor: AbstractBaseUser | None) -> None:
    """None: the system (a management command run by whoever operates the installation)."""
    if actor is not None and not is_operator(actor):
        raise PermissionDenied("Only an operator (superuser) can change the base-model library.")


def _lock(base_model_id: int) -> BaseModel:
    entry = BaseModel.objects.select_for_update().filter(pk=base_model_id).first()
    if entry is None:
        raise NotFound("Base model not found.")
    return entry


def _samples_enqueue(entry: BaseModel) -> None:
    gpu_task_send("generation.runtime.tasks.render_base_model_samples", entry.pk, family=entry.family)


def base_model_register(
    *,
    actor: AbstractBaseUser | None,
    path: str,
    name: str,
    config_dir: str = "",
    description: str = "",
    licence_note: str = "",
    make_default: bool = False,
    render_samples: bool = True,
) -> BaseModel:
    """Check a model's files (safetensors only, a known family, complete components, its hash) and add it to the
    library; its sample gallery is rendered on a GPU worker after the commit. `path` "tiny" or "tiny-sdxl": the
    built-in random-weight models (no files to check; a worker records their hash when it first loads them)."""
    _operator_require(actor)
    name = (name or "").strip()
    if not name:
        raise ValidationFailed("Give the base model a name.", code="name_required")
    if len(name) > 120:
        raise ValidationFailed(f"The name is {len(name)} characters; keep it under 120.")
    path = (path or "").strip()
    if path in BUILTIN_MODEL_IDS:
        family = model_family(path)
        values = {"layout": BaseModelLayout.BUILTIN, "location": path, "config_dir": "", "sha256": "",
                  "size_bytes": 0}
    else:
        checked = model_files_check(path, config_dir=(config_dir or "").strip())
        family = checked.family
        values = {"layout": checked.layout, "location": checked.location, "config_dir": checked.config_dir,
                  "sha256": checked.sha256, "size_bytes": checked.size_bytes}
    with transaction.atomic():
        if BaseModel.objects.filter(name__iexact=name).exists():
            raise Conflict(f"A base model named {name!r} is already registered.", code="duplicate_name")
        same = BaseModel.objects.filter(status=BaseModelStatus.ACTIVE, location=values["location"],
                                        config_dir=values["config_dir"]).first()
        if values["sha256"]:
            same = same or BaseModel.objects.filter(status=BaseModelStatus.ACTIVE, sha256=values["sha256"]).first()
        if same is not None:
            raise Conflict(f"These weights are already registered as {same.name!r}.", code="duplicate_model")
        if make_default:
            BaseModel.objects.filter(is_default=True).update(is_default=False)
        entry = BaseModel.objects.create(
            name=name, description=(description or "").strip(), family=family.name, native_size=family.native_size,
            licence_note=(licence_note or "").strip(), created_by=actor, is_default=make_default,
            samples_status=SamplesStatus.QUEUED if render_samples else SamplesStatus.NONE, **values,
        )
        if render_samples:
            _samples_enqueue(entry)
    return entry


def base_model_default_ensure() -> BaseModel:
    """The default model, registering GENERATION_BASE_MODEL as it when the library has none (a fresh database
    whose data migration ran against another setting, or a flushed test database)."""
    entry = base_model_default()
    if entry is not None:
        return entry
    from django.conf import settings

    location = str(settings.GENERATION_BASE_MODEL)
    with transaction.atomic():
        existing = BaseModel.objects.select_for_update().filter(location=location,
                                                                 status=BaseModelStatus.ACTIVE).first()
        if existing is not None:
            BaseModel.objects.filter(is_default=True).update(is_default=False)
            existing.is_default = True
            existing.save(update_fields=["is_default"])
            return existing
        family = model_family(location)
        layout = BaseModelLayout.BUILTIN if location in BUILTIN_MODEL_IDS else BaseModelLayout.FOLDER
        return BaseModel.objects.create(
            name=BUILTIN_NAMES.get(location, location[-120:]), family=family.name, native_size=family.native_size,
            layout=layout, location=location, is_default=True,
            description=f"{FAMILY_LABELS[family.name]} model from GENERATION_BASE_MODEL.",
        )


def base_model_make_default(*, actor: AbstractBaseUser | None, base_model_id: int) -> BaseModel:
    """New personas start on this model; personas that chose one keep theirs."""
    _operator_require(actor)
    with transaction.atomic():
        entry = _lock(base_model_id)
        if entry.status != BaseModelStatus.ACTIVE:
            raise Conflict(f"{entry.name} is archived; only an active model can be the default.", code="invalid_state")
        # Personas still on the old default stay on it: pin them before the default moves.
        old = BaseModel.objects.select_for_update().filter(is_default=True).exclude(pk=entry.pk).first()
        if old is not None:
            PersonaBaseModel.objects.bulk_create(
                [PersonaBaseModel(persona=p, base_model=old)
                 for p in Persona.objects.filter(base_model_choice__isnull=True)])
            BaseModel.objects.filter(pk=old.pk).update(is_default=False)
        entry.is_default = True
        entry.save(update_fields=["is_default"])
    return entry


def _in_use_refusal(entry: BaseModel, what: str) -> None:
    personas = Persona.objects.filter(base_model_choice__base_model=entry).count()
    if entry.is_default:
        raise Conflict(f"{entry.name} is the default model: make another model the default before you {what} it.",
                       code="base_model_in_use")
    if personas:
        raise Conflict(f"{entry.name} is used by {personas} persona(s): move them to another model before you "
                       f"{what} it.", code="base_model_in_use")


def base_model_archive(*, actor: AbstractBaseUser | None, base_model_id: int) -> BaseModel:
    """Hide a model from new choices; the records that name it keep it. Refused while personas use it."""
    _operator_require(actor)
    with transaction.atomic():
        entry = _lock(base_model_id)
        if entry.status == BaseModelStatus.ARCHIVED:
            return entry
        _in_use_refusal(entry, "archive")
        entry.status = BaseModelStatus.ARCHIVED
        entry.archived_at = timezone.now()
        entry.save(update_fields=["status", "archived_at"])
    return entry


def base_model_delete(*, actor: AbstractBaseUser | None, base_model_id: int) -> None:
    """Remove a model from the library (its files stay where they are). Refused while personas use it, or while
    LoRA versions or generation jobs name it (archive it instead: their records reproduce with it)."""
    _operator_require(actor)
    with transaction.atomic():
        entry = _lock(base_model_id)
        _in_use_refusal(entry, "delete")
        if entry.lora_versions.exists() or entry.generation_jobs.exists():
            raise Conflict(f"LoRA versions or images were made with {entry.name}; archive it instead of deleting it.",
                           code="base_model_in_use")
        samples = [sample.image.name for sample in entry.samples.all()]
        # Its class image sets go with it (cascade), and their files after the commit.
        class_images = list(ClassImage.objects.filter(image_set__base_model=entry).values_list("image", flat=True))
        entry.delete()

        def _delete_files() -> None:
            for field, names in ((BaseModelSample._meta.get_field("image"), samples),
                                 (ClassImage._meta.get_field("image"), class_images)):
                for file_name in names:
                    field.storage.delete(file_name)

        transaction.on_commit(_delete_files)


def base_model_samples_request(*, actor: AbstractBaseUser | None, base_model_id: int) -> BaseModel:
    """Render the sample gallery (again) on a GPU worker."""
    _operator_require(actor)
    with transaction.atomic():
        entry = _lock(base_model_id)
        if entry.samples_status in (SamplesStatus.QUEUED, SamplesStatus.RUNNING):
            return entry
        entry.samples_status, entry.samples_error = SamplesStatus.QUEUED, ""
        entry.save(update_fields=["samples_status", "samples_error"])
        _samples_enqueue(entry)
    return entry


def persona_base_model_set(*, actor: AbstractBaseUser, persona: Persona, base_model_id: int) -> PersonaBaseModel:
    """Move a persona to another base model. Its LoRA versions stay; those of another family no longer fit (the
    API and pages mark them incompatible) and generation asks for a new training run."""
    role_require(user=actor, workspace_id=persona.workspace_id, roles=AUTHOR_ROLES)
    with transaction.atomic():
        entry = BaseModel.objects.filter(pk=base_model_id).first()
        if entry is None:
            raise ValidationFailed(f"Base model {base_model_id} does not exist.", code="unknown_base_model")
        if entry.status != BaseModelStatus.ACTIVE:
            raise ValidationFailed(f"{entry.name} is archived; choose an active base model.", code="invalid_state")
        choice, _created = PersonaBaseModel.objects.select_for_update().update_or_create(
            persona=persona, defaults={"base_model": entry, "chosen_by": actor})
    return choice


@transaction.atomic
def persona_create_on_base_model(*, actor: AbstractBaseUser, workspace, base_model_id: int, **fields) -> Persona:
    """A new persona that starts on this base model ("Use for a new persona"): both, or neither."""
    persona = persona_create(actor=actor, workspace=workspace, **fields)
    persona_base_model_set(actor=actor, persona=persona, base_model_id=base_model_id)
    return persona


def persona_base_model_pin(*, persona: Persona) -> BaseModel:
    """The persona's model, its choice recorded (the default when it had none): later default changes never move
    a persona that has trained or generated. Callers hold the persona's row lock or a transaction."""
    choice = PersonaBaseModel.objects.filter(persona=persona).select_related("base_model").first()
    if choice is not None:
        return choice.base_model
    entry = base_model_default_ensure()
    PersonaBaseModel.objects.get_or_create(persona=persona, defaults={"base_model": entry})
    return entry
