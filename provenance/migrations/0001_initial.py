"""Export bundles, export settings and the provenance registry, moved from scheduler with their tables: created
here only on a fresh database."""

import django.db.models.deletion
import provenance.models
from django.conf import settings
from django.db import migrations, models

from core.moved_models import UnlessTablesExist, content_types_relabel


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ('personas', '0003_caption_rules'),
        ('contenttypes', '0002_remove_content_type_name'),
        ('scheduler', '0001_squashed_0007_post_image_versions'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        UnlessTablesExist(
            tables=["scheduler_exportbundle", "scheduler_exportbundle_personas", "scheduler_exportsettings",
                    "scheduler_exportedimage"],
            operations=[
            migrations.CreateModel(
                name='ExportBundle',
                fields=[
                    ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                    ('start', models.DateTimeField()),
                    ('end', models.DateTimeField()),
                    ('status', models.CharField(choices=[('pending', 'Pending'), ('running', 'Running'), ('succeeded', 'Succeeded'), ('failed', 'Failed')], default='pending', max_length=16)),
                    ('progress', models.PositiveSmallIntegerField(default=0, help_text='0-100')),
                    ('file', models.FileField(blank=True, upload_to=provenance.models.export_bundle_path)),
                    ('sha256', models.CharField(blank=True, max_length=64)),
                    ('post_count', models.PositiveIntegerField(default=0)),
                    ('error', models.TextField(blank=True)),
                    ('verification', models.JSONField(blank=True, default=dict)),
                    ('created_at', models.DateTimeField(auto_now_add=True)),
                    ('finished_at', models.DateTimeField(blank=True, null=True)),
                    ('created_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
                    ('personas', models.ManyToManyField(related_name='export_bundles', to='personas.persona')),
                    ('workspace', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='export_bundles', to='personas.workspace')),
                ],
                options={
                    'db_table': 'scheduler_exportbundle',
                    'ordering': ['-created_at', '-id'],
                },
            ),
            migrations.CreateModel(
                name='ExportedImage',
                fields=[
                    ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                    ('public_id', models.UUIDField(db_index=True, editable=False, help_text='TC260 ProduceID of the image.')),
                    ('platform', models.CharField(choices=[('instagram', 'Instagram'), ('tiktok', 'TikTok'), ('x', 'X'), ('threads', 'Threads'), ('facebook', 'Facebook'), ('linkedin', 'LinkedIn'), ('pinterest', 'Pinterest')], max_length=16)),
                    ('position', models.PositiveSmallIntegerField(default=0)),
                    ('path', models.CharField(help_text='Path inside the bundle.', max_length=200)),
                    ('sha256', models.CharField(max_length=64)),
                    ('dwt_payload', models.CharField(db_index=True, help_text='dwtDctSvd payload, hex.', max_length=8)),
                    ('rivagan_payload', models.CharField(blank=True, db_index=True, help_text='RivaGAN payload, hex; blank where it did not embed.', max_length=8)),
                    ('fingerprints', models.JSONField(default=list, help_text='256-bit perceptual hashes, hex: the whole image, then centred crops.')),
                    ('created_at', models.DateTimeField(auto_now_add=True)),
                    ('bundle', models.ForeignKey(null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='images', to='provenance.exportbundle')),
                    ('persona', models.ForeignKey(null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='exported_images', to='personas.persona')),
                    ('post', models.ForeignKey(null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='exported_images', to='scheduler.post')),
                    ('post_image', models.ForeignKey(null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='exports', to='scheduler.postimage')),
                    ('workspace', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='exported_images', to='personas.workspace')),
                ],
                options={
                    'db_table': 'scheduler_exportedimage',
                    'ordering': ['-created_at', '-id'],
                },
            ),
            migrations.CreateModel(
                name='ExportSettings',
                fields=[
                    ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                    ('content_producer', models.CharField(blank=True, help_text="ContentProducer of the TC260:AIGC label (the service's registered name or code); blank: the product name.", max_length=100)),
                    ('hootsuite_time_rule', models.CharField(choices=[('round', 'Move to the nearest free 5-minute slot (changes listed)'), ('refuse', 'Stop the export and list the posts')], default='round', max_length=16)),
                    ('visible_label_style', models.CharField(choices=[('pill', "Small 'AI-generated' pill"), ('explicit', 'Explicit label, letters >= 5% of the shortest side (GB 45438-2025)'), ('eu_icon', "EU 'AI' icon (Code of Practice)")], default='pill', max_length=16)),
                    ('workspace', models.OneToOneField(on_delete=django.db.models.deletion.CASCADE, related_name='export_settings', to='personas.workspace')),
                ],
                options={
                    'verbose_name_plural': 'export settings',
                    'db_table': 'scheduler_exportsettings',
                },
            ),
            migrations.AddConstraint(
                model_name='exportbundle',
                constraint=models.CheckConstraint(condition=models.Q(('status__in', ['pending', 'running', 'succeeded', 'failed'])), name='export_status_valid'),
            ),
            migrations.AddConstraint(
                model_name='exportbundle',
                constraint=models.CheckConstraint(condition=models.Q(('end__gt', models.F('start'))), name='export_range_valid'),
            ),
            migrations.AddConstraint(
                model_name='exportbundle',
                constraint=models.CheckConstraint(condition=models.Q(('progress__lte', 100)), name='export_progress_max_100'),
            ),
            migrations.AddConstraint(
                model_name='exportsettings',
                constraint=models.CheckConstraint(condition=models.Q(('hootsuite_time_rule__in', ['round', 'refuse'])), name='export_hootsuite_rule_valid'),
            ),
            migrations.AddConstraint(
                model_name='exportsettings',
                constraint=models.CheckConstraint(condition=models.Q(('visible_label_style__in', ['pill', 'explicit', 'eu_icon'])), name='export_label_style_valid'),
            ),
            ],
        ),
        migrations.RunPython(
            content_types_relabel(from_app="scheduler", to_app="provenance",
                                  models=["exportbundle", "exportsettings", "exportedimage"]),
            migrations.RunPython.noop,
        ),
    ]
