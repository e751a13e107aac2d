"""The product's provenance registry (ExportedImage rows) as provenance.checks.origin reads it, and what a match shows.

A match is shown to anyone who holds the image, so by default only what the published image already says
in public: the persona's name and handle, the platform, the image's place in its post and its ProduceID
(written in the image's own TC260 label). Members of the workspace that exported it also see the ids
that lead to the post and the bundle; nobody else sees anything of that workspace.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from django.contrib.auth.base_user import AbstractBaseUser

from personas.selectors import workspace_ids_for_user
from provenance.checks.origin import origin_detect
from provenance.models import ExportedImage


class ExportRegistry:
    """provenance.checks.origin.Registry over the exported images; keys are ExportedImage ids."""

    def by_rivagan(self, payload: bytes) -> int | None:
        return ExportedImage.objects.filter(rivagan_payload=payload.hex()).values_list("pk", flat=True).first()

    def by_dwt(self, payload: bytes) -> int | None:
        # A post's image keeps its dwtDctSvd payload across re-exports: the latest export answers.
        rows = ExportedImage.objects.filter(dwt_payload=payload.hex()).order_by("-created_at", "-id")
        return rows.values_list("pk", flat=True).first()

    def fingerprints(self) -> Iterator[tuple[int, str]]:
        for pk, stored in ExportedImage.objects.values_list("pk", "fingerprints").iterator(chunk_size=2000):
            for fp in stored or []:
                yield pk, fp


def exported_image_describe(
    *, image_id: int, user: AbstractBaseUser | None, operator: bool = False
) -> dict[str, Any]:
    """What a matched image may show to `user` (anonymous or a member of any workspace); `operator` (the
    command line on the server) sees it as a member does."""
    row = ExportedImage.objects.select_related("persona").get(pk=image_id)
    facts: dict[str, Any] = {
        "persona": {"name": row.persona.name, "handle": row.persona.handle} if row.persona else None,
        "post": {"platform": row.platform, "image_position": row.position},
        "produce_id": str(row.public_id),
    }
    member = user is not None and user.is_authenticated and row.workspace_id in workspace_ids_for_user(user=user)
    if member or operator:
        facts["workspace_id"] = row.workspace_id
        facts["post"].update(id=row.post_id, post_image_id=row.post_image_id)
        facts["export"] = {"bundle_id": row.bundle_id, "path": row.path, "exported_at": row.created_at.isoformat()}
    return facts


def origin_check(*, data: bytes, user: AbstractBaseUser | None, operator: bool = False) -> dict[str, Any]:
    """ "Was this made here?" for an uploaded image: every layer, and the match as `user` may see it."""
    report = origin_detect(data, ExportRegistry())
    return report.as_dict(describe=lambda key: exported_image_describe(image_id=key, user=user, operator=operator))
