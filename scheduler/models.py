from __future__ import annotations

from django.conf import settings
from django.db import models

from core.platforms import Platform
from personas.models import Persona, Workspace


class PostStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    IN_REVIEW = "in_review", "In review"
    CHANGES_REQUESTED = "changes_requested", "Changes requested"
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Rejected"
    SCHEDULED = "scheduled", "Scheduled"
    EXPORTED = "exported", "Exported"
    PUBLISHED = "published", "Published"
    EXPIRED = "expired", "Expired"


class Post(models.Model):
    # Denormalised from persona so every scoping query is one indexed filter.
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="posts")
    persona = models.ForeignKey(Persona, on_delete=models.CASCADE, related_name="posts")
    platform = models.CharField(max_length=16, choices=Platform.choices)
    caption = models.TextField(blank=True)
    hashtags = models.JSONField(default=list, blank=True)
    disclosure_label = models.CharField(max_length=200, blank=True)
    is_sponsored = models.BooleanField(default=False, help_text="Paid partnership: the caption must carry #ad.")
    paid_partnership = models.BooleanField(
        default=False, help_text="Publish with the platform's paid-partnership flag (sponsored, or names a brand)."
    )
    language = models.CharField(
        max_length=32, default="en", help_text='Caption language code; "de+en" for a bilingual caption.'
    )
    scheduled_at = models.DateTimeField(null=True, blank=True, help_text="Stored in UTC.")
    status = models.CharField(max_length=20, choices=PostStatus.choices, default=PostStatus.DRAFT)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=models.Q(status__in=PostStatus.values), name="post_status_valid"),
            models.CheckConstraint(condition=models.Q(platform__in=Platform.values), name="post_platform_valid"),
        ]
        indexes = [
            models.Index(fields=["workspace", "status"]),
            models.Index(fields=["persona", "scheduled_at"]),
        ]

    def __str__(self) -> str:
        return f"Post {self.pk} ({self.platform}, {self.status})"


def post_image_path(instance: PostImage, filename: str) -> str:
    return f"workspaces/{instance.post.workspace_id}/posts/{instance.post_id}/{filename}"


class PostImage(models.Model):
    """One image of a post; several make a carousel, ordered by position."""

    post = models.ForeignKey(Post, on_delete=models.CASCADE, related_name="images")
    image = models.ImageField(upload_to=post_image_path, width_field="width", height_field="height")
    width = models.PositiveIntegerField(default=0)
    height = models.PositiveIntegerField(default=0)
    sha256 = models.CharField(max_length=64)
    position = models.PositiveSmallIntegerField(default=0)
    generated_image = models.ForeignKey(
        "generation.GeneratedImage", null=True, blank=True, on_delete=models.SET_NULL, related_name="post_images"
    )

    class Meta:
        ordering = ["position", "id"]


class PostImageVersion(models.Model):
    """An image a post no longer shows: replaced at its position by a new version (an inpainted fix, say). Its file
    is kept, so the post's history shows every version; the current one is the post's PostImage."""

    post = models.ForeignKey(Post, on_delete=models.CASCADE, related_name="image_versions")
    position = models.PositiveSmallIntegerField()
    image = models.FileField(upload_to=post_image_path)
    width = models.PositiveIntegerField(default=0)
    height = models.PositiveIntegerField(default=0)
    sha256 = models.CharField(max_length=64)
    generated_image = models.ForeignKey(
        "generation.GeneratedImage", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    replaced_by = models.ForeignKey(PostImage, null=True, blank=True, on_delete=models.SET_NULL,
                                    related_name="previous_versions")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    comment = models.TextField(blank=True)
    replaced_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["position", "replaced_at", "id"]


class PostTransition(models.Model):
    """Audit row for every status change: who, when, from, to, comment."""

    post = models.ForeignKey(Post, on_delete=models.CASCADE, related_name="transitions")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    from_status = models.CharField(max_length=20, choices=PostStatus.choices)
    to_status = models.CharField(max_length=20, choices=PostStatus.choices)
    comment = models.TextField(blank=True)
    # A decision made through a client review link: no account, so the link and the reviewer it names.
    review_link = models.ForeignKey(
        "ReviewLink", null=True, blank=True, on_delete=models.SET_NULL, related_name="decisions"
    )
    external_reviewer = models.CharField(max_length=120, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]


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
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=models.Q(status__in=ExportStatus.values), name="export_status_valid"),
            models.CheckConstraint(condition=models.Q(end__gt=models.F("start")), name="export_range_valid"),
            models.CheckConstraint(condition=models.Q(progress__lte=100), name="export_progress_max_100"),
        ]

    def __str__(self) -> str:
        return f"Export {self.pk} ({self.status})"


