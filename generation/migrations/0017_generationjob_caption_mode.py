"""How the caption model answered for a job's posts (structured output, plain text, templates).

The column is added in place: on SQLite, Django adds a NOT NULL column by rebuilding the table from the model state,
and a database upgraded from the release still holds the target_post column that scheduler's 0002_post_image_jobs
copies out (it may run after this); the rebuild would drop it unread. SQLite's ALTER TABLE ADD COLUMN takes the
NOT NULL column with its default and its check; other databases add them the usual way."""

from django.db import migrations, models

TABLE = "generation_generationjob"
CONSTRAINT = "generation_job_caption_mode_valid"
MODES = ['', 'structured', 'plain', 'template']


def caption_mode_add(apps, schema_editor):
    GenerationJob = apps.get_model("generation", "GenerationJob")
    if schema_editor.connection.vendor == "sqlite":
        modes = ", ".join(f"'{mode}'" for mode in MODES)
        schema_editor.execute(
            f'ALTER TABLE "{TABLE}" ADD COLUMN "caption_mode" varchar(16) DEFAULT \'\' NOT NULL '
            f'CONSTRAINT "{CONSTRAINT}" CHECK ("caption_mode" IN ({modes}))'
        )
        return
    schema_editor.add_field(GenerationJob, GenerationJob._meta.get_field("caption_mode"))
    schema_editor.add_constraint(GenerationJob, next(c for c in GenerationJob._meta.constraints if c.name == CONSTRAINT))


def caption_mode_remove(apps, schema_editor):
    GenerationJob = apps.get_model("generation", "GenerationJob")
    constraint = next(c for c in GenerationJob._meta.constraints if c.name == CONSTRAINT)
    # The historical model without the check: SQLite removes a constraint by rebuilding the table from the model,
    # and drops a column only when no check names it.
    GenerationJob._meta.constraints = [c for c in GenerationJob._meta.constraints if c is not constraint]
    schema_editor.remove_constraint(GenerationJob, constraint)
    schema_editor.remove_field(GenerationJob, GenerationJob._meta.get_field("caption_mode"))


class Migration(migrations.Migration):

    dependencies = [
        ('generation', '0016_help_texts_name_the_rooms'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(state_operations=[
            migrations.AddField(
                model_name='generationjob',
                name='caption_mode',
                field=models.CharField(blank=True, choices=[('', 'Not captioned yet'), ('structured', 'Model, structured output'), ('plain', 'Model, plain text'), ('template', 'Templates (no model answered)')], default='', help_text="How the caption model answered in the last drafting: structured (JSON output), plain (text: a server without structured output, or one that ignored it), or template (no model, or it was down). Each caption's fallback reason says why one was refused.", max_length=16),
            ),
            migrations.AddConstraint(
                model_name='generationjob',
                constraint=models.CheckConstraint(condition=models.Q(('caption_mode__in', MODES)), name=CONSTRAINT),
            ),
        ]),
        migrations.RunPython(caption_mode_add, caption_mode_remove),
    ]
