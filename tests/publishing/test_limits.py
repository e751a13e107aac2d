"""Our own limit checks before any container is made, against the loopback Graph-API server: a post that can never
pass fails naming the limit and its value; the 24-hour quota makes it wait until the window moves."""

import dataclasses
import datetime as dt
import io

import pytest
from django.core.files.base import ContentFile
from django.utils import timezone
from PIL import Image

from core.platforms import PLATFORM_RULES
from publishing.models import Publication, PublicationStatus
from publishing.publish import publication_retry, publication_run
from scheduler.models import PostStatus
from tests.factories import PostFactory, PostImageFactory
from tests.publishing.factories import ConnectedAccountFactory, scheduled_post
from web.publishing import publication_line

USER = "17841400000000001"


@pytest.fixture
def account(graph, persona):
    graph.token_for(USER, "token-ig")
    return ConnectedAccountFactory(persona=persona, token="token-ig", platform_user_id=USER)


def _refused(graph, publication, *needles):
    assert publication.status == PublicationStatus.FAILED, publication.last_error
    for needle in needles:
        assert needle in publication.last_error, publication.last_error
    # Refused by us: no container at the platform, nothing published.
    assert not graph.containers and not graph.published()
    assert not graph.calls("POST", "/media") and not graph.calls("POST", "/threads")


def _image(post, position, width, height, *, fmt="PNG"):
    data = io.BytesIO()
    Image.new("RGB", (width, height), (180, 120, 90)).save(data, fmt)
    return PostImageFactory(post=post, position=position, image=ContentFile(data.getvalue(), name=f"i.{fmt.lower()}"))


def test_a_caption_over_instagrams_limit_fails_naming_the_limit_and_its_length(graph, account, persona):
    post = scheduled_post(persona=persona, caption="Lisbon. " * 300 + persona.disclosure_label)

    publication = publication_run(post_id=post.pk)

    _refused(graph, publication, "Instagram allows 2,200 characters", "this post has 2,")
    assert "Edit the post, then retry" in publication_line(
        publication, persona=persona, platform_label="Instagram", retry_url="")["text"]
    post.refresh_from_db()
    assert post.status == PostStatus.SCHEDULED and "2,200 characters" in post.transitions.last().comment


def test_a_threads_caption_over_500_characters_fails(graph, persona):
    graph.token_for("55", "token-th")
    ConnectedAccountFactory(persona=persona, platform="threads", platform_user_id="55", token="token-th")
    post = scheduled_post(persona=persona, platform="threads", images=0, hashtags=[],
                          caption="x" * 480 + " " + persona.disclosure_label)

    _refused(graph, publication_run(post_id=post.pk), "Threads allows 500 characters")


def test_too_many_hashtags_fail_with_cores_cap(graph, account, persona):
    cap = PLATFORM_RULES["instagram"].hashtags_max  # core's rule is the one source of truth
    post = scheduled_post(persona=persona, hashtags=[f"#tag{n}" for n in range(cap + 1)])

    publication = publication_run(post_id=post.pk)

    _refused(graph, publication, f"at most {cap} hashtags", f"this post has {cap + 1}")


def test_threads_takes_one_topic_tag(graph, persona):
    graph.token_for("55", "token-th")
    ConnectedAccountFactory(persona=persona, platform="threads", platform_user_id="55", token="token-th")
    post = scheduled_post(persona=persona, platform="threads", images=0, hashtags=["#lisbon", "#travel"])

    _refused(graph, publication_run(post_id=post.pk), "Threads allows at most 1 hashtag per post", "has 2")


def test_a_carousel_of_eleven_fails_before_any_file_is_labelled(graph, account, persona):
    post = scheduled_post(persona=persona, images=0)
    for position in range(11):
        PostImageFactory(post=post, position=position)

    publication = publication_run(post_id=post.pk)

    _refused(graph, publication, "at most 10 images per post", "this post has 11")
    assert publication.media_files == []


def test_an_image_outside_instagrams_aspect_ratios_fails(graph, account, persona):
    post = scheduled_post(persona=persona, images=0)
    _image(post, 0, 1080, 1350)
    _image(post, 1, 900, 1600)  # 9:16, taller than 4:5

    publication = publication_run(post_id=post.pk)

    _refused(graph, publication, "Image 2 is 900x1600 (0.56:1)", "between 4:5 and 1.91:1")


