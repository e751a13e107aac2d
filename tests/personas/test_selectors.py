import pytest

from config.exceptions import NotFound, PermissionDenied
from core.access import Role
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
