"""Connected platform accounts and the publication of one post to one of them.

Tokens are stored encrypted (publishing.tokens); the model never exposes the plaintext. A Publication is the
exactly-once record of a post going out: its container ids are written before the platform is asked to publish.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

from personas.models import Persona
from scheduler.models import Post


class AccountPlatform(models.TextChoices):
    INSTAGRAM = "instagram", "Instagram"
    THREADS = "threads", "Threads"


class AccountStatus(models.TextChoices):
    CONNECTED = "connected", "Connected"
    RECONNECT_NEEDED = "reconnect_needed", "Reconnect needed"
    REVOKED = "revoked", "Revoked"


# An account that can still publish, or needs only a reconnect: one such row per persona and platform.
LIVE_ACCOUNT_STATUSES = (AccountStatus.CONNECTED, AccountStatus.RECONNECT_NEEDED)


class ConnectedAccount(models.Model):
    persona = models.ForeignKey(Persona, on_delete=models.CASCADE, related_name="connected_accounts")
    platform = models.CharField(max_length=16, choices=AccountPlatform.choices)
    platform_user_id = models.CharField(max_length=64)
    username = models.CharField(max_length=150, blank=True)
    status = models.CharField(max_length=20, choices=AccountStatus.choices, default=AccountStatus.CONNECTED)
    status_reason = models.TextField(blank=True, help_text="Why it needs a reconnect, in the platform's words.")
    # Fernet token of the access token (publishing.tokens); never serialised, never shown.
    access_token_encrypted = models.BinaryField(editable=False)
    token_expires_at = models.DateTimeField(null=True, blank=True)
    scopes = models.JSONField(default=list, blank=True)
    connected_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["persona", "platform", "-created_at"]
        constraints = [
            models.CheckConstraint(condition=models.Q(status__in=AccountStatus.values), name="account_status_valid"),
            models.CheckConstraint(
                condition=models.Q(platform__in=AccountPlatform.values), name="account_platform_valid"
            ),
            models.UniqueConstraint(
                fields=["persona", "platform"],
                condition=models.Q(status__in=LIVE_ACCOUNT_STATUSES),
                name="account_one_live_per_persona_platform",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_platform_display()} @{self.username or self.platform_user_id} ({self.status})"


class OAuthState(models.Model):
    """One authorization-code flow in progress: its `state` and PKCE verifier stay server-side, used once."""

    persona = models.ForeignKey(Persona, on_delete=models.CASCADE, related_name="+")
    platform = models.CharField(max_length=16, choices=AccountPlatform.choices)
    state = models.CharField(max_length=64, unique=True)
    code_verifier = models.CharField(max_length=128)
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    used_at = models.DateTimeField(null=True, blank=True)
    # sha256 of the code it was finished with: a replayed code is recognised and refused.
    code_sha256 = models.CharField(max_length=64, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(platform__in=AccountPlatform.values), name="oauth_state_platform_valid"
            ),
        ]


class PublicationStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    CREATING = "creating", "Creating the media container"
    CONTAINER_CREATED = "container_created", "Container created"
    PUBLISHING = "publishing", "Publishing"
    PUBLISHED = "published", "Published"
    FAILED = "failed", "Failed"
    WAITING = "waiting", "Waiting"


class Publication(models.Model):
    """One post going out through one account. Advanced only by publishing.publish.publication_run."""

    post = models.OneToOneField(Post, on_delete=models.CASCADE, related_name="publication")
    account = models.ForeignKey(ConnectedAccount, null=True, on_delete=models.SET_NULL, related_name="publications")
    status = models.CharField(max_length=20, choices=PublicationStatus.choices, default=PublicationStatus.QUEUED)
    # Storage names of the labelled files served to the platform, in image order (made once, so every fetch and
    # every retry sends the same bytes the origin registry knows).
    media_files = models.JSONField(default=list, blank=True)
    container_id = models.CharField(max_length=64, blank=True, help_text="The container media_publish is given.")
    child_container_ids = models.JSONField(default=list, blank=True)
    platform_media_id = models.CharField(max_length=64, blank=True)
    permalink = models.URLField(max_length=500, blank=True)
    ai_flag_reported = models.BooleanField(null=True, blank=True, help_text="What the platform says it labelled.")
    ai_flag_note = models.CharField(max_length=200, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    # The run that may advance this row until lease_until: two workers given the same post never both act on it.
    lease_token = models.CharField(max_length=32, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    published_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(status__in=PublicationStatus.values), name="publication_status_valid"
            ),
        ]
        indexes = [models.Index(fields=["status", "next_attempt_at"])]

    def __str__(self) -> str:
        return f"Publication of post {self.post_id} ({self.status})"