def test_an_oversized_image_file_fails_and_is_labelled_afresh_after_an_edit(graph, account, persona, monkeypatch):
    # The labelled file's real size against a lowered cap: the rule is core's, the bytes are what would be sent.
    rule = PLATFORM_RULES["instagram"]
    monkeypatch.setitem(PLATFORM_RULES, "instagram", dataclasses.replace(rule, image_bytes_max=1000))
    post = scheduled_post(persona=persona)

    publication = publication_run(post_id=post.pk)

    _refused(graph, publication, "Image 1 is", "image files of at most 0.0 MB")
    assert publication.media_files == []  # refused files are not kept: a retry labels the current image
    monkeypatch.setitem(PLATFORM_RULES, "instagram", rule)
    publication_retry(post_id=post.pk)
    again = publication_run(post_id=post.pk)
    assert again.status == PublicationStatus.PUBLISHED, again.last_error
    assert len(graph.published()) == 1


def test_a_file_in_a_format_instagram_does_not_take_fails(graph, account, persona, monkeypatch):
    rule = PLATFORM_RULES["instagram"]
    monkeypatch.setitem(PLATFORM_RULES, "instagram", dataclasses.replace(rule, image_formats=("PNG",)))
    post = scheduled_post(persona=persona)

    _refused(graph, publication_run(post_id=post.pk), "Image 1 is a JPEG file; Instagram takes PNG only.")


def _published_earlier(account, persona, at: dt.datetime, count: int) -> None:
    """`count` posts this studio published through the account at `at` (rows only: what the window counts)."""
    for _ in range(count):
        post = PostFactory(persona=persona, status=PostStatus.PUBLISHED)
        Publication.objects.create(post=post, account=account, status=PublicationStatus.PUBLISHED, published_at=at)


def test_the_51st_post_in_24_hours_waits_and_goes_out_when_the_window_moves(graph, account, persona):
    now = timezone.now()
    first = now - dt.timedelta(hours=23)
    _published_earlier(account, persona, first, 50)
    graph.publish_times = [first.timestamp()] * 50  # the platform counts them too
    post = scheduled_post(persona=persona)

    waiting = publication_run(post_id=post.pk, now=now)

    assert waiting.status == PublicationStatus.WAITING
    assert "Instagram allows 50 API-published posts in 24 hours (content_publishing_limit); 50 went out" \
        in waiting.last_error
    assert waiting.next_attempt_at == first + dt.timedelta(hours=24)  # when the oldest leaves the window
    line = publication_line(waiting, persona=persona, platform_label="Instagram", retry_url="")
    assert line["text"].startswith("Waiting: Instagram allows 50") and line["detail"].startswith("next attempt")
    assert not graph.containers
    # Not due before the window frees; due after.
    from publishing.publish import publications_due
    assert post.pk not in publications_due(now=now + dt.timedelta(minutes=59))
    later = first + dt.timedelta(hours=24, seconds=1)
    assert post.pk in publications_due(now=later)

    graph.publish_times = [at - 3601 for at in graph.publish_times]  # the platform's clock moved on as well
    published = publication_run(post_id=post.pk, now=later)

    assert published.status == PublicationStatus.PUBLISHED, published.last_error
    assert len(graph.published()) == 1 and len(graph.containers) == 1
    assert publication_run(post_id=post.pk, now=later).status == PublicationStatus.PUBLISHED
    assert len(graph.calls("POST", "media_publish")) == 1  # nothing published twice


@pytest.mark.parametrize(("platform_used", "ours"), [(50, 0), (0, 50)])
def test_whichever_count_is_stricter_holds_the_post(graph, account, persona, platform_used, ours):
    now = timezone.now()
    _published_earlier(account, persona, now - dt.timedelta(hours=2), ours)
    graph.publish_times = [now.timestamp() - 600] * platform_used
    post = scheduled_post(persona=persona)

    publication = publication_run(post_id=post.pk, now=now)

    assert publication.status == PublicationStatus.WAITING and "50 went out" in publication.last_error
    expected = now + dt.timedelta(hours=1) if platform_used else now + dt.timedelta(hours=22)
    assert publication.next_attempt_at == expected
    assert not graph.containers


def test_threads_reads_its_own_quota(graph, persona):
    graph.token_for("55", "token-th")
    graph.quota = 250
    graph.publish_times = [timezone.now().timestamp() - 60] * 250
    ConnectedAccountFactory(persona=persona, platform="threads", platform_user_id="55", token="token-th")
    post = scheduled_post(persona=persona, platform="threads", images=0, hashtags=[])

    publication = publication_run(post_id=post.pk)

    assert publication.status == PublicationStatus.WAITING
    assert "Threads allows 250 API-published posts in 24 hours (threads_publishing_limit)" in publication.last_error
    assert graph.calls("GET", "threads_publishing_limit") and not graph.containers
