"""Each post's last submission for review, stored on the post (the review queue's order), filled from the audit
trail: the latest transition to "in review"."""

from django.db import migrations, models
from django.db.models import OuterRef, Subquery


def last_submissions_fill(apps, schema_editor):
    Post = apps.get_model("scheduler", "Post")
    PostTransition = apps.get_model("scheduler", "PostTransition")
    latest = (
        PostTransition.objects.filter(post=OuterRef("pk"), to_status="in_review")
        .order_by("-created_at")
        .values("created_at")[:1]
    )
    Post.objects.filter(transitions__to_status="in_review").distinct().update(last_submitted_at=Subquery(latest))


class Migration(migrations.Migration):

    dependencies = [
        ('scheduler', '0003_queue_indexes'),
    ]

    operations = [
        migrations.AddField(
            model_name='post',
            name='last_submitted_at',
            field=models.DateTimeField(blank=True, editable=False, null=True),
        ),
        migrations.RunPython(last_submissions_fill, migrations.RunPython.noop),
    ]
