import pytest
from django.contrib.auth.models import Permission
from django.test import Client

from core.access import Role
from personas.models import Membership, Persona, PersonaAgeChange
from tests.factories import MembershipFactory, PersonaFactory, ReferenceImageFactory, UserFactory, WorkspaceFactory

pytestmark = pytest.mark.django_db

PERSONA_CHANGELIST = "/admin/personas/persona/"


def staff_member(workspace, role=Role.MARKETER):
    user = UserFactory(is_staff=True)
    user.user_permissions.set(Permission.objects.filter(content_type__app_label="personas"))
    MembershipFactory(workspace=workspace, user=user, role=role)
    return user


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def two_workspaces(db):
    ws1, ws2 = WorkspaceFactory(name="Brand One"), WorkspaceFactory(name="Brand Two")
    return ws1, ws2, PersonaFactory(workspace=ws1, name="Mine"), PersonaFactory(workspace=ws2, name="Theirs")


def test_changelist_shows_only_own_workspace(two_workspaces):
    ws1, _, mine, theirs = two_workspaces
    response = logged_in(staff_member(ws1)).get(PERSONA_CHANGELIST)
    assert response.status_code == 200
    shown = list(response.context["cl"].queryset)
    assert shown == [mine]
    assert theirs.handle not in response.content.decode()


def test_other_workspace_change_and_delete_pages_are_404(two_workspaces):
    ws1, _, _, theirs = two_workspaces
    client = logged_in(staff_member(ws1))
    assert client.get(f"{PERSONA_CHANGELIST}{theirs.pk}/change/").status_code == 404
    assert client.get(f"{PERSONA_CHANGELIST}{theirs.pk}/delete/").status_code == 404
    assert client.post(f"{PERSONA_CHANGELIST}{theirs.pk}/delete/", {"post": "yes"}).status_code == 404
    assert client.get(f"{PERSONA_CHANGELIST}{theirs.pk}/history/").status_code == 404
    assert Persona.objects.filter(pk=theirs.pk).exists()


def test_reference_images_and_memberships_are_scoped(two_workspaces):
    ws1, ws2, mine, theirs = two_workspaces
    own_image, their_image = ReferenceImageFactory(persona=mine), ReferenceImageFactory(persona=theirs)
    MembershipFactory(workspace=ws2)
    client = logged_in(staff_member(ws1, role=Role.ADMIN))
    images = client.get("/admin/personas/referenceimage/")
    assert list(images.context["cl"].queryset) == [own_image]
    assert client.get(f"/admin/personas/referenceimage/{their_image.pk}/change/").status_code == 404
    memberships = client.get("/admin/personas/membership/")
    assert {m.workspace_id for m in memberships.context["cl"].queryset} == {ws1.pk}
    workspaces = client.get("/admin/personas/workspace/")
    assert list(workspaces.context["cl"].queryset) == [ws1]


def test_add_form_offers_only_own_workspaces(two_workspaces):
    ws1, ws2, _, _ = two_workspaces
    response = logged_in(staff_member(ws1)).get(f"{PERSONA_CHANGELIST}add/")
    choices = list(response.context["adminform"].form.fields["workspace"].queryset)
    assert choices == [ws1]


def test_reviewer_can_view_but_not_change(two_workspaces):
    ws1, _, mine, _ = two_workspaces
    client = logged_in(staff_member(ws1, role=Role.REVIEWER))
    assert client.get(PERSONA_CHANGELIST).status_code == 200
    page = client.get(f"{PERSONA_CHANGELIST}{mine.pk}/change/")
    assert page.status_code == 200
    assert not page.context["has_change_permission"]
    response = client.post(f"{PERSONA_CHANGELIST}{mine.pk}/change/", {"name": "Renamed"})
    assert response.status_code == 403
    mine.refresh_from_db()
    assert mine.name == "Mine"


