import datetime as dt
import hashlib
import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from PIL import Image

from core.access import Role
from core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from scheduler import services
from scheduler.models import Post, PostImage, PostStatus, PostTransition
from tests.factories import (
    GeneratedImageFactory,
    GenerationJobFactory,
    MembershipFactory,
    PostFactory,
    PostImageFactory,
    png_bytes,
)

pytestmark = pytest.mark.django_db

LABEL = "AI-generated virtual influencer"


def future(hours=24):
    return timezone.now() + dt.timedelta(hours=hours)


def make_post(persona, author, status=PostStatus.DRAFT, images=1, **kwargs):
    post = PostFactory(persona=persona, created_by=author, status=status, **kwargs)
    for position in range(images):
        PostImageFactory(post=post, position=position)
    return post


def transitions(post):
    return list(PostTransition.objects.filter(post=post).values_list("from_status", "to_status"))


# --- create / update -------------------------------------------------------------------------------


def test_post_create_stores_images_hashes_sizes_and_appends_the_label(persona, marketer):
    data = png_bytes(1080, 1350)
    buf = io.BytesIO()
    Image.new("RGB", (1080, 1080), (1, 2, 3)).save(buf, "JPEG")
    upload = SimpleUploadedFile("square.jpg", buf.getvalue(), content_type="image/jpeg")
    post = services.post_create(
        actor=marketer, persona=persona, platform="instagram", caption="Morning in Lisbon", images=[data, upload]
    )
    assert post.status == PostStatus.DRAFT and post.created_by == marketer and post.workspace_id == persona.workspace_id
    assert post.caption == f"Morning in Lisbon\n\n{LABEL}"
    assert post.disclosure_label == LABEL
    assert post.hashtags == persona.default_hashtags
    images = list(post.images.all())
    assert [(i.position, i.width, i.height) for i in images] == [(0, 1080, 1350), (1, 1080, 1080)]
    # Uploads are stored re-encoded (metadata stripped); the hash is of what is stored and exported.
    assert images[0].sha256 == hashlib.sha256(images[0].image.open("rb").read()).hexdigest()
    assert images[0].image.name.endswith(".png") and images[1].image.name.endswith(".jpg")


