"""Publishing against the loopback Graph-API server: what goes out, with which AI flag, and exactly once."""

import datetime as dt
import io
from urllib.parse import urlparse

import pytest
from django.utils import timezone
from PIL import Image

from provenance.models import ExportedImage
from publishing.models import AccountStatus, Publication, PublicationStatus
from publishing.publish import publication_retry, publication_run, publications_due
from scheduler.models import PostStatus
from tests.publishing.conftest import PUBLIC
from tests.publishing.factories import ConnectedAccountFactory, scheduled_post

USER = "17841400000000001"


@pytest.fixture
def account(graph, persona):
    graph.token_for(USER, "token-ig")
    return ConnectedAccountFactory(persona=persona, token="token-ig", platform_user_id=USER)


def _expire_lease(post):
    # What time does to the lease of a run whose worker died.
    Publication.objects.filter(post=post).update(lease_until=timezone.now() - dt.timedelta(seconds=1))


def test_a_single_image_is_published_with_instagrams_ai_flag_read_back(graph, account, persona, client):
    post = scheduled_post(persona=persona)

    publication = publication_run(post_id=post.pk)

    assert publication.status == PublicationStatus.PUBLISHED, publication.last_error
    [media] = graph.published()
    assert media["is_ai_generated"] is True and media["caption"].startswith("Golden hour in Lisbon")
    assert publication.ai_flag_reported is True and publication.permalink == media["permalink"]
    assert publication.platform_media_id == media["id"]
    create = graph.calls("POST", "/media")[0]
    assert create["is_ai_generated"] == "true" and create["access_token"] == "token-ig"
    post.refresh_from_db()
    assert post.status == PostStatus.PUBLISHED
    assert "AI label: set" in post.transitions.last().comment
    # The platform fetched the exported, labelled file at the signed URL; it is registered in the origin registry.
    url = urlparse(create["image_url"])
    assert f"{url.scheme}://{url.netloc}" == PUBLIC
    response = client.get(url.path)
    assert response.status_code == 200
    data = b"".join(response.streaming_content)
    with Image.open(io.BytesIO(data)) as image:
        assert image.format == "JPEG"
    registered = ExportedImage.objects.get(post=post)
    assert registered.bundle is None and registered.sha256 == __import__("hashlib").sha256(data).hexdigest()
    assert client.get(url.path[:-3] + "abc").status_code == 404  # a forged signature fetches nothing


def test_with_media_on_the_object_store_the_platform_fetches_a_presigned_url(graph, account, persona, s3_media,
                                                                             settings):
    import hashlib

    import requests

    settings.PUBLIC_BASE_URL = ""  # not needed: the object store hands out the URL
    post = scheduled_post(persona=persona)

    publication = publication_run(post_id=post.pk)

    assert publication.status == PublicationStatus.PUBLISHED, publication.last_error
    url = graph.calls("POST", "/media")[0]["image_url"]
    assert url.startswith(s3_media.endpoint_url) and "X-Amz-Signature=" in url
    assert f"X-Amz-Expires={settings.PUBLISHING_MEDIA_URL_MAX_AGE}" in url
    fetched = requests.get(url, timeout=10)
    assert fetched.status_code == 200
    registered = ExportedImage.objects.get(post=post)
    assert hashlib.sha256(fetched.content).hexdigest() == registered.sha256  # the exported, labelled file
    assert requests.get(url.replace("X-Amz-Signature=", "X-Amz-Signature=0"), timeout=10).status_code == 403


def test_a_carousel_carries_the_ai_flag_on_the_parent_only(graph, account, persona):
    post = scheduled_post(persona=persona, images=2)

    publication = publication_run(post_id=post.pk)

    assert publication.status == PublicationStatus.PUBLISHED, publication.last_error
    creates = graph.calls("POST", "/media")
    children, parent = creates[:2], creates[2]
    assert all(c["is_carousel_item"] == "true" and "is_ai_generated" not in c for c in children)
    assert parent["media_type"] == "CAROUSEL" and parent["is_ai_generated"] == "true"
    assert parent["children"] == ",".join(publication.child_container_ids)
    assert len(graph.published()) == 1 and publication.ai_flag_reported is True


