"""A job made from a post's image is recorded here, above generation: the job's old target_post column (release
0015 of generation) is copied into PostImageJob rows and dropped. The content types of the models that moved here
from generation follow them."""

import django.db.models.deletion
from django.db import migrations, models

from core.moved_models import content_types_relabel

JOB_TABLE = "generation_generationjob"


def target_posts_move(apps, schema_editor):
    """Copy each job's target post into a PostImageJob row, then drop the column (it named a table above
    generation). A fresh database has no such column."""
    connection = schema_editor.connection
    with connection.cursor() as cursor:
        columns = {c.name for c in connection.introspection.get_table_description(cursor, JOB_TABLE)}
    if "target_post_id" not in columns:
        return
    GenerationJob = apps.get_model("generation", "GenerationJob")
    PostImageJob = apps.get_model("scheduler", "PostImageJob")
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT id, target_post_id, target_position, mode FROM {JOB_TABLE} "
                       "WHERE target_post_id IS NOT NULL")
        rows = cursor.fetchall()
    PostImageJob.objects.bulk_create([
        PostImageJob(job_id=job_id, post_id=post_id, position=position, replaces=mode == "inpaint")
        for job_id, post_id, position, mode in rows
    ])
    # Both old fields join the historical model first: on SQLite a removal rebuilds the table from the model's
    # fields, which would drop a column not yet contributed.
    target_post = models.ForeignKey(apps.get_model("scheduler", "Post"), null=True, on_delete=models.SET_NULL,
                                    related_name="+")
    target_position = models.PositiveSmallIntegerField(default=0)
    for name, field in (("target_post", target_post), ("target_position", target_position)):
        field.set_attributes_from_name(name)
        field.contribute_to_class(GenerationJob, name)
    for field in (target_post, target_position):
        schema_editor.remove_field(GenerationJob, field)



class Migration(migrations.Migration):

    dependencies = [
        ('contenttypes', '0002_remove_content_type_name'),
        ('generation', '0001_squashed_0015_lora_progress_stage'),
        ('scheduler', '0001_squashed_0007_post_image_versions'),
    ]

    operations = [
        migrations.CreateModel(
            name='PostImageJob',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('position', models.PositiveSmallIntegerField(default=0)),
                ('replaces', models.BooleanField(default=False, help_text="inpaint: the result becomes the post's image at position, as a new version.")),
                ('job', models.OneToOneField(on_delete=django.db.models.deletion.CASCADE, related_name='post_target', to='generation.generationjob')),
                ('post', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='image_jobs', to='scheduler.post')),
            ],
        ),
        migrations.RunPython(target_posts_move, migrations.RunPython.noop),
        migrations.RunPython(
            content_types_relabel(from_app="generation", to_app="scheduler",
                                  models=["captionalternative", "contentplan", "contentplanitem"]),
            migrations.RunPython.noop,
        ),
    ]