def test_post_create_refuses_polyglot_and_truncated_uploads_and_strips_gps(persona, marketer):
    zip_tail = png_bytes(1080, 1350) + b"PK\x03\x04" + b"payload" * 20
    with pytest.raises(ValidationFailed, match="polyglot.png"):
        services.post_create(
            actor=marketer, persona=persona, platform="instagram",
            images=[SimpleUploadedFile("polyglot.png", zip_tail, content_type="image/png")],
        )
    buf = io.BytesIO()
    Image.new("RGB", (1080, 1350), (9, 9, 9)).save(buf, "JPEG")
    with pytest.raises(ValidationFailed, match="cut.jpg"):
        services.post_create(
            actor=marketer, persona=persona, platform="instagram",
            images=[SimpleUploadedFile("cut.jpg", buf.getvalue()[: len(buf.getvalue()) // 2])],
        )
    assert not Post.objects.exists()

    exif = Image.Exif()
    exif[0x8825] = {1: "N", 2: (48.0, 51.0, 30.0)}  # GPS IFD
    buf = io.BytesIO()
    Image.new("RGB", (1080, 1350), (200, 10, 10)).save(buf, "JPEG", exif=exif.tobytes())
    assert b"Exif" in buf.getvalue()
    post = services.post_create(
        actor=marketer, persona=persona, platform="instagram",
        images=[SimpleUploadedFile("gps.jpg", buf.getvalue())],
    )
    with Image.open(post.images.get().image.open("rb")) as stored:
        assert not stored.getexif()


def test_post_create_keeps_an_existing_label_and_normalises_hashtags(persona, marketer):
    post = services.post_create(
        actor=marketer,
        persona=persona,
        platform="x",
        caption=f"Hi! ({LABEL.upper()})",
        hashtags=["travel", "#Travel", "#coffee #paris"],
    )
    assert post.caption == f"Hi! ({LABEL.upper()})"
    assert post.hashtags == ["#travel", "#coffee", "#paris"]


def test_post_create_copies_generated_images(persona, marketer):
    generated = GeneratedImageFactory(job=GenerationJobFactory(persona=persona))
    post = services.post_create(actor=marketer, persona=persona, platform="x", generated_images=[generated])
    image = post.images.get()
    assert image.generated_image == generated
    assert (image.width, image.height) == (512, 640)
    assert image.sha256 == hashlib.sha256(generated.image.open("rb").read()).hexdigest()
    assert image.image.name != generated.image.name


def test_post_create_refuses_bad_input_and_writes_nothing(persona, marketer, reviewer):
    with pytest.raises(ValidationFailed, match="Image 2: only JPEG, PNG or WebP images are accepted"):
        services.post_create(actor=marketer, persona=persona, platform="x", images=[png_bytes(), b"not an image"])
    buf = io.BytesIO()
    Image.new("RGB", (64, 64)).save(buf, "GIF")
    with pytest.raises(ValidationFailed, match="Image 1: only JPEG, PNG or WebP images are accepted"):
        services.post_create(actor=marketer, persona=persona, platform="x", images=[buf.getvalue()])
    other = GeneratedImageFactory()
    with pytest.raises(ValidationFailed, match="belongs to another persona"):
        services.post_create(actor=marketer, persona=persona, platform="x", generated_images=[other])
    with pytest.raises(ValidationFailed, match="Unknown platform"):
        services.post_create(actor=marketer, persona=persona, platform="myspace")
    with pytest.raises(ValidationFailed, match="not a valid hashtag"):
        services.post_create(actor=marketer, persona=persona, platform="x", hashtags=["#ok", "#no-dash"])
    with pytest.raises(ValidationFailed, match="in the past"):
        services.post_create(
            actor=marketer, persona=persona, platform="x", scheduled_at=timezone.now() - dt.timedelta(minutes=1)
        )
    with pytest.raises(PermissionDenied):
        services.post_create(actor=reviewer, persona=persona, platform="x")
    assert Post.objects.count() == 0 and PostImage.objects.count() == 0


def test_post_update_only_in_draft_or_changes_requested(persona, marketer):
    post = make_post(persona, marketer)
    updated = services.post_update(actor=marketer, post=post, caption=f"New {LABEL}", hashtags=["a"])
    assert (updated.caption, updated.hashtags) == (f"New {LABEL}", ["#a"])
    post.status = PostStatus.CHANGES_REQUESTED
    post.save()
    assert services.post_update(actor=marketer, post=post, is_sponsored=True).is_sponsored is True
    post.status = PostStatus.APPROVED
    post.save()
    with pytest.raises(Conflict, match=f"Post {post.pk} is approved; you cannot edit its caption"):
        services.post_update(actor=marketer, post=post, caption="sneaky")
    post.refresh_from_db()
    assert post.caption == f"New {LABEL}"
    with pytest.raises(ValidationFailed, match="Cannot edit status"):
        services.post_update(actor=marketer, post=post, status=PostStatus.SCHEDULED)


def test_post_update_refuses_reviewers_and_outsiders(persona, marketer, reviewer, outsider):
    post = make_post(persona, marketer)
    with pytest.raises(PermissionDenied):
        services.post_update(actor=reviewer, post=post, caption="x")
    with pytest.raises(NotFound):
        services.post_update(actor=outsider, post=post, caption="x")


# --- the review path -------------------------------------------------------------------------------


def test_full_happy_path_writes_one_audit_row_per_transition(persona, marketer, reviewer):
    post = make_post(persona, marketer)
    when = future(48)
    services.post_submit(actor=marketer, post_id=post.pk, comment="ready")
    services.post_approve(actor=reviewer, post_id=post.pk, comment="lovely")
    scheduled = services.post_schedule(actor=marketer, post_id=post.pk, scheduled_at=when)
    assert scheduled.status == PostStatus.SCHEDULED and scheduled.scheduled_at == when
    services.post_mark_exported(actor=marketer, post_id=post.pk, bundle_id=7)
    services.post_mark_exported(actor=marketer, post_id=post.pk, bundle_id=7)  # idempotent
    published = services.post_mark_published(actor=reviewer, post_id=post.pk)
    assert published.status == PostStatus.PUBLISHED
    rows = list(PostTransition.objects.filter(post=post))
    assert [(r.actor, r.from_status, r.to_status, r.comment) for r in rows] == [
        (marketer, "draft", "in_review", "ready"),
        (reviewer, "in_review", "approved", "lovely"),
        (marketer, "approved", "scheduled", ""),
        (marketer, "scheduled", "exported", "Exported in bundle 7."),
        (reviewer, "exported", "published", ""),
    ]


def test_changes_requested_then_edit_then_review_again(persona, marketer, reviewer):
    post = make_post(persona, marketer, status=PostStatus.IN_REVIEW)
    services.post_request_changes(actor=reviewer, post_id=post.pk, comment="Warmer tone please")
    services.post_update(actor=marketer, post=post, caption=f"Warmer! {LABEL}")
    assert services.post_submit(actor=marketer, post_id=post.pk).status == PostStatus.IN_REVIEW
    row = PostTransition.objects.filter(post=post).first()
    assert (row.actor, row.to_status, row.comment) == (reviewer, "changes_requested", "Warmer tone please")
    assert transitions(post)[-1] == ("changes_requested", "in_review")


def test_reject_is_final_and_needs_a_comment(persona, marketer, reviewer):
    post = make_post(persona, marketer, status=PostStatus.IN_REVIEW)
    with pytest.raises(ValidationFailed, match="comment is required"):
        services.post_reject(actor=reviewer, post_id=post.pk, comment="  ")
    with pytest.raises(ValidationFailed, match="comment is required"):
        services.post_request_changes(actor=reviewer, post_id=post.pk, comment="")
    assert transitions(post) == []
    services.post_reject(actor=reviewer, post_id=post.pk, comment="Off brand")
    with pytest.raises(Conflict, match="is rejected; only drafts or posts with changes requested"):
        services.post_submit(actor=marketer, post_id=post.pk)


@pytest.mark.parametrize(
    ("service", "status", "message"),
    [
        (
            "post_submit",
            PostStatus.APPROVED,
            "is approved; only drafts or posts with changes requested can be submitted",
        ),
        ("post_approve", PostStatus.APPROVED, "is approved; only posts in review can be approved"),
        ("post_approve", PostStatus.DRAFT, "is draft; only posts in review can be approved"),
        ("post_request_changes", PostStatus.SCHEDULED, "is scheduled; only posts in review can be sent back"),
        ("post_reject", PostStatus.DRAFT, "is draft; only posts in review can be rejected"),
        ("post_schedule", PostStatus.IN_REVIEW, "is in review; only approved posts can be scheduled"),
        ("post_unschedule", PostStatus.APPROVED, "is approved; only scheduled posts can be unscheduled"),
        ("post_reschedule", PostStatus.APPROVED, "is approved; only scheduled posts can be rescheduled"),
        ("post_mark_exported", PostStatus.APPROVED, "only scheduled posts can be marked exported"),
        ("post_mark_published", PostStatus.APPROVED, "only scheduled posts or exported posts can be marked published"),
    ],
)
def test_wrong_source_state_is_a_conflict_naming_both_states(persona, marketer, admin_member, service, status, message):
    post = make_post(persona, marketer, status=status, scheduled_at=future())
    kwargs = {"actor": admin_member, "post_id": post.pk}
    if service in ("post_request_changes", "post_reject"):
        kwargs["comment"] = "because"
    if service in ("post_schedule", "post_reschedule"):
        kwargs["scheduled_at"] = future(30)
    with pytest.raises(Conflict) as exc:
        getattr(services, service)(**kwargs)
    assert exc.value.message.startswith(f"Post {post.pk} is ") and message in exc.value.message
    assert exc.value.extra["status"] == status
    post.refresh_from_db()
    assert post.status == status and transitions(post) == []


@pytest.mark.parametrize(
    ("service", "status", "role"),
    [
        ("post_approve", PostStatus.IN_REVIEW, Role.MARKETER),
        ("post_request_changes", PostStatus.IN_REVIEW, Role.MARKETER),
        ("post_reject", PostStatus.IN_REVIEW, Role.MARKETER),
        ("post_submit", PostStatus.DRAFT, Role.REVIEWER),
    ],
)
def test_wrong_role_is_permission_denied(persona, marketer, workspace, service, status, role):
    post = make_post(persona, marketer, status=status)
    actor = MembershipFactory(workspace=workspace, role=role).user
    with pytest.raises(PermissionDenied, match="needs one of the roles"):
        getattr(services, service)(actor=actor, post_id=post.pk, comment="because")
    assert transitions(post) == []


def test_outsider_gets_not_found(persona, marketer, outsider):
    post = make_post(persona, marketer, status=PostStatus.IN_REVIEW)
    with pytest.raises(NotFound):
        services.post_approve(actor=outsider, post_id=post.pk)
    with pytest.raises(NotFound):
        services.post_approve(actor=outsider, post_id=999_999)


def test_nobody_approves_their_own_post_not_even_an_admin(persona, admin_member, reviewer):
    post = make_post(persona, admin_member, status=PostStatus.IN_REVIEW)
    with pytest.raises(PermissionDenied, match=f"You created post {post.pk}; someone else has to approve it"):
        services.post_approve(actor=admin_member, post_id=post.pk)
    assert services.post_approve(actor=reviewer, post_id=post.pk).status == PostStatus.APPROVED


def test_whoever_submitted_the_version_under_review_cannot_approve_it(persona, marketer, admin_member, reviewer):
    # An admin rewrites a marketer's draft and sends it to review: the admin is now an author of it.
    post = make_post(persona, marketer, status=PostStatus.DRAFT)
    services.post_update(actor=admin_member, post=post, caption=f"Rewritten by the admin. {LABEL}")
    services.post_submit(actor=admin_member, post_id=post.pk)
    with pytest.raises(PermissionDenied, match=f"You submitted post {post.pk} for review"):
        services.post_approve(actor=admin_member, post_id=post.pk)
    assert Post.objects.get(pk=post.pk).status == PostStatus.IN_REVIEW
    assert services.post_approve(actor=reviewer, post_id=post.pk).status == PostStatus.APPROVED


def test_approval_and_scheduling_need_the_disclosure_label(persona, marketer, reviewer):
    post = make_post(persona, marketer, status=PostStatus.IN_REVIEW, caption="No label here")
    with pytest.raises(ValidationFailed, match=f'must include the AI-disclosure label "{LABEL}"'):
        services.post_approve(actor=reviewer, post_id=post.pk)
    unlabeled = make_post(persona, marketer, status=PostStatus.APPROVED, caption="Still none")
    with pytest.raises(ValidationFailed, match="cannot be scheduled: its caption must include"):
        services.post_schedule(actor=marketer, post_id=unlabeled.pk, scheduled_at=future())
    labelled = make_post(persona, marketer, status=PostStatus.IN_REVIEW, caption=f"ok {LABEL.lower()}")
    assert services.post_approve(actor=reviewer, post_id=labelled.pk).status == PostStatus.APPROVED


def test_sponsored_posts_need_hash_ad(persona, marketer, reviewer):
    post = make_post(persona, marketer, status=PostStatus.IN_REVIEW, is_sponsored=True, hashtags=["#adventure"])
    with pytest.raises(ValidationFailed, match="sponsored and cannot be approved without #ad"):
        services.post_approve(actor=reviewer, post_id=post.pk)
    post.hashtags = ["#AD"]
    post.save()
    assert services.post_approve(actor=reviewer, post_id=post.pk).status == PostStatus.APPROVED
    in_caption = make_post(
        persona, marketer, status=PostStatus.IN_REVIEW, is_sponsored=True, caption=f"#ad Partner drop {LABEL}"
    )
    assert services.post_approve(actor=reviewer, post_id=in_caption.pk).status == PostStatus.APPROVED


def test_platform_rules_block_submit_with_all_messages(persona, marketer):
    post = make_post(persona, marketer, images=0, caption="x" * 2300)
    with pytest.raises(ValidationFailed) as exc:
        services.post_submit(actor=marketer, post_id=post.pk)
    assert exc.value.code == "platform_rules"
    assert len(exc.value.extra["errors"]) == 2
    assert "2,200" in exc.value.message and "at least 1 image" in exc.value.message
    post.refresh_from_db()
    assert post.status == PostStatus.DRAFT


def test_only_approved_posts_are_scheduled_and_never_in_the_past(persona, marketer, reviewer):
    post = make_post(persona, marketer, status=PostStatus.APPROVED)
    with pytest.raises(ValidationFailed, match="in the past"):
        services.post_schedule(actor=marketer, post_id=post.pk, scheduled_at=timezone.now() - dt.timedelta(seconds=1))
    with pytest.raises(ValidationFailed, match="must include a timezone"):
        services.post_schedule(actor=marketer, post_id=post.pk, scheduled_at=dt.datetime(2030, 1, 1, 9))
    paris = dt.datetime(2030, 3, 31, 9, 0, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    scheduled = services.post_schedule(actor=reviewer, post_id=post.pk, scheduled_at=paris, comment="slot ok")
    scheduled.refresh_from_db()
    assert scheduled.scheduled_at == dt.datetime(2030, 3, 31, 7, 0, tzinfo=dt.UTC)
    assert PostTransition.objects.filter(post=post).last().comment == "slot ok"


def test_unschedule_and_reschedule(persona, marketer, reviewer):
    post = make_post(persona, marketer, status=PostStatus.SCHEDULED, scheduled_at=future(10))
    later = future(20)
    rescheduled = services.post_reschedule(actor=reviewer, post_id=post.pk, scheduled_at=later)
    assert (rescheduled.status, rescheduled.scheduled_at) == (PostStatus.SCHEDULED, later)
    row = PostTransition.objects.get(post=post)
    assert (row.from_status, row.to_status) == ("scheduled", "scheduled") and row.comment.startswith("Rescheduled")
    with pytest.raises(ValidationFailed, match="in the past"):
        services.post_reschedule(actor=reviewer, post_id=post.pk, scheduled_at=timezone.now() - dt.timedelta(hours=1))
    assert services.post_unschedule(actor=marketer, post_id=post.pk).status == PostStatus.APPROVED
    assert transitions(post)[-1] == ("scheduled", "approved")


def test_reschedule_rechecks_the_label(persona, marketer):
    post = make_post(persona, marketer, status=PostStatus.SCHEDULED, scheduled_at=future(10), caption="no label")
    with pytest.raises(ValidationFailed, match="cannot be rescheduled"):
        services.post_reschedule(actor=marketer, post_id=post.pk, scheduled_at=future(20))


def test_mark_exported_works_without_an_actor(persona, marketer):
    post = make_post(persona, marketer, status=PostStatus.SCHEDULED, scheduled_at=future())
    assert services.post_mark_exported(actor=None, post_id=post.pk).status == PostStatus.EXPORTED
    row = PostTransition.objects.get(post=post)
    assert row.actor is None and row.comment == "Exported."


# --- expiry ----------------------------------------------------------------------------------------


def test_posts_expire_overdue_only_touches_unscheduled_overdue_posts(persona, marketer):
    now = timezone.now()
    past = now - dt.timedelta(minutes=5)
    overdue = {
        status: make_post(persona, marketer, status=status, scheduled_at=past, images=0)
        for status in (PostStatus.DRAFT, PostStatus.IN_REVIEW, PostStatus.CHANGES_REQUESTED, PostStatus.APPROVED)
    }
    kept = [
        make_post(persona, marketer, status=PostStatus.SCHEDULED, scheduled_at=past, images=0),
        make_post(persona, marketer, status=PostStatus.IN_REVIEW, scheduled_at=now + dt.timedelta(minutes=5), images=0),
        make_post(persona, marketer, status=PostStatus.IN_REVIEW, scheduled_at=None, images=0),
        make_post(persona, marketer, status=PostStatus.REJECTED, scheduled_at=past, images=0),
    ]
    assert services.posts_expire_overdue(now=now) == 4
    assert services.posts_expire_overdue(now=now) == 0  # idempotent
    for status, post in overdue.items():
        post.refresh_from_db()
        assert post.status == PostStatus.EXPIRED
        row = PostTransition.objects.get(post=post)
        assert (row.actor, row.from_status, row.to_status) == (None, status, "expired")
        assert "passed while it was" in row.comment
    for post in kept:
        status = post.status
        post.refresh_from_db()
        assert post.status == status


def test_post_expire_is_a_system_transition_that_rechecks_the_locked_post(persona, marketer):
    now = timezone.now()
    past = now - dt.timedelta(minutes=5)
    later = make_post(persona, marketer, status=PostStatus.DRAFT, scheduled_at=now + dt.timedelta(hours=1), images=0)
    with pytest.raises(Conflict, match="not past its scheduled time"):
        services.post_expire(post_id=later.pk, now=now)
    scheduled = make_post(persona, marketer, status=PostStatus.SCHEDULED, scheduled_at=past, images=0)
    with pytest.raises(Conflict, match="only drafts, posts in review, posts with changes requested or approved"):
        services.post_expire(post_id=scheduled.pk, now=now)
    assert not PostTransition.objects.exists()
    approved = make_post(persona, marketer, status=PostStatus.APPROVED, scheduled_at=past, images=0)
    assert services.post_expire(post_id=approved.pk, now=now).status == PostStatus.EXPIRED
    row = PostTransition.objects.get(post=approved)
    assert row.comment == f"Expired: its scheduled time {past.isoformat()} passed while it was approved."


def test_post_update_records_the_label_the_edited_caption_carries(persona, marketer):
    from provenance.bundles.build import post_caption

    post = make_post(persona, marketer, caption=f"Sunset. {LABEL}", disclosure_label=LABEL)
    persona.disclosure_label = "Virtual creator (AI)"
    persona.save(update_fields=["disclosure_label"])
    # The author rewrites the caption without the old label; the persona's new label is appended.
    updated = services.post_update(actor=marketer, post=post, caption="Sunset again.")
    assert updated.caption == "Sunset again.\n\nVirtual creator (AI)"
    assert updated.disclosure_label == "Virtual creator (AI)"
    post.refresh_from_db()
    # The export's caption carries one label, not the stale one added back on top.
    assert post_caption(post) == "Sunset again.\n\nVirtual creator (AI)"


def test_superusers_pass_every_role_check_and_inactive_ones_none(persona, marketer, superuser, inactive_superuser):
    with pytest.raises(NotFound):
        services.post_create(actor=inactive_superuser, persona=persona, platform="x", images=[png_bytes()])
    own = services.post_create(actor=superuser, persona=persona, platform="x", images=[png_bytes()])
    assert services.post_submit(actor=superuser, post_id=own.pk).status == PostStatus.IN_REVIEW
    with pytest.raises(PermissionDenied, match="someone else has to approve it"):
        services.post_approve(actor=superuser, post_id=own.pk)  # the own-post rule still holds
    post = make_post(persona, marketer, status=PostStatus.IN_REVIEW)
    with pytest.raises(NotFound):
        services.post_approve(actor=inactive_superuser, post_id=post.pk)
    services.post_approve(actor=superuser, post_id=post.pk)
    scheduled = services.post_schedule(actor=superuser, post_id=post.pk, scheduled_at=future())
    assert scheduled.status == PostStatus.SCHEDULED
    assert [row.actor for row in PostTransition.objects.filter(post=post)] == [superuser, superuser]


def test_post_create_for_review_is_a_system_action_checked_before_anything_is_written(persona, marketer, reviewer):
    import os

    job = GenerationJobFactory(persona=persona)
    image = GeneratedImageFactory(job=job, index=0)  # 512x640: Instagram's 4:5
    # No role check: generation decided who authors it (here a reviewer, recorded as the creator).
    post = services.post_create_for_review(
        actor=None, created_by=reviewer, persona=persona, platform="instagram", caption="At the cafe",
        hashtags=["coffee"], generated_images=[image], comment="Drafted from generation job 1.",
    )
    post.refresh_from_db()
    assert (post.status, post.created_by, post.hashtags) == (PostStatus.IN_REVIEW, reviewer, ["#coffee"])
    assert post.caption == f"At the cafe\n\n{LABEL}" and post.images.get().generated_image_id == image.pk
    assert list(PostTransition.objects.filter(post=post).values_list("actor", "to_status", "comment")) == [
        (None, PostStatus.IN_REVIEW, "Drafted from generation job 1.")]

    # A post that breaks its platform's rules is refused before any row or file is written.
    posts_dir = os.path.dirname(os.path.dirname(post.images.get().image.path))
    stored = sorted(os.path.join(root, name) for root, _dirs, names in os.walk(posts_dir) for name in names)
    with pytest.raises(ValidationFailed, match="cannot be submitted for review for Threads: Threads allows at most 1"):
        services.post_create_for_review(
            actor=marketer, created_by=marketer, persona=persona, platform="threads", caption="#one #two",
            hashtags=[], generated_images=[image],
        )
    assert Post.objects.count() == 1
    assert sorted(os.path.join(root, name) for root, _dirs, names in os.walk(posts_dir) for name in names) == stored
