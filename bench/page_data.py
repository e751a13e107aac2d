"""The workspaces bench/pages.py times: personas and posts in every state the pages list, built with bulk inserts.

Posts in review carry what a review card shows today: an image (half of them generated, best of 3, with the
other two candidates and a likeness score; some off-model), two caption alternatives and a comment; a share of
the drafts were sent back with a reviewer's comment.
"""

from __future__ import annotations

import datetime as dt

# Shares of each persona's posts: scheduled 40%, in review 25%, approved 15%, drafts 10%, published 10%.
SHARES = (("scheduled", 40), ("in_review", 25), ("approved", 15), ("draft", 10), ("published", 10))
BEST_OF = 3
BATCH = 500


def build_workspace(*, name: str, personas: int, posts_per_persona: int, start: dt.datetime):
    """(workspace, reviewer, first persona) of a new workspace with `personas` × `posts_per_persona` posts."""
    from django.contrib.auth import get_user_model

    from core.access import Role
    from core.platforms import Platform
    from personas.models import Membership, Persona, Workspace
    from scheduler.models import Post, PostStatus

    workspace = Workspace.objects.create(name=name, slug=name.lower().replace(" ", "-"))
    users = get_user_model().objects
    marketer = users.create_user(username=f"{workspace.slug}-marketer", password="bench-pw-1")
    reviewer = users.create_user(username=f"{workspace.slug}-reviewer", password="bench-pw-1")
    Membership.objects.create(workspace=workspace, user=marketer, role=Role.MARKETER)
    Membership.objects.create(workspace=workspace, user=reviewer, role=Role.REVIEWER)
    platforms = [Platform.INSTAGRAM, Platform.THREADS, Platform.X, Platform.LINKEDIN]
    in_review, drafts = [], []
    for p in range(personas):
        persona = Persona.objects.create(
            workspace=workspace, name=f"{name} persona {p}", handle=f"{workspace.slug}_{p}", age=25,
            trigger_token="sks", timezone=["Europe/Paris", "America/New_York", "Asia/Tokyo"][p % 3],
            target_platforms=["instagram", "threads"], posting_slots=["09:00", "12:30", "18:00"],
            min_post_gap_minutes=120, created_by=marketer,
        )
        rows = []
        for status, share in SHARES:
            count = posts_per_persona * share // 100
            for i in range(count):
                if status == PostStatus.SCHEDULED:  # two a day from today on
                    when = start + dt.timedelta(hours=12 * i + p)
                elif status == PostStatus.PUBLISHED:
                    when = start - dt.timedelta(hours=12 * (i + 1) + p)
                else:
                    when = None
                status_now = PostStatus.CHANGES_REQUESTED if status == PostStatus.DRAFT and i % 2 else status
                rows.append(Post(
                    workspace=workspace, persona=persona, platform=platforms[i % len(platforms)],
                    caption=f"Post {i} of {persona.name}: coffee, light and a city walk. {persona.disclosure_label}",
                    hashtags=["#travel", "#coffee"], disclosure_label=persona.disclosure_label,
                    status=status_now, scheduled_at=when, created_by=marketer,
                ))
        created = Post.objects.bulk_create(rows, batch_size=BATCH)
        in_review += [post for post in created if post.status == PostStatus.IN_REVIEW]
        drafts += [post for post in created if post.status == PostStatus.CHANGES_REQUESTED]
    _review_cards(workspace, marketer, reviewer, in_review, drafts)
    first_persona = Persona.objects.filter(workspace=workspace).order_by("pk").first()
    return workspace, reviewer, first_persona


def _review_cards(workspace, marketer, reviewer, in_review: list, drafts: list) -> None:
    """What the review queue shows of each post: its history, image, candidates, likeness, captions, comments."""
    from django.utils import timezone

    from generation.models import CandidateStatus, GeneratedImage, GenerationJob, LikenessStatus
    from scheduler.models import CaptionAlternative, Post, PostComment, PostImage, PostTransition

    PostTransition.objects.bulk_create(
        [PostTransition(post=post, actor=marketer, from_status="draft", to_status="in_review") for post in in_review]
        + [PostTransition(post=post, actor=reviewer, from_status="in_review", to_status="changes_requested",
                          comment="Warmer light, please.") for post in drafts],
        batch_size=BATCH,
    )
    # What the submit transition stores on each post.
    Post.objects.filter(pk__in=[post.pk for post in in_review]).update(last_submitted_at=timezone.now())
    generated = in_review[::2]
    jobs = GenerationJob.objects.bulk_create(
        [GenerationJob(persona_id=post.persona_id, platform=post.platform, scene="coffee at a terrace",
                       prompt="photo of sks person, coffee at a terrace", num_variants=1, best_of=BEST_OF,
                       steps=4, seed=1000 + i, status="succeeded")
         for i, post in enumerate(generated)],
        batch_size=BATCH,
    )
    images = []
    for i, job in enumerate(jobs):
        for candidate in range(BEST_OF):
            score = 0.82 - 0.1 * candidate - (0.5 if i % 7 == 0 else 0)  # every 7th post is off-model
            images.append(GeneratedImage(
                job=job, index=candidate, variant=0, candidate=candidate,
                candidate_status=CandidateStatus.KEPT if candidate == 0 else CandidateStatus.REJECTED,
                selection_reason="" if candidate == 0 else "Less like the persona than candidate 1.",
                image=f"workspaces/{workspace.pk}/generated/{job.pk}/{candidate}.png", width=1080, height=1350,
                sha256=f"{job.pk:032d}{candidate:032d}", seed=job.seed + candidate, base_model="tiny",
                prompt=job.prompt, steps=4, guidance=7.0, scheduler="dpmpp_2m_karras",
                stages={"base": {"steps": 4}}, environment={"torch": "bench", "diffusers": "bench"},
                likeness_status=LikenessStatus.SCORED, likeness_score=score, on_model=score >= 0.5,
                likeness_threshold=0.5, face_found=True,
            ))
    images = GeneratedImage.objects.bulk_create(images, batch_size=BATCH)
    kept = {image.job_id: image for image in images if image.candidate == 0}
    job_of = {post.pk: job for post, job in zip(generated, jobs, strict=True)}
    # Image rows only (the pages render their URLs, never the files).
    PostImage.objects.bulk_create(
        [PostImage(post=post, image=f"workspaces/{workspace.pk}/posts/{post.pk}/0.png", width=1080, height=1350,
                   sha256="0" * 64, position=0,
                   generated_image=kept[job_of[post.pk].pk] if post.pk in job_of else None)
         for post in in_review],
        batch_size=BATCH,
    )
    CaptionAlternative.objects.bulk_create(
        [CaptionAlternative(post=post, language="en", instruction=instruction, caption=caption,
                            hashtags=["#travel"], writer="template", requested_by=marketer if instruction else None)
         for post in in_review + drafts
         for instruction, caption in (("", post.caption), ("shorter", "Coffee, light, a walk."))],
        batch_size=BATCH,
    )
    PostComment.objects.bulk_create(
        [PostComment(post=post, author=reviewer, body="Love the light here.") for post in in_review],
        batch_size=BATCH,
    )
