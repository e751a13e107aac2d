import io
from pathlib import Path

import pytest
from PIL import Image

from core.access import Role
from core.errors import NotFound, PermissionDenied, ValidationFailed
from personas import services
from personas.models import DEFAULT_DISCLOSURE_LABEL, Membership, Persona, PersonaAgeChange, ReferenceImage
from tests.factories import PersonaFactory, UserFactory
from tests.personas import imaging

pytestmark = pytest.mark.django_db

VALID = {"name": "Mira Sol", "handle": "mira.sol", "age": 25, "trigger_token": "ohwx"}


def stored_files(settings) -> list[Path]:
    root = Path(settings.MEDIA_ROOT)
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


# --- workspaces and memberships -----------------------------------------------------------------


def test_workspace_create_makes_owner_admin_and_unique_slug(user_factory):
    owner = user_factory()
    first = services.workspace_create(name="Acme Studio", owner=owner)
    second = services.workspace_create(name="Acme Studio", owner=owner)
    assert Membership.objects.get(workspace=first, user=owner).role == Role.ADMIN
    assert (first.slug, second.slug) == ("acme-studio", "acme-studio-2")


def test_membership_add_needs_workspace_admin(workspace, admin_member, marketer, user_factory):
    newcomer = user_factory()
    with pytest.raises(PermissionDenied):
        services.membership_add(workspace=workspace, user=newcomer, role=Role.REVIEWER, actor=marketer)
    membership = services.membership_add(workspace=workspace, user=newcomer, role=Role.REVIEWER, actor=admin_member)
    assert membership.role == Role.REVIEWER
    with pytest.raises(ValidationFailed, match="already a member"):
        services.membership_add(workspace=workspace, user=newcomer, role=Role.MARKETER, actor=admin_member)
    with pytest.raises(ValidationFailed, match="Unknown role"):
        services.membership_add(workspace=workspace, user=user_factory(), role="owner", actor=admin_member)


def test_membership_add_by_outsider_is_not_found(workspace, outsider, user_factory):
    with pytest.raises(NotFound):
        services.membership_add(workspace=workspace, user=user_factory(), role=Role.MARKETER, actor=outsider)


def test_last_admin_cannot_be_demoted(workspace, admin_member):
    membership = Membership.objects.get(user=admin_member)
    with pytest.raises(ValidationFailed, match="at least one admin"):
        services.membership_update(membership=membership, role=Role.MARKETER, actor=admin_member)
    assert Membership.objects.get(pk=membership.pk).role == Role.ADMIN


# --- personas ---------------------------------------------------------------------------------------


def test_persona_create_normalises_fields(workspace, marketer):
    persona = services.persona_create(
        actor=marketer,
        workspace=workspace,
        **VALID,
        timezone="America/New_York",
        target_platforms=["Instagram", "tiktok"],
        posting_slots=["18:30", "09:00"],
        default_hashtags=["travel", "#coffee"],
    )
    persona.refresh_from_db()
    assert persona.created_by == marketer
    assert persona.target_platforms == ["instagram", "tiktok"]
    assert persona.posting_slots == ["09:00", "18:30"]
    assert persona.default_hashtags == ["#travel", "#coffee"]
    assert persona.disclosure_label == DEFAULT_DISCLOSURE_LABEL


@pytest.mark.parametrize("age", [17, 0, -3])
def test_minor_age_is_refused_with_a_clear_error(workspace, marketer, age):
    with pytest.raises(ValidationFailed, match="must be 18 or older") as info:
        services.persona_create(actor=marketer, workspace=workspace, **{**VALID, "age": age})
    assert "age" in info.value.extra["fields"]
    assert not Persona.objects.exists()


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("timezone", "Mars/Olympus", "IANA timezone"),
        ("target_platforms", ["myspace"], "Unknown platforms: myspace"),
        ("posting_slots", ["9:00"], "HH:MM"),
        ("posting_slots", ["24:00"], "HH:MM"),
        ("handle", "has space", "Handles"),
        ("default_hashtags", ["two words"], "single words"),
        ("default_hashtags", ["#new-york"], "single words"),
        ("min_post_gap_minutes", -1, "between 0"),
    ],
)
def test_persona_field_rules(workspace, marketer, field, value, message):
    with pytest.raises(ValidationFailed, match=message) as info:
        services.persona_create(actor=marketer, workspace=workspace, **{**VALID, field: value})
    assert field in info.value.extra["fields"]


def test_missing_required_fields_are_listed(workspace, marketer):
    with pytest.raises(ValidationFailed, match="Missing required fields: handle, age"):
        services.persona_create(actor=marketer, workspace=workspace, name="X", trigger_token="ohwx")


def test_handle_is_unique_per_workspace_case_insensitively(workspace, marketer, outsider):
    services.persona_create(actor=marketer, workspace=workspace, **VALID)
    with pytest.raises(ValidationFailed, match="already used"):
        services.persona_create(actor=marketer, workspace=workspace, **{**VALID, "handle": "@Mira.Sol"})
    other_workspace = Membership.objects.get(user=outsider).workspace
    services.persona_create(actor=outsider, workspace=other_workspace, **VALID)  # fine elsewhere
    assert Persona.objects.filter(handle="mira.sol").count() == 2


