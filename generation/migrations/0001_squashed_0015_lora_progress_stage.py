"""The generation app's schema as of release 0015, squashed: a fresh database starts here; a database at that
release has every replaced migration applied and skips it. Nothing here names an app above generation."""

from pathlib import Path

import django.db.models.deletion
import generation.library.models
import generation.models
from django.conf import settings
from django.db import migrations, models

BUILTIN = ("tiny", "tiny-sdxl")


def base_model_entry(BaseModel, location: str, *, is_default: bool):
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


def default_base_model_register(apps, schema_editor):
    """The library entry of GENERATION_BASE_MODEL (the default), as release 0012 registered it."""
    BaseModel = apps.get_model("generation", "BaseModel")
    LoraVersion = apps.get_model("generation", "LoraVersion")
    GenerationJob = apps.get_model("generation", "GenerationJob")
    default = base_model_entry(BaseModel, str(settings.GENERATION_BASE_MODEL), is_default=True)
    for location in LoraVersion.objects.exclude(base_model="").values_list("base_model", flat=True).distinct():
        entry = base_model_entry(BaseModel, location, is_default=False)
        LoraVersion.objects.filter(base_model=location).update(base_model_entry=entry, base_model_family=entry.family)
    for version in LoraVersion.objects.filter(base_model_entry__isnull=False).only("pk", "base_model_entry_id"):
        GenerationJob.objects.filter(lora_version_id=version.pk).update(base_model_entry_id=version.base_model_entry_id)
    GenerationJob.objects.filter(base_model_entry__isnull=True).update(base_model_entry=default)



