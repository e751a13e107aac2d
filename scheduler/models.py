from __future__ import annotations

from django.conf import settings
from django.db import models

from core.platforms import Platform
from generation.models import GenerationJob
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
    # Stored by the transition that puts the post in review, so the review queue orders thousands of posts by a
    # column instead of each post's latest transition (selectors.submitted_at).
    last_submitted_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=models.Q(status__in=PostStatus.values), name="post_status_valid"),
            models.CheckConstraint(condition=models.Q(platform__in=Platform.values), name="post_platform_valid"),
        ]
        indexes = [
            # A workspace's posts by status, and by time within one: the calendar's and the dashboard's ranges.
            models.Index(fields=["workspace", "status", "scheduled_at"]),
            models.Index(fields=["persona", "scheduled_at"]),
            models.Index(fields=["persona", "status"]),  # the dashboard's counts per persona
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
        # A post's latest transition to a status (when it was submitted, who asked for changes), for a queue.
        indexes = [models.Index(fields=["post", "to_status", "created_at"])]


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


class PostImageJob(models.Model):
    """A generation job made from a post's image: inpainting it gives the post a new version of that image (the old
    one is kept), img2img from it only borrows the picture. The job knows nothing of posts; this row does."""

    job = models.OneToOneField(GenerationJob, on_delete=models.CASCADE, related_name="post_target")
    post = models.ForeignKey(Post, on_delete=models.CASCADE, related_name="image_jobs")
    position = models.PositiveSmallIntegerField(default=0)
    replaces = models.BooleanField(
        default=False, help_text="inpaint: the result becomes the post's image at position, as a new version.")

    def __str__(self) -> str:
        return f"Job {self.job_id} on post {self.post_id} image {self.position}"


class CaptionStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    READY = "ready", "Ready"
    FAILED = "failed", "Failed"


class CaptionAlternative(models.Model):
    """A caption a writer offered for a post: one of the n alternatives drafted with it, or a rewrite asked for
    later ("shorter", "playful", ...). Using one copies it into the post."""

    post = models.ForeignKey(Post, on_delete=models.CASCADE, related_name="caption_alternatives")
    language = models.CharField(max_length=32, default="en")
    instruction = models.CharField(max_length=32, blank=True, help_text="The rewrite asked for; blank: a draft.")
    status = models.CharField(max_length=16, choices=CaptionStatus.choices, default=CaptionStatus.READY)
    caption = models.TextField(blank=True)
    hashtags = models.JSONField(default=list, blank=True)
    paid_partnership = models.BooleanField(default=False)
    writer = models.CharField(max_length=200, blank=True, help_text="template, openai:<model> or transformers:<dir>")
    fallback_reason = models.TextField(blank=True, help_text="Why the template caption stands in for the model's.")
    repairs = models.JSONField(default=list, blank=True, help_text="What enforcement changed in the model's caption.")
    error = models.TextField(blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "generation_captionalternative"
        ordering = ["created_at", "id"]
        constraints = [
            models.CheckConstraint(condition=models.Q(status__in=CaptionStatus.values), name="caption_status_valid"),
        ]

    def __str__(self) -> str:
        return f"Caption {self.pk} for post {self.post_id} ({self.status})"


class ContentPlan(models.Model):
    """An imported content plan: each valid row became a generation job whose drafts land in review slotted at the
    row's planned time; the invalid rows are kept here with their errors."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="content_plans")
    name = models.CharField(max_length=200, blank=True)
    rows_total = models.PositiveIntegerField(default=0)
    # [{"row": 7, "errors": ["..."], "values": {"persona": "...", ...}}] for every row that did not import.
    errors = models.JSONField(default=list, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "generation_contentplan"
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"Content plan {self.pk} ({self.name or 'pasted rows'})"


class ContentPlanItem(models.Model):
    """One imported row: what it asked for, when its post goes out, and the job that makes its drafts."""

    plan = models.ForeignKey(ContentPlan, on_delete=models.CASCADE, related_name="items")
    row_number = models.PositiveIntegerField(help_text="Line in the imported text (the header is line 1).")
    persona = models.ForeignKey(Persona, on_delete=models.CASCADE, related_name="+")
    platform = models.CharField(max_length=16)
    scene = models.TextField()
    caption_brief = models.TextField(blank=True)
    is_sponsored = models.BooleanField(default=False)
    planned_at = models.DateTimeField(help_text="Stored in UTC; the drafts are slotted here.")
    slot_series = models.ForeignKey(
        SlotSeries, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    job = models.OneToOneField(GenerationJob, on_delete=models.CASCADE, related_name="plan_item")

    class Meta:
        db_table = "generation_contentplanitem"
        ordering = ["plan", "row_number"]
        constraints = [models.UniqueConstraint(fields=["plan", "row_number"], name="content_plan_item_unique_row")]
