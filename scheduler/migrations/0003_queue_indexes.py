"""Indexes for the pages at scale: a workspace's posts by status and time (the calendar's and the dashboard's
ranges), each persona's posts by status (the dashboard's counts), and each post's latest transition to a status (the
review queue's order by submission)."""

from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('personas', '0003_caption_rules'),
        ('scheduler', '0002_post_image_jobs'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.RemoveIndex(
            model_name='post',
            name='scheduler_p_workspa_15a802_idx',
        ),
        migrations.AddIndex(
            model_name='post',
            index=models.Index(fields=['workspace', 'status', 'scheduled_at'], name='scheduler_p_workspa_2cde9c_idx'),
        ),
        migrations.AddIndex(
            model_name='post',
            index=models.Index(fields=['persona', 'status'], name='scheduler_p_persona_d1e684_idx'),
        ),
        migrations.AddIndex(
            model_name='posttransition',
            index=models.Index(fields=['post', 'to_status', 'created_at'], name='scheduler_p_post_id_f80239_idx'),
        ),
    ]