@pytest.mark.parametrize("images", [0, 1, 3])
def test_threads_text_image_and_carousel_posts_say_the_ai_flag_is_not_available(graph, persona, images):
    graph.token_for("55", "token-th")
    ConnectedAccountFactory(persona=persona, platform="threads", platform_user_id="55", token="token-th")
    post = scheduled_post(persona=persona, platform="threads", images=images, hashtags=["#lisbon"])  # one topic tag

    publication = publication_run(post_id=post.pk)

    assert publication.status == PublicationStatus.PUBLISHED, publication.last_error
    *children, create = graph.calls("POST", "/threads")
    assert create["media_type"] == {0: "TEXT", 1: "IMAGE", 3: "CAROUSEL"}[images]
    assert len(children) == (images if images > 1 else 0)
    assert all(c["is_carousel_item"] == "true" and c["media_type"] == "IMAGE" for c in children)
    assert graph.calls("POST", "threads_publish")[0]["creation_id"] == publication.container_id
    assert publication.ai_flag_reported is None and "no AI label" in publication.ai_flag_note
    post.refresh_from_db()
    assert "AI label: not available" in post.transitions.last().comment


def test_an_expired_token_marks_the_account_and_the_post_waits(graph, account, persona):
    graph.expired.add("token-ig")
    post = scheduled_post(persona=persona)  # an image: an Instagram post without one is refused before the call

    publication = publication_run(post_id=post.pk)

    account.refresh_from_db()
    assert account.status == AccountStatus.RECONNECT_NEEDED and "expired" in account.status_reason
    assert publication.status == PublicationStatus.WAITING
    assert "must be reconnected" in publication.last_error and "190" in publication.last_error
    assert not graph.published()
    post.refresh_from_db()
    assert post.status == PostStatus.SCHEDULED


@pytest.mark.parametrize("outcome", ["ERROR", "EXPIRED"])
def test_a_failed_or_expired_container_is_replaced_by_a_new_one(graph, account, persona, outcome):
    graph.container_outcomes = [outcome]
    post = scheduled_post(persona=persona)

    publication = publication_run(post_id=post.pk)

    assert publication.status == PublicationStatus.PUBLISHED, publication.last_error
    first, second = [c for c in graph.containers]
    assert publication.container_id == second
    assert [m["container"] for m in graph.published()] == [second]


def test_a_lost_publish_answer_is_found_from_the_containers_status_in_the_same_run(graph, account, persona):
    graph.drop_after_publish = 1
    post = scheduled_post(persona=persona)

    publication = publication_run(post_id=post.pk)

    assert publication.status == PublicationStatus.PUBLISHED, publication.last_error
    assert len(graph.published()) == 1 and publication.platform_media_id == graph.published()[0]["id"]
    assert publication.permalink == graph.published()[0]["permalink"]


def test_a_publish_whose_answer_was_lost_is_recorded_once_on_the_next_run(graph, account, persona):
    graph.drop_after_publish = 1
    graph.outage_after_publish = 1
    post = scheduled_post(persona=persona)

    first = publication_run(post_id=post.pk)

    assert first.status == PublicationStatus.PUBLISHING and first.container_id  # stored before media_publish
    assert len(graph.published()) == 1
    _expire_lease(post)
    again = publication_run(post_id=post.pk)

    assert again.status == PublicationStatus.PUBLISHED, again.last_error
    assert len(graph.published()) == 1  # exactly one media on the platform
    assert again.platform_media_id == graph.published()[0]["id"]
    assert len(graph.calls("POST", "media_publish")) == 1  # the container's status said PUBLISHED: no second publish
    assert ExportedImage.objects.filter(post=post).count() == 1  # the same file, labelled once


def test_a_run_killed_after_storing_the_container_publishes_it_on_resume(graph, account, persona):
    post = scheduled_post(persona=persona)
    graph.fail("publish", status=500, code=2, message="Service temporarily unavailable")

    first = publication_run(post_id=post.pk)

    assert first.status == PublicationStatus.PUBLISHING and "temporarily" in first.last_error
    assert first.next_attempt_at > timezone.now()
    _expire_lease(post)
    again = publication_run(post_id=post.pk)
    assert again.status == PublicationStatus.PUBLISHED
    assert len(graph.containers) == 1 and len(graph.published()) == 1


