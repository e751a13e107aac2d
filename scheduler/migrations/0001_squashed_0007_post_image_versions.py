"""The scheduler app's schema as of release 0007, squashed, with the models that moved here from generation
(caption alternatives, content plans: their tables keep their names). A database at that release skips it."""

import django.db.models.deletion
import scheduler.models
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    initial = True

    replaces = [
        ('scheduler', '0001_initial'),
        ('scheduler', '0002_review_links'),
        ('scheduler', '0003_post_comments'),
        ('scheduler', '0004_slot_series'),
        ('scheduler', '0005_post_language'),
        ('scheduler', '0006_provenance_registry'),
        ('scheduler', '0007_post_image_versions'),
    ]

    dependencies = [
        ('generation', '0001_squashed_0015_lora_progress_stage'),
        ('personas', '0003_caption_rules'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name='ContentPlan',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('name', models.CharField(blank=True, max_length=200)),
                ('rows_total', models.PositiveIntegerField(default=0)),
                ('errors', models.JSONField(blank=True, default=list)),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('created_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
                ('workspace', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='content_plans', to='personas.workspace')),
            ],
            options={
                'db_table': 'generation_contentplan',
                'ordering': ['-created_at', '-id'],
            },
        ),
        migrations.CreateModel(
            name='Post',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('platform', models.CharField(choices=[('instagram', 'Instagram'), ('tiktok', 'TikTok'), ('x', 'X'), ('threads', 'Threads'), ('facebook', 'Facebook'), ('linkedin', 'LinkedIn'), ('pinterest', 'Pinterest')], max_length=16)),
                ('caption', models.TextField(blank=True)),
                ('hashtags', models.JSONField(blank=True, default=list)),
                ('disclosure_label', models.CharField(blank=True, max_length=200)),
                ('is_sponsored', models.BooleanField(default=False, help_text='Paid partnership: the caption must carry #ad.')),
                ('paid_partnership', models.BooleanField(default=False, help_text="Publish with the platform's paid-partnership flag (sponsored, or names a brand).")),
                ('language', models.CharField(default='en', help_text='Caption language code; "de+en" for a bilingual caption.', max_length=32)),
                ('scheduled_at', models.DateTimeField(blank=True, help_text='Stored in UTC.', null=True)),
                ('status', models.CharField(choices=[('draft', 'Draft'), ('in_review', 'In review'), ('changes_requested', 'Changes requested'), ('approved', 'Approved'), ('rejected', 'Rejected'), ('scheduled', 'Scheduled'), ('exported', 'Exported'), ('published', 'Published'), ('expired', 'Expired')], default='draft', max_length=20)),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('updated_at', models.DateTimeField(auto_now=True)),
                ('created_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
                ('persona', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='posts', to='personas.persona')),
                ('workspace', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='posts', to='personas.workspace')),
            ],
            options={
                'ordering': ['-created_at', '-id'],
            },
        ),
        migrations.CreateModel(
            name='CaptionAlternative',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('language', models.CharField(default='en', max_length=32)),
                ('instruction', models.CharField(blank=True, help_text='The rewrite asked for; blank: a draft.', max_length=32)),
                ('status', models.CharField(choices=[('pending', 'Pending'), ('ready', 'Ready'), ('failed', 'Failed')], default='ready', max_length=16)),
                ('caption', models.TextField(blank=True)),
                ('hashtags', models.JSONField(blank=True, default=list)),
                ('paid_partnership', models.BooleanField(default=False)),
                ('writer', models.CharField(blank=True, help_text='template, openai:<model> or transformers:<dir>', max_length=200)),
                ('fallback_reason', models.TextField(blank=True, help_text="Why the template caption stands in for the model's.")),
                ('repairs', models.JSONField(blank=True, default=list, help_text="What enforcement changed in the model's caption.")),
                ('error', models.TextField(blank=True)),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('requested_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
                ('post', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='caption_alternatives', to='scheduler.post')),
            ],
            options={
                'db_table': 'generation_captionalternative',
                'ordering': ['created_at', 'id'],
            },
        ),
        migrations.CreateModel(
            name='PostImage',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('image', models.ImageField(height_field='height', upload_to=scheduler.models.post_image_path, width_field='width')),
                ('width', models.PositiveIntegerField(default=0)),
                ('height', models.PositiveIntegerField(default=0)),
                ('sha256', models.CharField(max_length=64)),
                ('position', models.PositiveSmallIntegerField(default=0)),
                ('generated_image', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='post_images', to='generation.generatedimage')),
                ('post', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='images', to='scheduler.post')),
            ],
            options={
                'ordering': ['position', 'id'],
            },
        ),
        migrations.CreateModel(
            name='PostImageVersion',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('position', models.PositiveSmallIntegerField()),
                ('image', models.FileField(upload_to=scheduler.models.post_image_path)),
                ('width', models.PositiveIntegerField(default=0)),
                ('height', models.PositiveIntegerField(default=0)),
                ('sha256', models.CharField(max_length=64)),
                ('comment', models.TextField(blank=True)),
                ('replaced_at', models.DateTimeField(auto_now_add=True)),
                ('actor', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
                ('generated_image', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to='generation.generatedimage')),
                ('post', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='image_versions', to='scheduler.post')),
                ('replaced_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='previous_versions', to='scheduler.postimage')),
            ],
            options={
                'ordering': ['position', 'replaced_at', 'id'],
            },
        ),
        migrations.CreateModel(
            name='ReviewLink',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('scope', models.CharField(choices=[('range', "A persona's posts in a date range"), ('posts', 'Chosen posts')], max_length=8)),
                ('start', models.DateTimeField(blank=True, null=True)),
                ('end', models.DateTimeField(blank=True, null=True)),
                ('reviewer_name', models.CharField(help_text='The external reviewer the link is for.', max_length=120)),
                ('reviewer_email', models.EmailField(blank=True, max_length=254)),
                ('secret_sha256', models.CharField(max_length=64, unique=True)),
                ('expires_at', models.DateTimeField()),
                ('revoked_at', models.DateTimeField(blank=True, null=True)),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('created_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
                ('persona', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.CASCADE, related_name='review_links', to='personas.persona')),
                ('posts', models.ManyToManyField(blank=True, related_name='review_links', to='scheduler.post')),
                ('revoked_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
                ('workspace', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='review_links', to='personas.workspace')),
            ],
            options={
                'ordering': ['-created_at', '-id'],
            },
        ),
        migrations.CreateModel(
            name='PostTransition',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('from_status', models.CharField(choices=[('draft', 'Draft'), ('in_review', 'In review'), ('changes_requested', 'Changes requested'), ('approved', 'Approved'), ('rejected', 'Rejected'), ('scheduled', 'Scheduled'), ('exported', 'Exported'), ('published', 'Published'), ('expired', 'Expired')], max_length=20)),
                ('to_status', models.CharField(choices=[('draft', 'Draft'), ('in_review', 'In review'), ('changes_requested', 'Changes requested'), ('approved', 'Approved'), ('rejected', 'Rejected'), ('scheduled', 'Scheduled'), ('exported', 'Exported'), ('published', 'Published'), ('expired', 'Expired')], max_length=20)),
                ('comment', models.TextField(blank=True)),
                ('external_reviewer', models.CharField(blank=True, max_length=120)),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('actor', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
                ('post', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='transitions', to='scheduler.post')),
                ('review_link', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='decisions', to='scheduler.reviewlink')),
            ],
            options={
                'ordering': ['created_at', 'id'],
            },
        ),
        migrations.CreateModel(
            name='PostComment',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('external_reviewer', models.CharField(blank=True, max_length=120)),
                ('body', models.TextField()),
                ('mentions_notified_at', models.DateTimeField(blank=True, null=True)),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('author', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
                ('mentioned', models.ManyToManyField(blank=True, related_name='+', to=settings.AUTH_USER_MODEL)),
                ('post', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='comments', to='scheduler.post')),
                ('review_link', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='comments', to='scheduler.reviewlink')),
            ],
            options={
                'ordering': ['created_at', 'id'],
            },
        ),
        migrations.CreateModel(
            name='SlotSeries',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('name', models.CharField(help_text="How plan rows name it, e.g. 'tuesday-evening'.", max_length=64)),
                ('weekday', models.PositiveSmallIntegerField(help_text='0 = Monday ... 6 = Sunday.')),
                ('time', models.TimeField(help_text="Local wall time in the persona's timezone.")),
                ('starts_on', models.DateField(blank=True, null=True)),
                ('ends_on', models.DateField(blank=True, null=True)),
                ('is_active', models.BooleanField(default=True)),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('created_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
                ('persona', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='slot_series', to='personas.persona')),
            ],
            options={
                'ordering': ['persona', 'weekday', 'time', 'id'],
            },
        ),
        migrations.CreateModel(
            name='ContentPlanItem',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('row_number', models.PositiveIntegerField(help_text='Line in the imported text (the header is line 1).')),
                ('platform', models.CharField(max_length=16)),
                ('scene', models.TextField()),
                ('caption_brief', models.TextField(blank=True)),
                ('is_sponsored', models.BooleanField(default=False)),
                ('planned_at', models.DateTimeField(help_text='Stored in UTC; the drafts are slotted here.')),
                ('job', models.OneToOneField(on_delete=django.db.models.deletion.CASCADE, related_name='plan_item', to='generation.generationjob')),
                ('persona', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='personas.persona')),
                ('plan', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='items', to='scheduler.contentplan')),
                ('slot_series', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to='scheduler.slotseries')),
            ],
            options={
                'db_table': 'generation_contentplanitem',
                'ordering': ['plan', 'row_number'],
            },
        ),
        migrations.AddIndex(
            model_name='post',
            index=models.Index(fields=['workspace', 'status'], name='scheduler_p_workspa_15a802_idx'),
        ),
        migrations.AddIndex(
            model_name='post',
            index=models.Index(fields=['persona', 'scheduled_at'], name='scheduler_p_persona_d18f7f_idx'),
        ),
        migrations.AddConstraint(
            model_name='post',
            constraint=models.CheckConstraint(condition=models.Q(('status__in', ['draft', 'in_review', 'changes_requested', 'approved', 'rejected', 'scheduled', 'exported', 'published', 'expired'])), name='post_status_valid'),
        ),
        migrations.AddConstraint(
            model_name='post',
            constraint=models.CheckConstraint(condition=models.Q(('platform__in', ['instagram', 'tiktok', 'x', 'threads', 'facebook', 'linkedin', 'pinterest'])), name='post_platform_valid'),
        ),
        migrations.AddConstraint(
            model_name='captionalternative',
            constraint=models.CheckConstraint(condition=models.Q(('status__in', ['pending', 'ready', 'failed'])), name='caption_status_valid'),
        ),
        migrations.AddConstraint(
            model_name='reviewlink',
            constraint=models.CheckConstraint(condition=models.Q(('scope__in', ['range', 'posts'])), name='review_link_scope_valid'),
        ),
        migrations.AddConstraint(
            model_name='reviewlink',
            constraint=models.CheckConstraint(condition=models.Q(('scope', 'posts'), models.Q(('end__gt', models.F('start')), ('persona__isnull', False), ('start__isnull', False)), _connector='OR'), name='review_link_range_valid'),
        ),
        migrations.AddConstraint(
            model_name='postcomment',
            constraint=models.CheckConstraint(condition=models.Q(('body', ''), _negated=True), name='post_comment_body_not_empty'),
        ),
        migrations.AddConstraint(
            model_name='slotseries',
            constraint=models.CheckConstraint(condition=models.Q(('weekday__lte', 6)), name='slot_series_weekday_valid'),
        ),
        migrations.AddConstraint(
            model_name='slotseries',
            constraint=models.UniqueConstraint(fields=('persona', 'name'), name='slot_series_unique_name_per_persona'),
        ),
        migrations.AddConstraint(
            model_name='slotseries',
            constraint=models.CheckConstraint(condition=models.Q(('starts_on__isnull', True), ('ends_on__isnull', True), ('ends_on__gte', models.F('starts_on')), _connector='OR'), name='slot_series_range_valid'),
        ),
        migrations.AddConstraint(
            model_name='contentplanitem',
            constraint=models.UniqueConstraint(fields=('plan', 'row_number'), name='content_plan_item_unique_row'),
        ),
    ]
