"""Provenance's rows: export bundles, a workspace's export settings and the registry of exported images.

Their tables keep the names they had when exports lived in scheduler (db_table), so moving the models lost no row.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

from core.platforms import Platform
from personas.models import Persona, Workspace
from scheduler.models import Post, PostImage


class ExportStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


def export_bundle_path(instance: ExportBundle, filename: str) -> str:
    return f"workspaces/{instance.workspace_id}/exports/{filename}"


class ExportBundle(models.Model):
    """A ZIP of scheduled posts for a date range: images, manifest.json, bulk CSVs and an .ics."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="export_bundles")
    personas = models.ManyToManyField(Persona, related_name="export_bundles")
    start = models.DateTimeField()
    end = models.DateTimeField()
    status = models.CharField(max_length=16, choices=ExportStatus.choices, default=ExportStatus.PENDING)
    progress = models.PositiveSmallIntegerField(default=0, help_text="0-100")
    file = models.FileField(upload_to=export_bundle_path, blank=True)
    sha256 = models.CharField(max_length=64, blank=True)
    post_count = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    # provenance.checks.verify.bundle_verify's report on the built ZIP (VerificationReport.as_dict()).
    verification = models.JSONField(default=dict, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "scheduler_exportbundle"
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=models.Q(status__in=ExportStatus.values), name="export_status_valid"),
            models.CheckConstraint(condition=models.Q(end__gt=models.F("start")), name="export_range_valid"),
            models.CheckConstraint(condition=models.Q(progress__lte=100), name="export_progress_max_100"),
        ]

    def __str__(self) -> str:
        return f"Export {self.pk} ({self.status})"


class HootsuiteTimeRule(models.TextChoices):
    """What an export does with a post time Hootsuite's importer refuses (minutes not ending in 0 or 5)."""

    ROUND = "round", "Move to the nearest free 5-minute slot (changes listed)"
    REFUSE = "refuse", "Stop the export and list the posts"


class VisibleLabelStyle(models.TextChoices):
    """How a persona's visible AI label is drawn (provenance.marks.visible_labels)."""

    PILL = "pill", "Small 'AI-generated' pill"
    EXPLICIT = "explicit", "Explicit label, letters >= 5% of the shortest side (GB 45438-2025)"
    EU_ICON = "eu_icon", "EU 'AI' icon (Code of Practice)"


class ExportSettings(models.Model):
    """A workspace's provenance and importer choices for its exports; absent: the defaults."""

    workspace = models.OneToOneField(Workspace, on_delete=models.CASCADE, related_name="export_settings")
    content_producer = models.CharField(
        max_length=100,
        blank=True,
        help_text="ContentProducer of the TC260:AIGC label (the service's registered name or code); "
        "blank: the product name.",
    )
    hootsuite_time_rule = models.CharField(
        max_length=16, choices=HootsuiteTimeRule.choices, default=HootsuiteTimeRule.ROUND
    )
    visible_label_style = models.CharField(
        max_length=16, choices=VisibleLabelStyle.choices, default=VisibleLabelStyle.PILL
    )

    class Meta:
        db_table = "scheduler_exportsettings"
        verbose_name_plural = "export settings"
        constraints = [
            models.CheckConstraint(
                condition=models.Q(hootsuite_time_rule__in=HootsuiteTimeRule.values), name="export_hootsuite_rule_valid"
            ),
            models.CheckConstraint(
                condition=models.Q(visible_label_style__in=VisibleLabelStyle.values), name="export_label_style_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"Export settings of {self.workspace}"


class ExportedImage(models.Model):
    """The provenance registry: one row per image a kept bundle shipped, and what identifies it again.

    Written when the bundle is kept (provenance.bundles.build); read by the "Was this made here?" check
    (provenance.checks.origin_selectors). Rows outlive their post and bundle: the image is out in the world.
    """

    # The same for every export of one post image (provenance.bundles.build.produce_id).
    public_id = models.UUIDField(db_index=True, editable=False, help_text="TC260 ProduceID of the image.")
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="exported_images")
    persona = models.ForeignKey(Persona, null=True, on_delete=models.SET_NULL, related_name="exported_images")
    post = models.ForeignKey(Post, null=True, on_delete=models.SET_NULL, related_name="exported_images")
    post_image = models.ForeignKey(PostImage, null=True, on_delete=models.SET_NULL, related_name="exports")
    bundle = models.ForeignKey(ExportBundle, null=True, on_delete=models.SET_NULL, related_name="images")
    platform = models.CharField(max_length=16, choices=Platform.choices)
    position = models.PositiveSmallIntegerField(default=0)
    path = models.CharField(max_length=200, help_text="Path inside the bundle.")
    sha256 = models.CharField(max_length=64)
    dwt_payload = models.CharField(max_length=8, db_index=True, help_text="dwtDctSvd payload, hex.")
    # A re-export of a post image carries its earlier payload again; no other image ever gets it.
    rivagan_payload = models.CharField(
        max_length=8, blank=True, db_index=True, help_text="RivaGAN payload, hex; blank where it did not embed."
    )
    fingerprints = models.JSONField(
        default=list, help_text="256-bit perceptual hashes, hex: the whole image, then centred crops."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "scheduler_exportedimage"
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"Exported image {self.public_id}"