def test_a_second_worker_on_the_same_post_does_nothing_while_the_first_holds_it(graph, account, persona):
    post = scheduled_post(persona=persona)
    Publication.objects.create(post=post, lease_token="other", lease_until=timezone.now() + dt.timedelta(minutes=1))

    publication = publication_run(post_id=post.pk)

    assert publication.status == PublicationStatus.QUEUED and not graph.requests


def test_a_post_never_approved_is_refused(graph, account, persona):
    post = scheduled_post(persona=persona, approved=False)

    publication = publication_run(post_id=post.pk)

    assert publication.status == PublicationStatus.WAITING and "only the approved version" in publication.last_error
    assert not graph.requests


def test_a_post_edited_after_approval_waits_for_a_new_approval(graph, account, persona):
    from scheduler.models import PostTransition

    post = scheduled_post(persona=persona)
    PostTransition.objects.create(post=post, from_status="scheduled", to_status="changes_requested")

    publication = publication_run(post_id=post.pk)

    assert publication.status == PublicationStatus.WAITING and not graph.requests


def test_without_a_public_url_publishing_refuses_before_the_platform(graph, account, persona, settings):
    settings.PUBLIC_BASE_URL = ""
    post = scheduled_post(persona=persona)

    publication = publication_run(post_id=post.pk)

    assert publication.status == PublicationStatus.WAITING and "PUBLIC_BASE_URL" in publication.last_error
    assert not graph.requests


def test_a_rejected_image_fails_with_the_platforms_message(graph, account, persona):
    graph.fail("create", code=36003, message="The aspect ratio is not supported.")
    post = scheduled_post(persona=persona)

    publication = publication_run(post_id=post.pk)

    assert publication.status == PublicationStatus.FAILED and "aspect ratio" in publication.last_error
    assert not graph.published()
    post.refresh_from_db()
    assert post.status == PostStatus.SCHEDULED and "aspect ratio" in post.transitions.last().comment


def test_a_revoked_permission_fails_with_the_platforms_message_and_a_retry_publishes_once(graph, account, persona):
    graph.fail("create", status=403, code=10, message="Application does not have permission for this action")
    post = scheduled_post(persona=persona)

    failed = publication_run(post_id=post.pk)

    assert failed.status == PublicationStatus.FAILED and "does not have permission" in failed.last_error
    assert not graph.published() and failed.next_attempt_at is None
    # The person grants the permission again and presses Retry.
    publication_retry(post_id=post.pk)
    assert publication_run(post_id=post.pk).status == PublicationStatus.PUBLISHED
    assert len(graph.published()) == 1


def test_a_platform_500_is_retried_after_a_backoff_and_publishes_once(graph, account, persona):
    graph.fail("create", status=500, code=2, message="An unexpected error has occurred. Please retry your request.")
    post = scheduled_post(persona=persona)
    now = timezone.now()

    waiting = publication_run(post_id=post.pk, now=now)

    assert waiting.status != PublicationStatus.FAILED and "unexpected error" in waiting.last_error
    assert waiting.next_attempt_at > now and not graph.published()
    assert post.pk not in publications_due(now=now + dt.timedelta(seconds=1))  # the beat tick leaves it until then
    later_on = waiting.next_attempt_at + dt.timedelta(seconds=1)
    assert post.pk in publications_due(now=later_on)
    later = publication_run(post_id=post.pk, now=later_on)
    assert later.status == PublicationStatus.PUBLISHED, later.last_error
    assert len(graph.published()) == 1


def test_the_24_hour_limit_makes_the_post_wait(graph, account, persona):
    graph.quota = 0
    post = scheduled_post(persona=persona)

    publication = publication_run(post_id=post.pk)

    assert publication.status == PublicationStatus.WAITING and "in 24 hours" in publication.last_error
    assert not graph.containers
