"""An entry in the base-model library for GENERATION_BASE_MODEL (the default) and for every other model that an
existing LoRA version names, so that existing personas, versions and jobs keep working."""

from pathlib import Path

from django.conf import settings
from django.db import migrations

BUILTIN = ("tiny", "tiny-sdxl")


def _entry(BaseModel, location: str, *, is_default: bool):
    from generation.engine.families import model_family

    existing = BaseModel.objects.filter(location=location).first()
    if existing is not None:
        return existing
    config_dir = ""
    if location in BUILTIN:
        layout, name = "builtin", {"tiny": "Tiny SD (built-in)", "tiny-sdxl": "Tiny SDXL (built-in)"}[location]
    elif Path(location).is_file():
        layout, name = "single_file", Path(location).stem
        config_dir = str(getattr(settings, "GENERATION_BASE_MODEL_CONFIG", "") or "")
    else:
        layout, name = "folder", Path(location).name or location
    base, n = name[:110], 1
    while BaseModel.objects.filter(name=name).exists():
        n += 1
        name = f"{base} ({n})"
    family = model_family(location, config_dir=config_dir or None)
    return BaseModel.objects.create(
        name=name, family=family.name, native_size=family.native_size, layout=layout, location=location,
        config_dir=config_dir, is_default=is_default,
        description="Registered from GENERATION_BASE_MODEL when the model library was introduced." if is_default
        else "Registered because existing LoRA versions were trained on it.",
    )


def forwards(apps, schema_editor):
    BaseModel = apps.get_model("generation", "BaseModel")
    LoraVersion = apps.get_model("generation", "LoraVersion")
    GenerationJob = apps.get_model("generation", "GenerationJob")
    default = _entry(BaseModel, str(settings.GENERATION_BASE_MODEL), is_default=True)
    for location in LoraVersion.objects.exclude(base_model="").values_list("base_model", flat=True).distinct():
        entry = _entry(BaseModel, location, is_default=False)
        LoraVersion.objects.filter(base_model=location).update(base_model_entry=entry, base_model_family=entry.family)
    for version in LoraVersion.objects.filter(base_model_entry__isnull=False).only("pk", "base_model_entry_id"):
        GenerationJob.objects.filter(lora_version_id=version.pk).update(base_model_entry_id=version.base_model_entry_id)
    GenerationJob.objects.filter(base_model_entry__isnull=True).update(base_model_entry=default)


class Migration(migrations.Migration):
    dependencies = [("generation", "0011_base_model_library")]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
