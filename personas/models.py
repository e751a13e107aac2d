from __future__ import annotations

import zoneinfo

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models

from core.access import Role
from core.constants import BadgePosition
from core.languages import DEFAULT_LANGUAGE

DEFAULT_DISCLOSURE_LABEL = "AI-generated virtual influencer"


def validate_timezone(value: str) -> None:
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValidationError(f"'{value}' is not a known IANA timezone (e.g. Europe/Paris).") from None


class Workspace(models.Model):
    """A brand or client. Every object in the product belongs to exactly one workspace."""

    name = models.CharField(max_length=120)
    slug = models.SlugField(max_length=120, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    brand_names = models.JSONField(
        default=list, blank=True,
        help_text="Brands this workspace is paid by: a caption that names one is a paid partnership (#ad).",
    )
    disclosure_labels = models.JSONField(
        default=dict, blank=True,
        help_text='AI-disclosure label per caption language, over the built-in table, e.g. {"de": "KI-generiert"}.',
    )

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.MARKETER)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["workspace", "user"], name="membership_unique_user_per_workspace"),
            models.CheckConstraint(condition=models.Q(role__in=Role.values), name="membership_role_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.workspace} ({self.role})"


class CaptionLanguageMode(models.TextChoices):
    """How a persona with several caption languages posts: one post per language, or one bilingual caption."""

    PER_LOCALE = "per_locale", "One post per language"
    BILINGUAL = "bilingual", "One bilingual caption"


def default_caption_languages() -> list[str]:
    return [DEFAULT_LANGUAGE]


class Persona(models.Model):
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="personas")
    name = models.CharField(max_length=120)
    handle = models.CharField(max_length=64, help_text="Social handle without the @.")
    age = models.PositiveSmallIntegerField(help_text="Personas are always adults (18+).")
    pronouns = models.CharField(max_length=32, blank=True)
    bio = models.TextField(blank=True)
    appearance = models.TextField(blank=True, help_text="Appearance description used in prompts.")
    style_keywords = models.JSONField(default=list, blank=True)
    voice = models.TextField(blank=True, help_text="Voice and tone for drafted captions.")
    default_hashtags = models.JSONField(default=list, blank=True)
    trigger_token = models.CharField(max_length=32, help_text="Rare token that names the persona in prompts.")
    timezone = models.CharField(max_length=64, default="UTC", validators=[validate_timezone])
    target_platforms = models.JSONField(default=list, blank=True)
    disclosure_label = models.CharField(max_length=200, default=DEFAULT_DISCLOSURE_LABEL)
    ai_badge_enabled = models.BooleanField(
        default=False, help_text='Draw a visible "AI-generated" badge on every exported image.'
    )
    ai_badge_position = models.CharField(
        max_length=16, choices=BadgePosition.choices, default=BadgePosition.BOTTOM_RIGHT
    )
    # What the caption writer must respect (scheduler/captions): words it may never use, phrases every
    # caption carries, and captions the marketer liked (few-shot examples, with the persona's approved ones).
    banned_words = models.JSONField(default=list, blank=True)
    must_include = models.JSONField(default=list, blank=True)
    caption_examples = models.JSONField(default=list, blank=True)
    caption_languages = models.JSONField(
        default=default_caption_languages, blank=True, help_text='Language codes, first is the main one: ["de", "en"].'
    )
    caption_language_mode = models.CharField(
        max_length=16, choices=CaptionLanguageMode.choices, default=CaptionLanguageMode.PER_LOCALE
    )
    caption_urls_allowed = models.BooleanField(default=False, help_text="Captions may carry links.")
    # Likeness (personas/identity/faces.py). A mascot, product or drawn character is "not a human face": likeness is not
    # applicable to it anywhere. A persona based on a real person's likeness needs that person's consent at upload.
    is_human_face = models.BooleanField(
        default=True, help_text="Off for a mascot, product or stylised character: likeness is then not applicable."
    )
    based_on_real_person = models.BooleanField(
        default=False, help_text="Based on a real person's likeness: uploads must confirm that person's consent."
    )
    likeness_threshold = models.FloatField(
        null=True, blank=True,
        help_text="Face distance at or below which a draft is on-model; empty: the model's own (0.6 for dlib).",
    )
    hold_off_model_drafts = models.BooleanField(
        default=True, help_text="Keep off-model drafts out of the review queue, with the reason."
    )
    face_centroid = models.JSONField(
        null=True, blank=True, help_text="Centroid of the usable reference faces' embeddings (reference QA)."
    )
    face_backend = models.CharField(max_length=64, blank=True, help_text="The identity model of face_centroid.")
    min_post_gap_minutes = models.PositiveIntegerField(default=180)
    posting_slots = models.JSONField(default=list, blank=True, help_text='Local times like ["09:00", "18:30"].')
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["workspace", "handle"], name="persona_unique_handle_per_workspace"),
            models.CheckConstraint(condition=models.Q(age__gte=18), name="persona_age_adult"),
            models.CheckConstraint(
                condition=models.Q(ai_badge_position__in=BadgePosition.values), name="persona_badge_position_valid"
            ),
            models.CheckConstraint(
                condition=models.Q(caption_language_mode__in=CaptionLanguageMode.values),
                name="persona_caption_language_mode_valid",
            ),
            models.CheckConstraint(
                condition=models.Q(likeness_threshold__isnull=True)
                | models.Q(likeness_threshold__gt=0, likeness_threshold__lte=2),
                name="persona_likeness_threshold_range",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} (@{self.handle})"