class Migration(migrations.Migration):

    initial = True

    replaces = [
        ('generation', '0001_initial'),
        ('generation', '0002_job_render_batch'),
        ('generation', '0003_worker_heartbeat'),
        ('generation', '0004_job_drafting'),
        ('generation', '0005_run_worker'),
        ('generation', '0006_caption_alternatives'),
        ('generation', '0007_content_plans'),
        ('generation', '0008_job_modes_and_stages'),
        ('generation', '0009_reproduction_checks'),
        ('generation', '0010_likeness'),
        ('generation', '0011_base_model_library'),
        ('generation', '0012_base_model_entries'),
        ('generation', '0013_best_of'),
        ('generation', '0014_class_image_sets'),
        ('generation', '0015_lora_progress_stage'),
    ]

    dependencies = [
        ('personas', '0003_caption_rules'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name='BaseModel',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('name', models.CharField(max_length=120, unique=True)),
                ('description', models.TextField(blank=True)),
                ('family', models.CharField(help_text='tiny, tiny-sdxl, sd15, sd2 or sdxl (generation.families).', max_length=16)),
                ('native_size', models.PositiveIntegerField(help_text='The resolution its UNet was trained at.')),
                ('sha256', models.CharField(blank=True, help_text='Of its weights; blank until a worker first loads a built-in model.', max_length=64)),
                ('size_bytes', models.BigIntegerField(default=0)),
                ('layout', models.CharField(choices=[('builtin', 'Built-in test model'), ('folder', 'Diffusers folder'), ('single_file', 'Single-file safetensors + config folder')], max_length=16)),
                ('location', models.CharField(help_text='"tiny"/"tiny-sdxl", or the path on every GPU worker.', max_length=1000)),
                ('config_dir', models.CharField(blank=True, help_text="A single-file checkpoint's config folder.", max_length=1000)),
                ('licence_note', models.TextField(blank=True)),
                ('status', models.CharField(choices=[('active', 'Active'), ('archived', 'Archived')], default='active', max_length=16)),
                ('is_default', models.BooleanField(default=False, help_text='New personas start on it.')),
                ('samples_status', models.CharField(choices=[('none', 'Not rendered'), ('queued', 'Queued'), ('running', 'Rendering'), ('ready', 'Ready'), ('failed', 'Failed')], default='none', max_length=16)),
                ('samples_error', models.TextField(blank=True)),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('archived_at', models.DateTimeField(blank=True, null=True)),
                ('created_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
            ],
            options={
                'ordering': ['-is_default', 'name'],
            },
        ),
        migrations.CreateModel(
            name='BaseModelSample',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('index', models.PositiveSmallIntegerField()),
                ('image', models.ImageField(height_field='height', upload_to=generation.library.models.base_model_sample_path, width_field='width')),
                ('width', models.PositiveIntegerField(default=0)),
                ('height', models.PositiveIntegerField(default=0)),
                ('sha256', models.CharField(max_length=64)),
                ('prompt', models.TextField()),
                ('negative_prompt', models.TextField(blank=True)),
                ('seed', models.BigIntegerField()),
                ('steps', models.PositiveSmallIntegerField()),
                ('guidance', models.FloatField()),
                ('scheduler', models.CharField(max_length=32)),
                ('base_model_hash', models.CharField(blank=True, max_length=64)),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('base_model', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='samples', to='generation.basemodel')),
            ],
            options={
                'ordering': ['base_model', 'index'],
            },
        ),
        migrations.CreateModel(
            name='ClassImageSet',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('base_model_sha256', models.CharField(blank=True, help_text='Of the weights that rendered it.', max_length=64)),
                ('class_prompt', models.TextField()),
                ('resolution', models.PositiveIntegerField()),
                ('count', models.PositiveIntegerField()),
                ('seed', models.BigIntegerField(help_text='Image i has seed seed + i.')),
                ('steps', models.PositiveSmallIntegerField()),
                ('status', models.CharField(choices=[('rendering', 'Rendering'), ('ready', 'Ready'), ('failed', 'Failed')], default='rendering', max_length=16)),
                ('error', models.TextField(blank=True)),
                ('render_seconds', models.FloatField(default=0, help_text='What rendering the set took on the worker.')),
                ('claim', models.CharField(blank=True, max_length=32)),
                ('touched_at', models.DateTimeField()),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('finished_at', models.DateTimeField(blank=True, null=True)),
                ('base_model', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='class_image_sets', to='generation.basemodel')),
            ],
            options={
                'ordering': ['-created_at', '-id'],
            },
        ),
        migrations.CreateModel(
            name='ClassImage',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('index', models.PositiveIntegerField()),
                ('seed', models.BigIntegerField()),
                ('image', models.FileField(upload_to=generation.library.models.class_image_path)),
                ('sha256', models.CharField(max_length=64)),
                ('image_set', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='images', to='generation.classimageset')),
            ],
            options={
                'ordering': ['image_set', 'index'],
            },
        ),
        migrations.CreateModel(
            name='GeneratedImage',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('index', models.PositiveSmallIntegerField(help_text="Position among the job's images (its seed: the job's + index).")),
                ('variant', models.PositiveSmallIntegerField(default=0)),
                ('candidate', models.PositiveSmallIntegerField(default=0)),
                ('candidate_status', models.CharField(choices=[('kept', 'Kept'), ('pending', 'Awaiting selection'), ('rejected', 'Rejected candidate')], default='kept', max_length=16)),
                ('selection_reason', models.TextField(blank=True, help_text='Why best-of-N kept or rejected this candidate.')),
                ('image', models.ImageField(height_field='height', upload_to=generation.models.generated_image_path, width_field='width')),
                ('width', models.PositiveIntegerField(default=0)),
                ('height', models.PositiveIntegerField(default=0)),
                ('sha256', models.CharField(max_length=64)),
                ('seed', models.BigIntegerField()),
                ('base_model', models.CharField(max_length=255)),
                ('base_model_hash', models.CharField(blank=True, max_length=64)),
                ('lora_sha256', models.CharField(blank=True, max_length=64)),
                ('prompt', models.TextField()),
                ('negative_prompt', models.TextField(blank=True)),
                ('steps', models.PositiveSmallIntegerField()),
                ('guidance', models.FloatField()),
                ('scheduler', models.CharField(max_length=32)),
                ('mode', models.CharField(choices=[('txt2img', 'Text to image'), ('img2img', 'Variations of an image'), ('inpaint', 'Inpaint a masked part')], default='txt2img', max_length=16)),
                ('strength', models.FloatField(blank=True, null=True)),
                ('init_sha256', models.CharField(blank=True, max_length=64)),
                ('mask_sha256', models.CharField(blank=True, max_length=64)),
                ('stages', models.JSONField(blank=True, default=dict)),
                ('environment', models.JSONField(blank=True, default=dict)),
                ('likeness_status', models.CharField(choices=[('pending', 'Not scored yet'), ('scored', 'Scored'), ('no_face', 'No face'), ('face_too_small', 'Face too small'), ('unreadable', 'Unreadable'), ('no_reference', 'No usable reference faces'), ('not_applicable', 'Not applicable')], default='pending', max_length=16)),
                ('likeness_score', models.FloatField(blank=True, null=True)),
                ('likeness_distance', models.FloatField(blank=True, null=True)),
                ('face_found', models.BooleanField(blank=True, null=True)),
                ('on_model', models.BooleanField(blank=True, null=True)),
                ('likeness_threshold', models.FloatField(blank=True, null=True)),
                ('likeness_reason', models.TextField(blank=True)),
                ('likeness_backend', models.CharField(blank=True, max_length=64)),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('source_image', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='derived_images', to='generation.generatedimage')),
            ],
            options={
                'ordering': ['job', 'index'],
            },
        ),
        migrations.CreateModel(
            name='GenerationJob',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('platform', models.CharField(max_length=16)),
                ('scene', models.TextField()),
                ('prompt', models.TextField(blank=True, help_text='Full prompt, built from the persona and scene.')),
                ('negative_prompt', models.TextField(blank=True)),
                ('num_variants', models.PositiveSmallIntegerField(default=4)),
                ('best_of', models.PositiveSmallIntegerField(default=1, help_text='Best-of-N: candidates rendered per variant; the most on-model one is kept and drafted, the others stay as rejected candidates (generation/best_of.py).')),
                ('seed', models.BigIntegerField(blank=True, null=True)),
                ('steps', models.PositiveSmallIntegerField(default=25)),
                ('guidance', models.FloatField(default=7.0)),
                ('scheduler', models.CharField(default='dpmpp_2m_karras', max_length=32)),
                ('width', models.PositiveIntegerField(default=512)),
                ('height', models.PositiveIntegerField(default=512)),
                ('status', models.CharField(choices=[('queued', 'Queued'), ('running', 'Running'), ('succeeded', 'Succeeded'), ('failed', 'Failed'), ('cancelled', 'Cancelled')], default='queued', max_length=16)),
                ('progress_step', models.PositiveIntegerField(default=0)),
                ('total_steps', models.PositiveIntegerField(default=0)),
                ('error', models.TextField(blank=True)),
                ('cancel_requested', models.BooleanField(default=False)),
                ('is_sample', models.BooleanField(default=False, help_text='Reviewer samples rendered right after a LoRA training run; they make no posts.')),
                ('batch_offset', models.PositiveSmallIntegerField(default=0)),
                ('batch_size', models.PositiveSmallIntegerField(default=0, help_text='Images in that pipeline call (0: not yet).')),
                ('drafting_status', models.CharField(choices=[('not_needed', 'Not needed'), ('pending', 'Pending'), ('drafted', 'Drafted'), ('failed', 'Failed')], default='not_needed', help_text='The draft posts of the images, made after the job succeeded: not_needed (nothing to draft yet, or reviewer samples), pending, drafted, or failed (see drafting_error; draft-again retries).', max_length=16)),
                ('drafting_error', models.TextField(blank=True, help_text="Why drafting failed; 'draft again' retries.")),
                ('mode', models.CharField(choices=[('txt2img', 'Text to image'), ('img2img', 'Variations of an image'), ('inpaint', 'Inpaint a masked part')], default='txt2img', max_length=16)),
                ('strength', models.FloatField(blank=True, help_text='img2img / inpaint: how far from the init image the result may move, in (0, 1].', null=True)),
                ('init_image', models.FileField(blank=True, help_text="The init image as rendered from (a generated image's PNG or the uploaded photo's sanitised re-encode).", upload_to=generation.models.generation_input_path)),
                ('init_sha256', models.CharField(blank=True, max_length=64)),
                ('mask', models.FileField(blank=True, help_text='inpaint: white repaints.', upload_to=generation.models.generation_input_path)),
                ('mask_sha256', models.CharField(blank=True, max_length=64)),
                ('upscale', models.BooleanField(default=False, help_text="Hires: upscale and refine to the platform's size.")),
                ('output_width', models.PositiveIntegerField(default=0, help_text='Hires output size (0: the render size).')),
                ('output_height', models.PositiveIntegerField(default=0)),
                ('face_detail', models.BooleanField(default=False, help_text='Re-render detected faces with the persona LoRA.')),
                ('is_sponsored', models.BooleanField(default=False, help_text='Paid partnership: its posts carry #ad.')),
                ('caption_error', models.TextField(blank=True, help_text='Why the caption model could not write the captions (the posts keep template captions).')),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('started_at', models.DateTimeField(blank=True, null=True)),
                ('finished_at', models.DateTimeField(blank=True, null=True)),
                ('base_model_entry', models.ForeignKey(blank=True, help_text='The base model it renders with.', null=True, on_delete=django.db.models.deletion.PROTECT, related_name='generation_jobs', to='generation.basemodel')),
                ('batch_leader', models.ForeignKey(blank=True, help_text='The job whose worker task rendered this job, in one pipeline call (itself when it led).', null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to='generation.generationjob')),
                ('created_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
                ('persona', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='generation_jobs', to='personas.persona')),
                ('source_image', models.ForeignKey(blank=True, help_text='The generated image the init image is (none for an uploaded photo).', null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='derived_jobs', to='generation.generatedimage')),
            ],
            options={
                'ordering': ['-created_at', '-id'],
            },
        ),
        migrations.AddField(
            model_name='generatedimage',
            name='job',
            field=models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='images', to='generation.generationjob'),
        ),
        migrations.CreateModel(
            name='LoraVersion',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('version', models.PositiveIntegerField()),
                ('status', models.CharField(choices=[('queued', 'Queued'), ('running', 'Running'), ('succeeded', 'Succeeded'), ('failed', 'Failed'), ('cancelled', 'Cancelled')], default='queued', max_length=16)),
                ('is_active', models.BooleanField(default=False)),
                ('base_model', models.CharField(max_length=255)),
                ('base_model_family', models.CharField(blank=True, max_length=16)),
                ('base_model_sha256', models.CharField(blank=True, max_length=64)),
                ('hyperparameters', models.JSONField(blank=True, default=dict)),
                ('loss_curve', models.JSONField(blank=True, default=list)),
                ('likeness_report', models.JSONField(blank=True, default=dict, help_text='Validation renders with this version and with the base model: mean / min likeness, face-found rate (generation/likeness.py).')),
                ('progress_stage', models.CharField(blank=True, choices=[('', 'Not running'), ('class_images', 'Generating class images'), ('waiting_for_class_images', "Waiting for another run's class images"), ('training', 'Training')], default='', help_text='What the running attempt does now; during class_images the progress counts class images.', max_length=32)),
                ('progress_step', models.PositiveIntegerField(default=0)),
                ('total_steps', models.PositiveIntegerField(default=0)),
                ('weights_path', models.CharField(blank=True, max_length=500)),
                ('sha256', models.CharField(blank=True, max_length=64)),
                ('error', models.TextField(blank=True)),
                ('cancel_requested', models.BooleanField(default=False)),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('started_at', models.DateTimeField(blank=True, null=True)),
                ('finished_at', models.DateTimeField(blank=True, null=True)),
                ('base_model_entry', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='lora_versions', to='generation.basemodel')),
                ('created_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
                ('persona', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='lora_versions', to='personas.persona')),
            ],
            options={
                'ordering': ['-version'],
            },
        ),
        migrations.CreateModel(
            name='JobTransition',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('from_status', models.CharField(blank=True, max_length=16)),
                ('to_status', models.CharField(max_length=16)),
                ('comment', models.TextField(blank=True)),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('actor', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
                ('generation_job', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.CASCADE, related_name='transitions', to='generation.generationjob')),
                ('lora_version', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.CASCADE, related_name='transitions', to='generation.loraversion')),
            ],
            options={
                'ordering': ['created_at', 'id'],
            },
        ),
        migrations.AddField(
            model_name='generationjob',
            name='lora_version',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='generation.loraversion'),
        ),
        migrations.CreateModel(
            name='PersonaBaseModel',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('chosen_at', models.DateTimeField(auto_now=True)),
                ('base_model', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='persona_choices', to='generation.basemodel')),
                ('chosen_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
                ('persona', models.OneToOneField(on_delete=django.db.models.deletion.CASCADE, related_name='base_model_choice', to='personas.persona')),
            ],
        ),
        migrations.CreateModel(
            name='ReproductionCheck',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('status', models.CharField(choices=[('queued', 'Queued'), ('running', 'Running'), ('succeeded', 'Succeeded'), ('failed', 'Failed'), ('cancelled', 'Cancelled')], default='queued', max_length=16)),
                ('identical', models.BooleanField(blank=True, help_text="The re-render's PNG bytes equal the stored ones.", null=True)),
                ('differing_pixels', models.PositiveIntegerField(blank=True, null=True)),
                ('max_delta', models.PositiveSmallIntegerField(blank=True, help_text='Largest channel difference, 0-255.', null=True)),
                ('environment', models.JSONField(blank=True, default=dict, help_text="The re-rendering worker's environment.")),
                ('error', models.TextField(blank=True)),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('finished_at', models.DateTimeField(blank=True, null=True)),
                ('image', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='reproduction_checks', to='generation.generatedimage')),
                ('requested_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
            ],
            options={
                'ordering': ['-created_at', '-id'],
            },
        ),
        migrations.CreateModel(
            name='WorkerHeartbeat',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('instance', models.CharField(help_text='Random id of this process start.', max_length=32, unique=True)),
                ('name', models.CharField(help_text='Celery node name, e.g. gpu0@host.', max_length=255)),
                ('hostname', models.CharField(max_length=255)),
                ('pid', models.PositiveIntegerField()),
                ('queues', models.JSONField(blank=True, default=list)),
                ('started_at', models.DateTimeField()),
                ('last_seen', models.DateTimeField(db_index=True)),
                ('stopped_at', models.DateTimeField(blank=True, help_text='Set on a clean stop, or once found dead.', null=True)),
            ],
            options={
                'ordering': ['-last_seen'],
                'indexes': [models.Index(fields=['name', 'stopped_at'], name='worker_heartbeat_name_live')],
            },
        ),
        migrations.AddField(
            model_name='loraversion',
            name='worker',
            field=models.ForeignKey(blank=True, help_text='The worker process that runs (or last ran) this attempt.', null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to='generation.workerheartbeat'),
        ),
        migrations.AddField(
            model_name='generationjob',
            name='worker',
            field=models.ForeignKey(blank=True, help_text='The worker process that runs (or last ran) this attempt.', null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to='generation.workerheartbeat'),
        ),
        migrations.AddConstraint(
            model_name='basemodel',
            constraint=models.CheckConstraint(condition=models.Q(('status__in', ['active', 'archived'])), name='base_model_status_valid'),
        ),
        migrations.AddConstraint(
            model_name='basemodel',
            constraint=models.CheckConstraint(condition=models.Q(('layout__in', ['builtin', 'folder', 'single_file'])), name='base_model_layout_valid'),
        ),
        migrations.AddConstraint(
            model_name='basemodel',
            constraint=models.CheckConstraint(condition=models.Q(('samples_status__in', ['none', 'queued', 'running', 'ready', 'failed'])), name='base_model_samples_status_valid'),
        ),
        migrations.AddConstraint(
            model_name='basemodel',
            constraint=models.UniqueConstraint(condition=models.Q(('is_default', True)), fields=('is_default',), name='base_model_one_default'),
        ),
        migrations.AddConstraint(
            model_name='basemodel',
            constraint=models.UniqueConstraint(condition=models.Q(('status', 'active'), models.Q(('sha256', ''), _negated=True)), fields=('sha256',), name='base_model_unique_active_weights'),
        ),
        migrations.AddConstraint(
            model_name='basemodelsample',
            constraint=models.UniqueConstraint(fields=('base_model', 'index'), name='base_model_sample_unique_index'),
        ),
        migrations.AddConstraint(
            model_name='classimageset',
            constraint=models.UniqueConstraint(fields=('base_model', 'base_model_sha256', 'class_prompt', 'resolution', 'count', 'seed', 'steps'), name='class_image_set_unique_key'),
        ),
        migrations.AddConstraint(
            model_name='classimageset',
            constraint=models.CheckConstraint(condition=models.Q(('status__in', ['rendering', 'ready', 'failed'])), name='class_image_set_status_valid'),
        ),
        migrations.AddConstraint(
            model_name='classimageset',
            constraint=models.CheckConstraint(condition=models.Q(('count__gte', 1)), name='class_image_set_count_positive'),
        ),
        migrations.AddConstraint(
            model_name='classimage',
            constraint=models.UniqueConstraint(fields=('image_set', 'index'), name='class_image_unique_index'),
        ),
        migrations.AddConstraint(
            model_name='generatedimage',
            constraint=models.UniqueConstraint(fields=('job', 'index'), name='generated_image_unique_index'),
        ),
        migrations.AddConstraint(
            model_name='generatedimage',
            constraint=models.CheckConstraint(condition=models.Q(('likeness_status__in', ['pending', 'scored', 'no_face', 'face_too_small', 'unreadable', 'no_reference', 'not_applicable'])), name='generated_image_likeness_valid'),
        ),
        migrations.AddConstraint(
            model_name='generatedimage',
            constraint=models.CheckConstraint(condition=models.Q(('candidate_status__in', ['kept', 'pending', 'rejected'])), name='generated_image_candidate_valid'),
        ),
        migrations.AddConstraint(
            model_name='jobtransition',
            constraint=models.CheckConstraint(condition=models.Q(models.Q(('generation_job__isnull', True), ('lora_version__isnull', False)), models.Q(('generation_job__isnull', False), ('lora_version__isnull', True)), _connector='OR'), name='job_transition_one_subject'),
        ),
        migrations.AddConstraint(
            model_name='reproductioncheck',
            constraint=models.CheckConstraint(condition=models.Q(('status__in', ['queued', 'running', 'succeeded', 'failed', 'cancelled'])), name='reproduction_check_status_valid'),
        ),
        migrations.AddConstraint(
            model_name='loraversion',
            constraint=models.UniqueConstraint(fields=('persona', 'version'), name='lora_version_unique_number'),
        ),
        migrations.AddConstraint(
            model_name='loraversion',
            constraint=models.UniqueConstraint(condition=models.Q(('is_active', True)), fields=('persona',), name='lora_version_one_active_per_persona'),
        ),
        migrations.AddConstraint(
            model_name='loraversion',
            constraint=models.CheckConstraint(condition=models.Q(('status__in', ['queued', 'running', 'succeeded', 'failed', 'cancelled'])), name='lora_version_status_valid'),
        ),
        migrations.AddConstraint(
            model_name='loraversion',
            constraint=models.CheckConstraint(condition=models.Q(('progress_stage__in', ['', 'class_images', 'waiting_for_class_images', 'training'])), name='lora_version_progress_stage_valid'),
        ),
        migrations.AddConstraint(
            model_name='generationjob',
            constraint=models.CheckConstraint(condition=models.Q(('status__in', ['queued', 'running', 'succeeded', 'failed', 'cancelled'])), name='generation_job_status_valid'),
        ),
        migrations.AddConstraint(
            model_name='generationjob',
            constraint=models.CheckConstraint(condition=models.Q(('mode__in', ['txt2img', 'img2img', 'inpaint'])), name='generation_job_mode_valid'),
        ),
        migrations.AddConstraint(
            model_name='generationjob',
            constraint=models.CheckConstraint(condition=models.Q(('strength__isnull', True), models.Q(('strength__gt', 0), ('strength__lte', 1)), _connector='OR'), name='generation_job_strength_in_range'),
        ),
        migrations.AddConstraint(
            model_name='generationjob',
            constraint=models.CheckConstraint(condition=models.Q(('mode', 'txt2img'), models.Q(('init_sha256', ''), _negated=True), _connector='OR'), name='generation_job_init_image_recorded'),
        ),
        migrations.AddConstraint(
            model_name='generationjob',
            constraint=models.CheckConstraint(condition=models.Q(models.Q(('mode', 'inpaint'), _negated=True), models.Q(('mask_sha256', ''), _negated=True), _connector='OR'), name='generation_job_inpaint_mask_recorded'),
        ),
        migrations.AddConstraint(
            model_name='generationjob',
            constraint=models.CheckConstraint(condition=models.Q(('drafting_status__in', ['not_needed', 'pending', 'drafted', 'failed'])), name='generation_job_drafting_status_valid'),
        ),
        migrations.AddConstraint(
            model_name='generationjob',
            constraint=models.CheckConstraint(condition=models.Q(('drafting_status', 'not_needed'), ('status', 'succeeded'), _connector='OR'), name='generation_job_drafts_only_when_succeeded'),
        ),
        migrations.AddConstraint(
            model_name='generationjob',
            constraint=models.CheckConstraint(condition=models.Q(('best_of__gte', 1)), name='generation_job_best_of_positive'),
        ),
        migrations.RunPython(default_base_model_register, migrations.RunPython.noop),
    ]
