"""One post image as published directly to a platform: the same labelled bytes an export bundle would ship
(platform size, badge, both watermarks, IPTC with TC260, C2PA), registered in the origin registry without a
bundle, so "Was this made here?" finds a published image as it finds an exported one."""

from __future__ import annotations

import io

from django.db import transaction
from PIL import Image

from provenance.bundles.build import produce_id, rivagan_payloads, tc260_label
from provenance.bundles.selectors import export_settings_get
from provenance.labeling import LabeledImage, badge_for_persona, post_image_label
from provenance.marks.fingerprint import fingerprints
from provenance.models import ExportedImage
from provenance.signing import signing_credentials_get
from scheduler.models import PostImage


def post_image_publish_label(*, post_image: PostImage) -> LabeledImage:
    """Label `post_image` as its export would and record it in the registry (one row per call: call it once per
    published file and keep the bytes)."""
    post = post_image.post
    settings = export_settings_get(workspace_id=post.workspace_id)
    public_id = produce_id(post_image)
    labeled = post_image_label(
        post_image=post_image,
        badge=badge_for_persona(post.persona, style=settings.visible_label_style),
        credentials=signing_credentials_get(),
        rivagan_payload_new=rivagan_payloads(post_image, set()),
        tc260=tc260_label(settings, public_id),
    )
    with Image.open(io.BytesIO(labeled.data)) as published:
        stored = fingerprints(published)
    with transaction.atomic():
        ExportedImage.objects.create(
            public_id=public_id, workspace_id=post.workspace_id, persona_id=post.persona_id, post=post,
            post_image=post_image, bundle=None, platform=post.platform, position=post_image.position,
            path=f"published/{post.pk}_{post_image.position}{labeled.extension}", sha256=labeled.sha256,
            dwt_payload=labeled.watermark, rivagan_payload=labeled.rivagan or "", fingerprints=stored,
        )
    return labeled