def test_handle_race_is_a_clear_error_not_integrity_error(workspace, marketer, monkeypatch):
    services.persona_create(actor=marketer, workspace=workspace, **VALID)
    monkeypatch.setattr(services, "handle_taken", lambda **kwargs: False)  # the pre-check lost the race
    with pytest.raises(ValidationFailed, match="already used"):
        services.persona_create(actor=marketer, workspace=workspace, **VALID)


def test_reviewer_and_outsider_cannot_create(workspace, reviewer, outsider):
    with pytest.raises(PermissionDenied):
        services.persona_create(actor=reviewer, workspace=workspace, **VALID)
    with pytest.raises(NotFound):
        services.persona_create(actor=outsider, workspace=workspace, **VALID)


def test_age_change_is_recorded_with_who_old_and_new(persona, marketer):
    services.persona_update(actor=marketer, persona=persona, age=31, bio="New bio")
    persona.refresh_from_db()
    assert (persona.age, persona.bio) == (31, "New bio")
    change = PersonaAgeChange.objects.get(persona=persona)
    assert (change.old_age, change.new_age, change.changed_by) == (24, 31, marketer)

    services.persona_update(actor=marketer, persona=persona, age=31, voice="dry")
    assert PersonaAgeChange.objects.filter(persona=persona).count() == 1  # same age: nothing to record


def test_update_to_minor_changes_nothing(persona, marketer):
    with pytest.raises(ValidationFailed, match="18 or older"):
        services.persona_update(actor=marketer, persona=persona, age=16, bio="changed")
    persona.refresh_from_db()
    assert (persona.age, persona.bio) != (16, "changed")
    assert not PersonaAgeChange.objects.exists()


def test_update_handle_collision(persona, marketer):
    other = PersonaFactory(workspace=persona.workspace, handle="taken")
    with pytest.raises(ValidationFailed, match="already used"):
        services.persona_update(actor=marketer, persona=persona, handle="TAKEN")
    services.persona_update(actor=marketer, persona=other, handle="taken")  # its own handle is fine


def test_update_needs_marketer(persona, reviewer, outsider):
    with pytest.raises(PermissionDenied):
        services.persona_update(actor=reviewer, persona=persona, bio="x")
    with pytest.raises(NotFound):
        services.persona_update(actor=outsider, persona=persona, bio="x")


def test_persona_delete_is_admin_only(persona, marketer, admin_member):
    with pytest.raises(PermissionDenied):
        services.persona_delete(actor=marketer, persona=persona)
    services.persona_delete(actor=admin_member, persona=persona)
    assert not Persona.objects.filter(pk=persona.pk).exists()


# --- reference images -----------------------------------------------------------------------------


def test_upload_mixed_batch_keeps_good_files_and_explains_bad_ones(persona, marketer, settings):
    good_jpeg = imaging.jpeg(color=(10, 200, 10))
    files = [
        imaging.upload("front.jpg", good_jpeg, "image/jpeg"),
        imaging.upload("photo.gif", imaging.encode(imaging.photo(), "GIF"), "image/gif"),
        imaging.upload("small.png", imaging.png(300, 300)),
        imaging.upload("side.png", imaging.png(color=(0, 0, 250))),
        imaging.upload("again.jpg", good_jpeg, "image/jpeg"),
        imaging.upload("page.png", imaging.HTML),
        imaging.upload("broken.jpg", good_jpeg[:-200], "image/jpeg"),
        imaging.upload("poly.png", imaging.png(color=(1, 1, 1)) + imaging.zip_bytes()),
    ]

    result = services.reference_images_upload(actor=marketer, persona=persona, files=files)

    assert [img.original_filename for img in result.created] == ["front.jpg", "side.png"]
    messages = {e.filename: e.message for e in result.errors}
    assert messages["photo.gif"] == "photo.gif: only JPEG, PNG or WebP images are accepted"
    assert messages["small.png"].startswith("small.png: the image is 300x300")
    assert messages["again.jpg"] == "again.jpg: duplicate of front.jpg in this upload"
    assert "HTML/SVG/XML" in messages["page.png"]
    assert "truncated or damaged" in messages["broken.jpg"]
    assert "extra data" in messages["poly.png"]
    # Nothing half-written: exactly one row and one file per stored image.
    assert ReferenceImage.objects.filter(persona=persona).count() == 2
    assert len(stored_files(settings)) == 2
    stored = ReferenceImage.objects.get(original_filename="front.jpg")
    assert stored.image.name.endswith(".jpg")
    assert (stored.width, stored.height) == (512, 512)
    assert stored.uploaded_by == marketer