def test_admin_edit_goes_through_the_service(two_workspaces):
    ws1, _, mine, _ = two_workspaces
    user = staff_member(ws1)
    form = {
        "name": mine.name,
        "handle": mine.handle,
        "age": 30,
        "pronouns": mine.pronouns,
        "bio": mine.bio,
        "appearance": mine.appearance,
        "style_keywords": '["film photo"]',
        "voice": mine.voice,
        "default_hashtags": '["#mira"]',
        "trigger_token": mine.trigger_token,
        "timezone": mine.timezone,
        "target_platforms": '["instagram"]',
        "disclosure_label": mine.disclosure_label,
        "min_post_gap_minutes": 120,
        "posting_slots": '["09:00"]',
        "ai_badge_position": mine.ai_badge_position,
        "age_changes-TOTAL_FORMS": 0,
        "age_changes-INITIAL_FORMS": 0,
        "reference_images-TOTAL_FORMS": 0,
        "reference_images-INITIAL_FORMS": 0,
    }
    client = logged_in(user)
    bad = client.post(f"{PERSONA_CHANGELIST}{mine.pk}/change/", {**form, "age": 17, "posting_slots": '["25:00"]'})
    assert bad.status_code == 200  # re-rendered with errors, not a crash
    assert "18 or older" in bad.content.decode()
    assert "HH:MM" in bad.content.decode()

    ok = client.post(f"{PERSONA_CHANGELIST}{mine.pk}/change/", form)
    assert ok.status_code == 302, ok.context["adminform"].form.errors if ok.context else ok
    change = PersonaAgeChange.objects.get(persona=mine)
    assert (change.old_age, change.new_age, change.changed_by) == (24, 30, user)


def test_superuser_sees_everything(two_workspaces):
    root = UserFactory(is_staff=True, is_superuser=True)
    response = logged_in(root).get(PERSONA_CHANGELIST)
    assert len(response.context["cl"].queryset) == 2


def test_staff_without_membership_sees_nothing(two_workspaces):
    user = UserFactory(is_staff=True)
    user.user_permissions.set(Permission.objects.filter(content_type__app_label="personas"))
    assert not Membership.objects.filter(user=user).exists()
    assert logged_in(user).get(PERSONA_CHANGELIST).status_code == 403


def test_admin_add_creates_through_the_service(two_workspaces):
    ws1, ws2, _, _ = two_workspaces
    user = staff_member(ws1)
    form = {
        "name": "Fresh",
        "handle": "fresh",
        "age": 22,
        "trigger_token": "ohwx",
        "timezone": "UTC",
        "disclosure_label": "AI-generated virtual influencer",
        "min_post_gap_minutes": 180,
        "style_keywords": "[]",
        "default_hashtags": "[]",
        "target_platforms": '["x"]',
        "posting_slots": "[]",
        "ai_badge_position": "bottom-right",
        "age_changes-TOTAL_FORMS": 0,
        "age_changes-INITIAL_FORMS": 0,
        "reference_images-TOTAL_FORMS": 0,
        "reference_images-INITIAL_FORMS": 0,
    }
    client = logged_in(user)
    foreign = client.post(f"{PERSONA_CHANGELIST}add/", {**form, "workspace": ws2.pk})
    assert foreign.status_code == 200  # not a valid choice
    assert not Persona.objects.filter(handle="fresh").exists()

    response = client.post(f"{PERSONA_CHANGELIST}add/", {**form, "workspace": ws1.pk})
    assert response.status_code == 302
    created = Persona.objects.get(handle="fresh")
    assert (created.workspace, created.created_by, created.target_platforms) == (ws1, user, ["x"])


def test_membership_add_in_admin_needs_workspace_admin(two_workspaces):
    ws1, _, _, _ = two_workspaces
    newcomer = UserFactory()
    marketer = logged_in(staff_member(ws1, role=Role.MARKETER))
    data = {"workspace": ws1.pk, "user": newcomer.pk, "role": Role.REVIEWER}
    assert marketer.post("/admin/personas/membership/add/", data).status_code == 403
    admin = logged_in(staff_member(ws1, role=Role.ADMIN))
    assert admin.post("/admin/personas/membership/add/", data).status_code == 302
    assert Membership.objects.get(workspace=ws1, user=newcomer).role == Role.REVIEWER


def test_only_superusers_add_workspaces_and_become_their_admin(two_workspaces):
    ws1, _, _, _ = two_workspaces
    data = {"name": "New Brand", "slug": "new-brand", "memberships-TOTAL_FORMS": 0, "memberships-INITIAL_FORMS": 0}
    assert logged_in(staff_member(ws1, role=Role.ADMIN)).post("/admin/personas/workspace/add/", data).status_code == 403
    root = UserFactory(is_staff=True, is_superuser=True)
    response = logged_in(root).post("/admin/personas/workspace/add/", data)
    assert response.status_code == 302
    assert Membership.objects.get(workspace__slug="new-brand", user=root).role == Role.ADMIN
