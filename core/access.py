"""Who may do what: workspace roles, the role groups actions ask for, and the one rule that decides.

Every role check in the product goes through `role_allows` (via personas.selectors.role_require):
- a workspace admin qualifies for every role group;
- an active superuser qualifies in every workspace, member or not. Superusers operate the installation
  (the Django admin, management commands), and an admin change to a post or a job must pass the same
  services as everyone else. What a user can *see* through the API and pages stays scoped to their
  memberships; this rule only decides what they may *do*.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db import models


class Role(models.TextChoices):
    MARKETER = "marketer", "Marketer"
    REVIEWER = "reviewer", "Reviewer"
    ADMIN = "admin", "Admin"


# Admins qualify for every group through `role_allows`, so the groups leave them out.
AUTHOR_ROLES = (Role.MARKETER,)  # personas, reference photos, posts, training runs, generation jobs
REVIEWER_ROLES = (Role.REVIEWER,)  # approve, request changes, reject
SCHEDULER_ROLES = (Role.MARKETER, Role.REVIEWER)  # schedule, publish, export
ADMIN_ROLES = (Role.ADMIN,)  # members, deleting a persona with everything it owns


def is_operator(user: Any) -> bool:
    """An active superuser: qualifies for every role in every workspace."""
    return bool(user is not None and getattr(user, "is_active", False) and getattr(user, "is_superuser", False))


def allowed_roles(roles: Iterable[str]) -> frozenset[str]:
    """The membership roles that satisfy an action asking for `roles`: those plus admin."""
    return frozenset(roles) | {Role.ADMIN}


def role_allows(*, user: Any, role: str | None, roles: Iterable[str]) -> bool:
    """The authorization rule. `role` is the user's membership role in the workspace (None: not a member)."""
    if is_operator(user):
        return True
    return role is not None and role in allowed_roles(roles)
