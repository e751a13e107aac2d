import pytest

from core.access import Role
from core.errors import NotFound, PermissionDenied
from personas.selectors import persona_get, persona_list, role_require
from tests.factories import PersonaFactory

pytestmark = pytest.mark.django_db


def test_persona_list_only_shows_members_workspaces(persona, outsider):
    other = PersonaFactory()
    assert list(persona_list(user=persona.created_by)) == [persona]
    assert other not in persona_list(user=persona.created_by)
    with pytest.raises(NotFound):
        persona_get(user=outsider, persona_id=persona.pk)


def test_role_require_refuses_wrong_role_and_hides_from_outsiders(workspace, reviewer, admin_member, outsider):
    assert role_require(user=reviewer, workspace_id=workspace.pk, roles=[Role.REVIEWER]).role == Role.REVIEWER
    assert role_require(user=admin_member, workspace_id=workspace.pk, roles=[Role.REVIEWER]).role == Role.ADMIN
    with pytest.raises(PermissionDenied):
        role_require(user=reviewer, workspace_id=workspace.pk, roles=[Role.MARKETER])
    with pytest.raises(NotFound):
        role_require(user=outsider, workspace_id=workspace.pk, roles=[Role.MARKETER])


def test_page_reads_of_memberships_personas_and_references(persona, marketer, outsider):
    from django.contrib.auth.models import AnonymousUser

    from personas import selectors as persona_selectors
    from tests.factories import ReferenceImageFactory

    assert [m.workspace_id for m in persona_selectors.memberships_for_user(user=marketer)] == [persona.workspace_id]
    assert persona_selectors.memberships_for_user(user=AnonymousUser()) == []
    assert list(persona_selectors.workspace_ids_query(user=AnonymousUser())) == []
    mine = [persona.workspace_id]
    assert persona_selectors.persona_in_workspaces(persona_id=persona.pk, workspace_ids=mine) == persona
    outsider_ids = persona_selectors.workspace_ids_for_user(user=outsider)
    assert persona_selectors.persona_in_workspaces(persona_id=persona.pk, workspace_ids=outsider_ids) is None
    assert persona_selectors.workspace_personas(workspace_id=persona.workspace_id) == [persona]
    first, second = ReferenceImageFactory(persona=persona), ReferenceImageFactory(persona=persona)
    assert persona_selectors.persona_reference_images(persona=persona) == [first, second]
    assert persona_selectors.persona_reference_image(persona=persona, image_id=second.pk) == second
    assert persona_selectors.persona_reference_image(persona=persona, image_id=-1) is None
