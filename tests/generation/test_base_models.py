"""The base-model library: registration checks the files (and refuses bad ones with nothing left behind), personas
choose a model, LoRA versions record theirs, and a LoRA of another family is refused when the job is created."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from safetensors.torch import save_file

from core.errors import Conflict, PermissionDenied, ValidationFailed
from generation import selectors, services
from generation.engine import tiny_model
from generation.library import services as base_models
from generation.library.checkpoints import weights_sha256
from generation.models import BaseModel, BaseModelLayout, BaseModelStatus, GenerationJob, JobStatus, SamplesStatus
from tests.conftest import client_for
from tests.factories import LoraVersionFactory, PersonaFactory
from tests.generation.workflow_fixtures import *  # noqa: F403 - fixtures


@pytest.fixture(scope="session")
def tiny_folder() -> Path:
    return tiny_model.ensure_tiny_model()


@pytest.fixture
def model_copy(tiny_folder, tmp_path) -> Path:
    """A private copy of the tiny SD folder (tests may damage it)."""
    return Path(shutil.copytree(tiny_folder, tmp_path / "my-model"))


@pytest.fixture
def single_file(tmp_path) -> Path:
    import torch

    path = tmp_path / "checkpoint.safetensors"
    save_file({"model.diffusion_model.x": torch.zeros(4, 4)}, str(path))
    return path


@pytest.fixture
def no_samples(db, monkeypatch):
    """Registration enqueues the gallery after commit; here nothing is sent."""
    from generation.runtime import tasks

    sent: list[int] = []
    monkeypatch.setattr(tasks.render_base_model_samples, "delay", lambda pk: sent.append(pk))
    return sent


@pytest.fixture
def no_enqueue(monkeypatch):
    """Record what would be sent to the gpu queue instead of running it."""
    from generation.runtime import tasks

    sent: list[tuple] = []
    monkeypatch.setattr(tasks.train_lora, "delay", lambda *a: sent.append(("train", *a)))
    monkeypatch.setattr(tasks.generate_images, "delay", lambda *a: sent.append(("generate", *a)))
    return sent


def register(path, name="My model", **kwargs) -> BaseModel:
    return base_models.base_model_register(actor=None, path=str(path), name=name, **kwargs)


def sdxl_entry() -> BaseModel:
    return base_models.base_model_register(actor=None, path="tiny-sdxl", name="Tiny XL", render_samples=False)


# --- registration ----------------------------------------------------------------------------------


def test_the_migration_registered_the_configured_model_as_default(db):
    default = selectors.base_model_default()
    assert default is not None and default.location == "tiny" and default.layout == BaseModelLayout.BUILTIN
    assert (default.family, default.native_size) == ("tiny", 64)


def test_a_diffusers_folder_registers_with_family_size_and_hash(model_copy, no_samples,
                                                                django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        entry = register(model_copy, description="Test", licence_note="Apache-2.0 (random weights)")
    assert (entry.layout, entry.family, entry.native_size) == (BaseModelLayout.FOLDER, "tiny", 64)
    assert entry.location == str(model_copy.resolve()) and entry.size_bytes > 0
    assert entry.sha256 == weights_sha256(model_copy)
    assert entry.samples_status == SamplesStatus.QUEUED and no_samples == [entry.pk]
    with pytest.raises(Conflict, match="already registered"):
        register(model_copy, name="Same weights")
    assert BaseModel.objects.filter(location=entry.location).count() == 1


def test_a_single_file_registers_with_its_config_folder(single_file, tiny_folder, no_samples):
    entry = register(single_file, config_dir=str(tiny_folder))
    assert (entry.layout, entry.family, entry.config_dir) == (BaseModelLayout.SINGLE_FILE, "tiny",
                                                              str(tiny_folder.resolve()))
    assert entry.sha256 == weights_sha256(single_file)


def _break_index(folder: Path) -> Path:
    (folder / "model_index.json").write_text(json.dumps({"_class_name": "KandinskyV22Pipeline"}))
    return folder


def _truncate(folder: Path) -> Path:
    weights = folder / "unet" / "diffusion_pytorch_model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-100])
    return folder


def _pickled(folder: Path) -> Path:
    weights = folder / "vae" / "diffusion_pytorch_model.safetensors"
    weights.rename(weights.with_suffix(".bin"))
    return folder


def _file(path: Path) -> Path:
    path.write_bytes(b"x" * 64)
    return path


def _incomplete(folder: Path) -> Path:
    shutil.rmtree(folder / "text_encoder")
    return folder


@pytest.mark.parametrize(("damage", "kwargs", "code", "message"), [
    (lambda f, t: t / "nowhere", {}, "path_missing", "No file or folder"),
    (lambda f, t: (t / "empty").mkdir() or t / "empty", {}, "no_model_index", "no model_index.json"),
    (lambda f, t: _break_index(f), {}, "unknown_family", "Unknown model family"),
    (lambda f, t: _truncate(f), {}, "truncated_weights", "truncated"),
    (lambda f, t: _pickled(f), {}, "pickled_weights", "arbitrary code"),
    (lambda f, t: _incomplete(f), {}, "incomplete_model", "missing text_encoder"),
    (lambda f, t: _file(t / "m.safetensors"), {}, "config_required", "config folder"),
    (lambda f, t: _file(t / "m.ckpt"), {"config_dir": "cfg"}, "pickled_weights", "arbitrary code"),
    (lambda f, t: _file(t / "m.pt"), {}, "pickled_weights", "arbitrary code"),
])
def test_bad_models_are_refused_and_nothing_is_registered(model_copy, tmp_path, no_samples, damage, kwargs, code,
                                                          message):
    before = BaseModel.objects.count()
    with pytest.raises(ValidationFailed, match=message) as caught:
        register(damage(model_copy, tmp_path), **kwargs)
    assert caught.value.code == code
    assert BaseModel.objects.count() == before and no_samples == []


def test_a_truncated_single_file_is_refused(single_file, tiny_folder, no_samples):
    single_file.write_bytes(single_file.read_bytes()[:-10])
    with pytest.raises(ValidationFailed, match="truncated"):
        register(single_file, config_dir=str(tiny_folder))
    assert not BaseModel.objects.filter(name="My model").exists()


def test_only_operators_register_and_the_command_reports_errors(marketer, superuser, tmp_path, no_samples):
    with pytest.raises(PermissionDenied):
        base_models.base_model_register(actor=marketer, path="tiny-sdxl", name="XL")
    assert base_models.base_model_register(actor=superuser, path="tiny-sdxl", name="XL").family == "tiny-sdxl"
    with pytest.raises(CommandError, match="No file or folder"):
        call_command("base_model_add", str(tmp_path / "missing"), "--name", "Missing")
    assert not BaseModel.objects.filter(name="Missing").exists()


def test_the_command_registers_a_folder(model_copy, no_samples, capsys):
    call_command("base_model_add", str(model_copy), "--name", "Cmd model", "--licence", "CreativeML OpenRAIL-M")
    entry = BaseModel.objects.get(name="Cmd model")
    assert entry.licence_note == "CreativeML OpenRAIL-M" and "Tiny SD" in capsys.readouterr().out


# --- personas on base models ------------------------------------------------------------------------


def test_training_records_the_personas_base_model(persona_with_refs, marketer, no_enqueue):
    xl = sdxl_entry()
    base_models.persona_base_model_set(actor=marketer, persona=persona_with_refs, base_model_id=xl.pk)
    version = services.lora_training_start(actor=marketer, persona=persona_with_refs)
    assert (version.base_model, version.base_model_entry, version.base_model_family) == ("tiny-sdxl", xl, "tiny-sdxl")
    assert version.hyperparameters["resolution"] == 64  # the family's training defaults


def test_a_lora_of_another_family_is_refused_at_job_creation(persona, marketer, no_enqueue):
    LoraVersionFactory(persona=persona, status=JobStatus.SUCCEEDED, is_active=True, weights_path="x.safetensors",
                       base_model_entry=selectors.base_model_default(), base_model_family="tiny")
    xl = sdxl_entry()
    with pytest.raises(ValidationFailed, match="trained on a Tiny SD .* model; Tiny XL is Tiny SDXL") as caught:
        services.generation_job_create(actor=marketer, persona=persona, scene="at the beach", platform="instagram",
                                       base_model_id=xl.pk)
    assert caught.value.code == "base_model_mismatch"
    # Moving the persona keeps the version, marked incompatible; generation asks for a new training run.
    base_models.persona_base_model_set(actor=marketer, persona=persona, base_model_id=xl.pk)
    with pytest.raises(ValidationFailed, match="Train a new version on Tiny XL"):
        services.generation_job_create(actor=marketer, persona=persona, scene="at the beach", platform="instagram")
    assert not GenerationJob.objects.exists()
    body = client_for(marketer).get(f"/api/v1/personas/{persona.pk}/lora-versions/").json()
    versions = body["results"] if isinstance(body, dict) else body
    assert [(v["base_model_family"], v["compatible"]) for v in versions] == [("tiny", False)]
    # Back on a model of its family, the LoRA renders there.
    base_models.persona_base_model_set(actor=marketer, persona=persona,
                                       base_model_id=selectors.base_model_default().pk)
    job = services.generation_job_create(actor=marketer, persona=persona, scene="at the beach", platform="instagram")
    assert job.base_model_entry == selectors.base_model_default() and (job.width, job.height) == (64, 80)


def test_jobs_are_sized_by_their_base_models_family(persona, marketer, no_enqueue):
    xl = sdxl_entry()
    job = services.generation_job_create(actor=marketer, persona=persona, scene="at the beach", platform="tiktok",
                                         allow_base_model=True, base_model_id=xl.pk)
    assert job.base_model_entry == xl and max(job.width, job.height) <= 128


def test_models_in_use_are_neither_deleted_nor_archived(persona, marketer, superuser):
    xl = sdxl_entry()
    base_models.persona_base_model_set(actor=marketer, persona=persona, base_model_id=xl.pk)
    for refuse in (base_models.base_model_delete, base_models.base_model_archive):
        with pytest.raises(Conflict, match="used by 1 persona"):
            refuse(actor=superuser, base_model_id=xl.pk)
    with pytest.raises(Conflict, match="default model"):
        base_models.base_model_delete(actor=superuser, base_model_id=selectors.base_model_default().pk)
    xl.refresh_from_db()
    assert xl.status == BaseModelStatus.ACTIVE
    base_models.persona_base_model_set(actor=marketer, persona=persona,
                                       base_model_id=selectors.base_model_default().pk)
    base_models.base_model_archive(actor=superuser, base_model_id=xl.pk)
    with pytest.raises(ValidationFailed, match="archived"):
        base_models.persona_base_model_set(actor=marketer, persona=persona, base_model_id=xl.pk)
    base_models.base_model_delete(actor=superuser, base_model_id=xl.pk)
    assert not BaseModel.objects.filter(pk=xl.pk).exists()


def test_the_default_moves_without_moving_personas_that_used_it(persona, marketer, superuser, workspace):
    old = selectors.base_model_default()
    xl = sdxl_entry()
    base_models.base_model_make_default(actor=superuser, base_model_id=xl.pk)
    assert selectors.persona_base_model(persona=persona) == old
    assert selectors.persona_base_model(persona=PersonaFactory(workspace=workspace)) == xl


def test_the_persona_page_loads_the_same_base_model_with_the_persona(persona, marketer, outsider, workspace):
    mine = [workspace.pk]

    def loaded(p, workspace_ids=mine):
        row = selectors.persona_with_base_model(persona_id=p.pk, workspace_ids=workspace_ids)
        return row and row.current_base_model

    default = selectors.base_model_default()
    assert loaded(persona) == default and loaded(persona).name == default.name  # no choice: the default
    xl = sdxl_entry()
    base_models.persona_base_model_set(actor=marketer, persona=persona, base_model_id=xl.pk)
    found = loaded(persona)
    assert found == xl and (found.name, found.family, found.native_size, found.is_default) == (
        "Tiny XL", "tiny-sdxl", 64, False)
    assert found.location == "tiny-sdxl"  # a field not loaded with the persona still reads from the row
    assert loaded(persona, workspace_ids=[]) is None  # another workspace's persona is not found
    BaseModel.objects.filter(pk=default.pk).update(is_default=False)
    assert loaded(PersonaFactory(workspace=workspace)) is None  # no library yet


# --- API ---------------------------------------------------------------------------------------------


def test_api_lists_the_library_and_moves_a_persona(persona, marketer, superuser, outsider, no_samples):
    client = client_for(marketer)
    assert client.post("/api/v1/base-models/", {"path": "tiny-sdxl", "name": "XL"}, format="json").status_code == 403
    created = client_for(superuser).post("/api/v1/base-models/", {"path": "tiny-sdxl", "name": "XL"}, format="json")
    assert created.status_code == 201 and created.json()["family_label"] == "Tiny SDXL (test)"
    bad = client_for(superuser).post("/api/v1/base-models/", {"path": "/no/such/model", "name": "Bad"},
                                     format="json")
    assert bad.status_code == 400 and bad.json()["code"] == "path_missing"
    listed = client.get("/api/v1/base-models/").json()
    default = next(m for m in listed if m["is_default"])
    assert default["personas"] == [persona.pk]
    xl_id = created.json()["id"]
    moved = client.put(f"/api/v1/personas/{persona.pk}/base-model/", {"base_model": xl_id}, format="json")
    assert moved.status_code == 200 and moved.json()["personas"] == [persona.pk]
    assert client.get(f"/api/v1/personas/{persona.pk}/base-model/").json()["id"] == xl_id
    assert client_for(outsider).get(f"/api/v1/base-models/{xl_id}/").json()["personas"] == []
    assert client_for(outsider).put(f"/api/v1/personas/{persona.pk}/base-model/", {"base_model": xl_id},
                                    format="json").status_code == 404
    refused = client_for(superuser).delete(f"/api/v1/base-models/{xl_id}/")
    assert refused.status_code == 409 and refused.json()["code"] == "base_model_in_use"


def test_jobs_of_a_routed_family_go_to_its_queue(persona, marketer, settings, monkeypatch,
                                                 django_capture_on_commit_callbacks):
    from generation.runtime import tasks

    settings.GENERATION_FAMILY_QUEUES = {"tiny-sdxl": "gpu-xl"}
    sent: list[tuple] = []
    monkeypatch.setattr(tasks.generate_images, "delay", lambda pk: sent.append((pk, "routed")))
    monkeypatch.setattr(tasks.generate_images, "apply_async", lambda args, queue: sent.append((args[0], queue)))
    xl = sdxl_entry()
    with django_capture_on_commit_callbacks(execute=True):
        on_xl = services.generation_job_create(actor=marketer, persona=persona, scene="at the beach",
                                               platform="instagram", allow_base_model=True, base_model_id=xl.pk)
        on_sd = services.generation_job_create(actor=marketer, persona=persona, scene="at the beach",
                                               platform="instagram", allow_base_model=True)
    assert sent == [(on_xl.pk, "gpu-xl"), (on_sd.pk, "routed")]