def test_duplicate_of_an_earlier_upload_is_refused(persona, marketer):
    data = imaging.png()
    services.reference_images_upload(actor=marketer, persona=persona, files=[imaging.upload("a.png", data)])
    result = services.reference_images_upload(actor=marketer, persona=persona, files=[imaging.upload("b.png", data)])
    assert result.created == []
    assert [str(e) for e in result.errors] == ["b.png: this image was already uploaded for this persona"]
    # The same photo for another persona is fine.
    other = PersonaFactory(workspace=persona.workspace)
    assert services.reference_images_upload(
        actor=marketer, persona=other, files=[imaging.upload("a.png", data)]
    ).created


def test_stored_copy_is_upright_and_has_no_metadata(persona, marketer):
    data = imaging.jpeg_with_orientation_and_gps(640, 512)
    result = services.reference_images_upload(actor=marketer, persona=persona, files=[imaging.upload("p.jpg", data)])
    image = result.created[0]
    with image.image.open("rb") as fh:
        stored = Image.open(io.BytesIO(fh.read()))
    assert stored.size == (512, 640)
    assert len(stored.getexif()) == 0
    assert image.sha256 == services.sha256_of(data)  # of the uploaded bytes, for duplicate detection


def test_oversized_file_is_refused_without_reading_it_all(persona, marketer, settings):
    data = imaging.png()
    settings.REFERENCE_IMAGE_MAX_BYTES = 1024
    result = services.reference_images_upload(actor=marketer, persona=persona, files=[imaging.upload("big.png", data)])
    assert result.errors[0].message == "big.png: the file is larger than the 1.0 KB limit"


def test_too_many_files_is_a_request_error(persona, marketer, monkeypatch):
    monkeypatch.setattr(services, "MAX_FILES_PER_UPLOAD", 2)
    files = [imaging.upload(f"{i}.png", imaging.png(color=(i, i, i))) for i in range(3)]
    with pytest.raises(ValidationFailed, match="At most 2 files"):
        services.reference_images_upload(actor=marketer, persona=persona, files=files)
    assert not ReferenceImage.objects.exists()


def test_upload_needs_marketer(persona, reviewer, outsider):
    files = [imaging.upload("a.png", imaging.png())]
    with pytest.raises(PermissionDenied):
        services.reference_images_upload(actor=reviewer, persona=persona, files=files)
    with pytest.raises(NotFound):
        services.reference_images_upload(actor=outsider, persona=persona, files=files)


def test_losing_an_upload_race_leaves_no_orphan_file(persona, marketer, settings, monkeypatch):
    real_validate = services.validate_reference_image

    def validate_then_lose_the_race(data):
        validated = real_validate(data)
        # Another request stores the same photo between our duplicate check and our INSERT.
        ReferenceImage.objects.create(
            persona=persona, sha256=validated.sha256, image="elsewhere.png", width=1, height=1
        )
        return validated

    monkeypatch.setattr(services, "validate_reference_image", validate_then_lose_the_race)
    result = services.reference_images_upload(
        actor=marketer, persona=persona, files=[imaging.upload("ok.png", imaging.png())]
    )
    assert result.created == []
    assert result.errors[0].message == "ok.png: this image was already uploaded for this persona"
    assert stored_files(settings) == []


def test_unexpected_failure_while_storing_removes_the_written_file(persona, marketer, settings, monkeypatch):
    def broken_save(self, *args, **kwargs):
        raise OSError("database went away")

    monkeypatch.setattr(ReferenceImage, "save", broken_save)
    with pytest.raises(OSError, match="went away"):
        services.reference_images_upload(
            actor=marketer, persona=persona, files=[imaging.upload("ok.png", imaging.png())]
        )
    assert stored_files(settings) == []


def test_reference_image_delete_removes_row_and_file(
    persona, marketer, reviewer, settings, django_capture_on_commit_callbacks
):
    image = services.reference_images_upload(
        actor=marketer, persona=persona, files=[imaging.upload("a.png", imaging.png())]
    ).created[0]
    with pytest.raises(PermissionDenied):
        services.reference_image_delete(actor=reviewer, image=image)
    with django_capture_on_commit_callbacks(execute=True):
        services.reference_image_delete(actor=marketer, image=image)
    assert not ReferenceImage.objects.filter(pk=image.pk).exists()
    assert stored_files(settings) == []


def test_superuser_may_act_without_membership(persona):
    root = UserFactory(is_superuser=True, is_staff=True)
    services.persona_update(actor=root, persona=persona, age=40)
    assert PersonaAgeChange.objects.get(persona=persona).changed_by == root


def test_superusers_pass_every_role_check_and_inactive_ones_none(persona, superuser, inactive_superuser):
    with pytest.raises(NotFound):
        services.persona_update(actor=inactive_superuser, persona=persona, age=41)
    membership = services.membership_add(
        workspace=persona.workspace, user=UserFactory(), role=Role.REVIEWER, actor=superuser
    )
    assert services.membership_update(membership=membership, role=Role.MARKETER, actor=superuser).role == Role.MARKETER
    services.persona_delete(actor=superuser, persona=persona)
    assert not Persona.objects.filter(pk=persona.pk).exists()