class ReviewLinkScope(models.TextChoices):
    RANGE = "range", "A persona's posts in a date range"
    POSTS = "posts", "Chosen posts"


class ReviewLink(models.Model):
    """A link that lets a named external reviewer (a client, no account) see a set of posts and decide on them.

    Only the sha256 of the link's random secret is stored: the URL is shown once, when the link is created.
    """

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="review_links")
    scope = models.CharField(max_length=8, choices=ReviewLinkScope.choices)
    persona = models.ForeignKey(Persona, null=True, blank=True, on_delete=models.CASCADE, related_name="review_links")
    start = models.DateTimeField(null=True, blank=True)
    end = models.DateTimeField(null=True, blank=True)
    posts = models.ManyToManyField(Post, blank=True, related_name="review_links")
    reviewer_name = models.CharField(max_length=120, help_text="The external reviewer the link is for.")
    reviewer_email = models.EmailField(blank=True)
    secret_sha256 = models.CharField(max_length=64, unique=True)
    expires_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(scope__in=ReviewLinkScope.values), name="review_link_scope_valid"
            ),
            models.CheckConstraint(
                condition=models.Q(scope=ReviewLinkScope.POSTS)
                | models.Q(persona__isnull=False, start__isnull=False, end__gt=models.F("start")),
                name="review_link_range_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"Review link {self.pk} for {self.reviewer_name}"


class PostComment(models.Model):
    """A comment in a post's thread, by a workspace member or by a client review link's external reviewer."""

    post = models.ForeignKey(Post, on_delete=models.CASCADE, related_name="comments")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    review_link = models.ForeignKey(
        ReviewLink, null=True, blank=True, on_delete=models.SET_NULL, related_name="comments"
    )
    external_reviewer = models.CharField(max_length=120, blank=True)
    body = models.TextField()
    # Members @mentioned in the body, and when their notification emails went out (once).
    mentioned = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="+")
    mentions_notified_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [models.CheckConstraint(condition=~models.Q(body=""), name="post_comment_body_not_empty")]

    def __str__(self) -> str:
        return f"Comment {self.pk} on post {self.post_id}"


class SlotSeries(models.Model):
    """A persona's recurring posting slot, e.g. every Tuesday at 18:00 (a wall time in the persona's timezone).
    A content plan row can target it: the row takes the series' next free occurrence."""

    persona = models.ForeignKey(Persona, on_delete=models.CASCADE, related_name="slot_series")
    name = models.CharField(max_length=64, help_text="How plan rows name it, e.g. 'tuesday-evening'.")
    weekday = models.PositiveSmallIntegerField(help_text="0 = Monday ... 6 = Sunday.")
    time = models.TimeField(help_text="Local wall time in the persona's timezone.")
    starts_on = models.DateField(null=True, blank=True)
    ends_on = models.DateField(null=True, blank=True)
    is_active = models.BooleanField(default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["persona", "weekday", "time", "id"]
        constraints = [
            models.CheckConstraint(condition=models.Q(weekday__lte=6), name="slot_series_weekday_valid"),
            models.UniqueConstraint(fields=["persona", "name"], name="slot_series_unique_name_per_persona"),
            models.CheckConstraint(
                condition=models.Q(starts_on__isnull=True) | models.Q(ends_on__isnull=True)
                | models.Q(ends_on__gte=models.F("starts_on")),
                name="slot_series_range_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.persona})"


class HootsuiteTimeRule(models.TextChoices):
    """What an export does with a post time Hootsuite's importer refuses (minutes not ending in 0 or 5)."""

    ROUND = "round", "Move to the nearest free 5-minute slot (changes listed)"
    REFUSE = "refuse", "Stop the export and list the posts"


class VisibleLabelStyle(models.TextChoices):
    """How a persona's visible AI label is drawn (scheduler.visible_labels)."""

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

    Written when the bundle is kept (scheduler.exports); read by the "Was this made here?" check
    (scheduler.origin_selectors). Rows outlive their post and bundle: the image is out in the world.
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
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"Exported image {self.public_id}"
