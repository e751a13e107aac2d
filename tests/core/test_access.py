"""The one authorization rule, on its own; each app's tests show its services follow it."""

from types import SimpleNamespace

import pytest

from core.access import (
    ADMIN_ROLES,
    AUTHOR_ROLES,
    REVIEWER_ROLES,
    SCHEDULER_ROLES,
    Role,
    allowed_roles,
    is_operator,
    role_allows,
)

MEMBER = SimpleNamespace(is_active=True, is_superuser=False)
SUPERUSER = SimpleNamespace(is_active=True, is_superuser=True)
INACTIVE_SUPERUSER = SimpleNamespace(is_active=False, is_superuser=True)


@pytest.mark.parametrize(
    ("roles", "marketer", "reviewer"),
    [
        (AUTHOR_ROLES, True, False),
        (REVIEWER_ROLES, False, True),
        (SCHEDULER_ROLES, True, True),
        (ADMIN_ROLES, False, False),
    ],
)
def test_each_group_takes_its_roles_and_admins_take_every_group(roles, marketer, reviewer):
    assert role_allows(user=MEMBER, role=Role.MARKETER, roles=roles) is marketer
    assert role_allows(user=MEMBER, role=Role.REVIEWER, roles=roles) is reviewer
    assert role_allows(user=MEMBER, role=Role.ADMIN, roles=roles)
    assert Role.ADMIN in allowed_roles(roles)


def test_non_members_qualify_only_as_active_superusers():
    assert not role_allows(user=MEMBER, role=None, roles=AUTHOR_ROLES)
    assert role_allows(user=SUPERUSER, role=None, roles=ADMIN_ROLES)
    assert role_allows(user=SUPERUSER, role=Role.REVIEWER, roles=AUTHOR_ROLES)
    assert not role_allows(user=INACTIVE_SUPERUSER, role=None, roles=AUTHOR_ROLES)
    assert not role_allows(user=INACTIVE_SUPERUSER, role=Role.REVIEWER, roles=AUTHOR_ROLES)


def test_no_actor_is_never_an_operator():
    assert not is_operator(None)
    assert not role_allows(user=None, role=None, roles=AUTHOR_ROLES)
