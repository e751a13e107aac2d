"""Reads. Every query that returns workspace data is scoped to the user's memberships here."""

from __future__ import annotations

from collections.abc import Iterable

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.db.models import Count, OuterRef, QuerySet, Subquery

from core.access import allowed_roles, role_allows
from core.captions import disclosure_label_compose, label_table_needed
from core.errors import NotFound, PermissionDenied
from core.languages import DEFAULT_LANGUAGE, language_clean
from personas.identity.backend import default_threshold
from personas.models import DEFAULT_DISCLOSURE_LABEL, FaceFinding, Membership, Persona, ReferenceImage, Workspace


def workspaces_for_user(*, user: AbstractBaseUser) -> QuerySet[Workspace]:
    if not user.is_authenticated:
        return Workspace.objects.none()
    return Workspace.objects.filter(memberships__user=user).distinct()


def workspace_ids_for_user(*, user: AbstractBaseUser) -> list[int]:
    if not user.is_authenticated:
        return []
    return list(Membership.objects.filter(user=user).values_list("workspace_id", flat=True))


def workspace_ids_query(*, user: AbstractBaseUser) -> QuerySet:
    """workspace_ids_for_user as a subquery: filtering by it costs no extra round trip."""
    if not user.is_authenticated:
        return Membership.objects.none().values("workspace_id")
    return Membership.objects.filter(user=user).values("workspace_id")


def membership_get(*, user: AbstractBaseUser, workspace_id: int) -> Membership | None:
    if not user.is_authenticated:
        return None
    return Membership.objects.filter(user=user, workspace_id=workspace_id).first()


def role_require(
    *, user: AbstractBaseUser, workspace_id: int, roles: Iterable[str], not_found: str = "Not found."
) -> Membership | None:
    """Allow the action or raise, by the one rule (core.access.role_allows). Returns the caller's
    membership: None for a superuser acting in a workspace they are not a member of.

    A non-member gets NotFound(`not_found`), not PermissionDenied: other workspaces' objects must not be
    discoverable, so callers pass the message a missing object gets. A member with the wrong role gets
    PermissionDenied.
    """
    membership = membership_get(user=user, workspace_id=workspace_id)
    if role_allows(user=user, role=membership.role if membership else None, roles=roles):
        return membership
    if membership is None:
        raise NotFound(not_found)
    names = ", ".join(sorted(allowed_roles(roles)))
    raise PermissionDenied(f"This action needs one of the roles: {names}; you are {membership.role}.")


def persona_list(*, user: AbstractBaseUser, workspace_id: int | None = None) -> QuerySet[Persona]:
    personas = Persona.objects.filter(workspace_id__in=workspace_ids_for_user(user=user))
    if workspace_id is not None:
        personas = personas.filter(workspace_id=workspace_id)
    return personas.select_related("workspace")


def persona_get(*, user: AbstractBaseUser, persona_id: int) -> Persona:
    persona = persona_list(user=user).filter(pk=persona_id).first()
    if persona is None:
        raise NotFound("Persona not found.")
    return persona


def reference_image_list(*, user: AbstractBaseUser, persona_id: int | None = None) -> QuerySet[ReferenceImage]:
    qs = ReferenceImage.objects.filter(persona__workspace_id__in=workspace_ids_for_user(user=user))
    if persona_id is not None:
        qs = qs.filter(persona_id=persona_id)
    return qs.select_related("persona", "upload")


def reference_profile_summary(*, persona: Persona, references: list[ReferenceImage] | None = None) -> dict:
    """Reference QA at a glance: not_applicable (not a human face), ready (enough usable faces to train) or
    too_few_faces; the usable count, how many training needs, the on-model threshold and counts by finding."""
    if references is not None:  # already loaded by the caller: no query
        counts: dict[str, int] = {}
        for reference in references:
            counts[reference.face_finding] = counts.get(reference.face_finding, 0) + 1
    else:
        counts = dict(
            persona.reference_images.order_by().values("face_finding").annotate(n=Count("id")).values_list(
                "face_finding", "n"
            )
        )
    needed = settings.LIKENESS_MIN_REFERENCE_FACES
    if not persona.is_human_face:
        return {"status": "not_applicable", "usable_faces": 0, "needed": 0, "threshold": None, "findings": counts}
    usable = counts.get(FaceFinding.USABLE, 0)
    return {
        "status": "ready" if usable >= needed else "too_few_faces", "usable_faces": usable, "needed": needed,
        "threshold": persona.likeness_threshold if persona.likeness_threshold is not None else default_threshold(),
        "findings": counts,
    }


def workspace_list_with_roles(*, user: AbstractBaseUser) -> QuerySet[Workspace]:
    """The user's workspaces, each annotated with `role` (the user's role there)."""
    if not user.is_authenticated:
        return Workspace.objects.none()
    role = Membership.objects.filter(workspace=OuterRef("pk"), user=user).values("role")[:1]
    return Workspace.objects.filter(memberships__user=user).annotate(role=Subquery(role)).distinct()


def workspace_get(*, user: AbstractBaseUser, workspace_id: int) -> Workspace:
    workspace = workspaces_for_user(user=user).filter(pk=workspace_id).first()
    if workspace is None:
        raise NotFound("Workspace not found.")
    return workspace


def memberships_for_user(*, user: AbstractBaseUser) -> list[Membership]:
    """The user's memberships with their workspaces, by workspace name (the pages' workspace switcher)."""
    if not user.is_authenticated:
        return []
    return list(Membership.objects.filter(user=user).select_related("workspace").order_by("workspace__name"))


def persona_in_workspaces(*, persona_id: int, workspace_ids: Iterable[int]) -> Persona | None:
    """The persona (with its workspace) if it belongs to one of these workspaces (the caller's), else None."""
    return (
        Persona.objects.select_related("workspace")
        .filter(pk=persona_id, workspace_id__in=list(workspace_ids))
        .first()
    )


def workspace_personas(*, workspace_id: int, limit: int = 200) -> list[Persona]:
    """A workspace's personas by name (internal: the caller has checked membership)."""
    return list(Persona.objects.filter(workspace_id=workspace_id).order_by("name")[:limit])


def persona_reference_images(*, persona: Persona) -> list[ReferenceImage]:
    return list(persona.reference_images.select_related("upload").order_by("created_at", "id"))


def persona_reference_image(*, persona: Persona, image_id: int) -> ReferenceImage | None:
    return persona.reference_images.filter(pk=image_id).first()


# --- caption languages and disclosure labels --------------------------------------------------------


def persona_caption_languages(persona: Persona) -> list[str]:
    """The persona's caption languages, main one first (English when none is set)."""
    codes = [code for code in (language_clean(c) for c in persona.caption_languages or []) if code]
    return list(dict.fromkeys(codes)) or [DEFAULT_LANGUAGE]


def disclosure_label_for(persona: Persona, language: str = DEFAULT_LANGUAGE) -> str:
    """The AI-disclosure label of a caption in `language` ("de+en": a bilingual caption, both labels), by
    core.captions' rule from the persona's own label and (read only when needed) its workspace's label table."""
    return disclosure_label_compose(
        language,
        persona_label=(persona.disclosure_label or "").strip() or DEFAULT_DISCLOSURE_LABEL,
        workspace_labels=persona.workspace.disclosure_labels if label_table_needed(language) else None,
    )
