"""The data the API contract test (test_schemathesis.py) runs against, written into its PostgreSQL database by a
subprocess: `python -m tests.security.contract_world` prints the tokens and the demo workspace's object ids as JSON.

The demo workspace as `make run` seeds it (its admin "demo", a persona with reference images), without training or
rendering (seconds, not minutes): a LoRA version, a job with images, posts in every early state, comments, caption
alternatives, a reproduction check, a slot series, a review link, a content plan and an export stand in for them.
A second workspace holds the outsider, a marketer there and nothing in the demo workspace.
"""

from __future__ import annotations

import datetime as dt
import json
import os


def seed() -> dict:
    from django.contrib.auth import get_user_model
    from django.utils import timezone
    from rest_framework.authtoken.models import Token

    from core.access import Role
    from generation.models import JobStatus, ReproductionCheck
    from personas.models import Persona
    from provenance.models import ExportBundle
    from scheduler.models import CaptionAlternative, ContentPlan, PostStatus
    from scheduler.review.comments import post_comment_add
    from scheduler.review.links import review_link_create
    from scheduler.slots.series import slot_series_create
    from tests.factories import (
        GeneratedImageFactory,
        GenerationJobFactory,
        LoraVersionFactory,
        MembershipFactory,
        PersonaFactory,
        PostFactory,
        PostImageFactory,
        UserFactory,
        WorkspaceFactory,
    )
    from web.demo import DEMO_WORKSPACE_SLUG, demo_workspace_seed

    demo_workspace_seed(train=False)
    users = get_user_model().objects
    admin, marketer = users.get(username="demo"), users.get(username="demo-marketer")
    persona = Persona.objects.get(workspace__slug=DEMO_WORKSPACE_SLUG, handle="mira.sol")
    workspace = persona.workspace

    lora = LoraVersionFactory(persona=persona, status=JobStatus.SUCCEEDED, created_by=marketer)
    job = GenerationJobFactory(persona=persona, lora_version=lora, status=JobStatus.SUCCEEDED, created_by=marketer)
    images = [GeneratedImageFactory(job=job, index=index) for index in range(2)]
    posts = []
    for index, status in enumerate((PostStatus.DRAFT, PostStatus.IN_REVIEW, PostStatus.APPROVED)):
        post = PostFactory(persona=persona, status=status, created_by=marketer)
        PostImageFactory(post=post, position=0, generated_image=images[index % len(images)])
        posts.append(post)
    alternative = CaptionAlternative.objects.create(post=posts[0], caption="Espresso o'clock. AI-generated",
                                                    writer="template")  # fmt: skip
    post_comment_add(actor=marketer, post_id=posts[1].pk, body="Brighter, please.")
    check = ReproductionCheck.objects.create(image=images[0], requested_by=marketer)
    series = slot_series_create(actor=marketer, persona=persona, name="Tuesday evening", weekday="tuesday",
                                time=dt.time(18, 0))  # fmt: skip
    link, _token = review_link_create(actor=admin, expires_at=timezone.now() + dt.timedelta(days=7),
                                      reviewer_name="Client", posts=[posts[1]])  # fmt: skip
    plan = ContentPlan.objects.create(workspace=workspace, name="Spring", created_by=marketer)
    bundle = ExportBundle.objects.create(workspace=workspace, start=timezone.now(), created_by=admin,
                                         end=timezone.now() + dt.timedelta(days=7))  # fmt: skip
    bundle.personas.add(persona)

    outsider = UserFactory(username="outsider")
    elsewhere = WorkspaceFactory(name="Elsewhere", slug="elsewhere")
    MembershipFactory(workspace=elsewhere, user=outsider, role=Role.MARKETER)
    PersonaFactory(workspace=elsewhere, created_by=outsider)

    # The ids of what the demo workspace holds, by the API collection (or path parameter) that names them.
    ids = {
        "workspaces": [workspace.pk],
        "personas": [persona.pk],
        "reference-images": list(persona.reference_images.values_list("pk", flat=True)[:2]),
        "lora-versions": [lora.pk],
        "generation-jobs": [job.pk],
        "generated-images": [image.pk for image in images],
        "reproduction-checks": [check.pk],
        "posts": [post.pk for post in posts],
        "caption-alternatives": [alternative.pk],
        "slot-series": [series.pk],
        "review-links": [link.pk],
        "content-plans": [plan.pk],
        "exports": [bundle.pk],
    }
    tokens = {name: Token.objects.create(user=user).key for name, user in (("admin", admin), ("outsider", outsider))}
    return {"tokens": tokens, "ids": ids}


if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    print(json.dumps(seed()))