class PersonaAgeChange(models.Model):
    """Audit row: every change of a persona's age is recorded."""

    persona = models.ForeignKey(Persona, on_delete=models.CASCADE, related_name="age_changes")
    old_age = models.PositiveSmallIntegerField()
    new_age = models.PositiveSmallIntegerField()
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    changed_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-changed_at"]


def reference_image_path(instance: ReferenceImage, filename: str) -> str:
    return f"workspaces/{instance.persona.workspace_id}/personas/{instance.persona_id}/references/{filename}"


RIGHTS_CONFIRMATION = (
    "I hold the rights to use these images to train a model of this persona and to publish images generated from it."
)
CONSENT_CONFIRMATION = (
    "The real person whose likeness this persona is based on has consented to it, including to AI-generated "
    "images of them being published."
)


class ReferenceUpload(models.Model):
    """The rights (and, for a persona based on a real person, consent) confirmation given with one upload."""

    persona = models.ForeignKey(Persona, on_delete=models.CASCADE, related_name="reference_uploads")
    confirmed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    confirmed_by_name = models.CharField(max_length=150, help_text="Username when confirmed (kept if deleted).")
    confirmed_at = models.DateTimeField(auto_now_add=True)
    rights_text = models.TextField(help_text="The rights statement the uploader confirmed, word for word.")
    consent_text = models.TextField(blank=True, help_text="The consent statement confirmed, when one was needed.")

    class Meta:
        ordering = ["-confirmed_at", "-id"]

    def __str__(self) -> str:
        return f"Upload for {self.persona} confirmed by {self.confirmed_by_name}"


class FaceFinding(models.TextChoices):
    """Reference QA of one photo (personas.identity.faces.ReferenceFinding, plus the states before and without it)."""

    PENDING = "pending", "Not checked yet"
    USABLE = "usable", "Usable"
    NO_FACE = "no_face", "No face"
    SEVERAL_FACES = "several_faces", "Several faces"
    FACE_TOO_SMALL = "face_too_small", "Face too small"
    OUTLIER = "outlier", "Different person"
    UNREADABLE = "unreadable", "Unreadable"
    NOT_APPLICABLE = "not_applicable", "Not applicable"


class ReferenceImage(models.Model):
    """A validated, re-encoded training photo (EXIF orientation applied, metadata stripped)."""

    persona = models.ForeignKey(Persona, on_delete=models.CASCADE, related_name="reference_images")
    image = models.ImageField(upload_to=reference_image_path, width_field="width", height_field="height")
    width = models.PositiveIntegerField(default=0)
    height = models.PositiveIntegerField(default=0)
    sha256 = models.CharField(max_length=64, help_text="Of the uploaded bytes, for duplicate detection.")
    original_filename = models.CharField(max_length=255, blank=True)
    caption = models.TextField(blank=True, help_text="Optional per-image training caption.")
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    upload = models.ForeignKey(
        ReferenceUpload, null=True, blank=True, on_delete=models.SET_NULL, related_name="images",
        help_text="The upload's rights / consent confirmation (none: uploaded without one).",
    )
    face_finding = models.CharField(max_length=16, choices=FaceFinding.choices, default=FaceFinding.PENDING)
    face_reason = models.TextField(blank=True)
    face_embedding = models.JSONField(null=True, blank=True)
    face_px = models.PositiveIntegerField(default=0, help_text="Side of the largest face, in pixels.")
    face_distance = models.FloatField(null=True, blank=True, help_text="Distance to the persona's face centroid.")
    face_backend = models.CharField(max_length=64, blank=True, help_text="The identity model of face_embedding.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["persona", "sha256"], name="reference_image_unique_per_persona"),
            models.CheckConstraint(
                condition=models.Q(face_finding__in=FaceFinding.values), name="reference_image_face_finding_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.original_filename or self.image.name} for {self.persona}"
