import datetime as dt

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from scheduler.models import Post, PostStatus, PostTransition
from tests.conftest import client_for
from tests.factories import (
    GeneratedImageFactory,
    GenerationJobFactory,
    PostFactory,
    PostImageFactory,
    aware,
    png_bytes,
)

pytestmark = pytest.mark.django_db

LABEL = "AI-generated virtual influencer"
POSTS = "/api/v1/posts/"


def post_in(persona, author, status=PostStatus.DRAFT, **kwargs):
    post = PostFactory(persona=persona, created_by=author, status=status, **kwargs)
    PostImageFactory(post=post, position=0)
    return post


def iso(value):
    return value.isoformat().replace("+00:00", "Z")


def test_create_json_with_generated_images_then_retrieve(persona, marketer):
    generated = GeneratedImageFactory(job=GenerationJobFactory(persona=persona))
    client = client_for(marketer)
    response = client.post(
        POSTS,
        {
            "persona": persona.pk,
            "platform": "x",
            "caption": "Espresso time",
            "hashtags": ["coffee"],
            "generated_images": [generated.pk],
            "scheduled_at": "2030-03-31T09:00:00",  # naive: read in Europe/Paris (UTC+2 then)
        },
        format="json",
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["status"] == "draft" and body["caption"] == f"Espresso time\n\n{LABEL}"
    assert body["hashtags"] == ["#coffee"]
    assert body["text_as_posted"] == f"Espresso time\n\n{LABEL} #coffee"
    assert body["scheduled_at"] == "2030-03-31T07:00:00Z"
    assert body["scheduled_at_local"].startswith("2030-03-31T09:00:00+02:00")
    assert body["images"][0]["generated_image"] == generated.pk and body["images"][0]["width"] == 512
    assert body["transitions"] == [] and body["platform_issues"] == []

    detail = client.get(f"{POSTS}{body['id']}/").json()
    assert detail["id"] == body["id"] and len(detail["images"]) == 1


def test_create_multipart_with_files(persona, marketer):
    files = [
        SimpleUploadedFile("a.png", png_bytes(1080, 1350), content_type="image/png"),
        SimpleUploadedFile("b.png", png_bytes(1080, 1080), content_type="image/png"),
    ]
    response = client_for(marketer).post(
        POSTS,
        {"persona": persona.pk, "platform": "instagram", "caption": f"Carousel {LABEL}", "images": files},
        format="multipart",
    )
    assert response.status_code == 201, response.json()
    assert [(i["position"], i["height"]) for i in response.json()["images"]] == [(0, 1350), (1, 1080)]


def test_create_refuses_bad_input_with_clear_errors(persona, marketer, reviewer, outsider):
    bad = SimpleUploadedFile("bad.png", b"nope", content_type="image/png")
    response = client_for(marketer).post(
        POSTS, {"persona": persona.pk, "platform": "x", "images": [bad]}, format="multipart"
    )
    assert response.status_code == 400
    assert response.json()["detail"] == "bad.png: only JPEG, PNG or WebP images are accepted."
    response = client_for(marketer).post(
        POSTS, {"persona": persona.pk, "platform": "x", "generated_images": [GeneratedImageFactory().pk]}, format="json"
    )
    assert response.status_code == 400 and "not found for persona" in response.json()["detail"]
    assert client_for(reviewer).post(POSTS, {"persona": persona.pk, "platform": "x"}, format="json").status_code == 403
    assert client_for(outsider).post(POSTS, {"persona": persona.pk, "platform": "x"}, format="json").status_code == 404
    assert Post.objects.count() == 0


def test_list_filters(persona, marketer):
    a = PostFactory(persona=persona, platform="x", status=PostStatus.SCHEDULED, scheduled_at=aware(2026, 5, 1))
    b = PostFactory(persona=persona, status=PostStatus.APPROVED, scheduled_at=aware(2026, 5, 3))
    PostFactory()  # another workspace
    client = client_for(marketer)

    def ids(query=""):
        response = client.get(f"{POSTS}{query}")
        assert response.status_code == 200, response.json()
        return [row["id"] for row in response.json()["results"]]

    assert sorted(ids()) == sorted([a.pk, b.pk])
    assert ids("?platform=x") == [a.pk]
    assert ids("?status=approved") == [b.pk]
    assert ids(f"?persona={persona.pk}&scheduled_from=2026-05-02T00:00:00Z&scheduled_to=2026-05-04T00:00:00Z") == [b.pk]
    assert client.get(f"{POSTS}?status=bogus").status_code == 400


def test_workflow_over_the_api_with_conflict_warnings(persona, marketer, reviewer):
    post = post_in(persona, marketer)
    when = timezone.now().replace(microsecond=0) + dt.timedelta(days=3)
    PostFactory(persona=persona, status=PostStatus.SCHEDULED, scheduled_at=when + dt.timedelta(minutes=30))
    m, r = client_for(marketer), client_for(reviewer)

    assert m.post(f"{POSTS}{post.pk}/submit/", {"comment": "ready"}, format="json").json()["status"] == "in_review"
    denied = m.post(f"{POSTS}{post.pk}/approve/", {}, format="json")
    assert denied.status_code == 403 and denied.json()["code"] == "permission_denied"
    assert r.post(f"{POSTS}{post.pk}/approve/", {"comment": "ok"}, format="json").json()["status"] == "approved"

    response = m.post(f"{POSTS}{post.pk}/schedule/", {"scheduled_at": iso(when)}, format="json")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["status"] == "scheduled" and body["scheduled_at"] == iso(when)
    assert len(body["warnings"]) == 1 and "30 minutes from this time" in body["warnings"][0]

    later = when + dt.timedelta(days=1)
    response = r.post(f"{POSTS}{post.pk}/reschedule/", {"scheduled_at": iso(later)}, format="json")
    assert response.json()["scheduled_at"] == iso(later) and response.json()["warnings"] == []
    assert m.post(f"{POSTS}{post.pk}/unschedule/", {}, format="json").json()["status"] == "approved"
    m.post(f"{POSTS}{post.pk}/schedule/", {"scheduled_at": iso(later)}, format="json")
    assert m.post(f"{POSTS}{post.pk}/publish/", {}, format="json").json()["status"] == "published"

    rows = m.get(f"{POSTS}{post.pk}/transitions/").json()
    assert [(row["from_status"], row["to_status"]) for row in rows] == [
        ("draft", "in_review"),
        ("in_review", "approved"),
        ("approved", "scheduled"),
        ("scheduled", "scheduled"),
        ("scheduled", "approved"),
        ("approved", "scheduled"),
        ("scheduled", "published"),
    ]
    assert rows[1]["actor"] == reviewer.username and rows[1]["comment"] == "ok"


def test_request_changes_and_reject_need_comments(persona, marketer, reviewer):
    post = post_in(persona, marketer, status=PostStatus.IN_REVIEW)
    r = client_for(reviewer)
    response = r.post(f"{POSTS}{post.pk}/request-changes/", {}, format="json")
    assert response.status_code == 400 and "comment is required" in response.json()["detail"]
    response = r.post(f"{POSTS}{post.pk}/request-changes/", {"comment": "Brighter"}, format="json")
    assert response.json()["status"] == "changes_requested"
    patched = client_for(marketer).patch(f"{POSTS}{post.pk}/", {"caption": f"Brighter {LABEL}"}, format="json")
    assert patched.status_code == 200 and patched.json()["caption"] == f"Brighter {LABEL}"
    client_for(marketer).post(f"{POSTS}{post.pk}/submit/", {}, format="json")
    assert r.post(f"{POSTS}{post.pk}/reject/", {"comment": "No"}, format="json").json()["status"] == "rejected"


def test_wrong_state_and_past_schedule_are_clear_errors(persona, marketer, reviewer):
    post = post_in(persona, marketer, status=PostStatus.APPROVED)
    m = client_for(marketer)
    response = r = client_for(reviewer).post(f"{POSTS}{post.pk}/approve/", {}, format="json")
    assert r.status_code == 409
    assert response.json()["detail"] == f"Post {post.pk} is approved; only posts in review can be approved."
    response = m.patch(f"{POSTS}{post.pk}/", {"caption": "edit"}, format="json")
    assert response.status_code == 409 and "cannot edit its caption" in response.json()["detail"]
    response = m.post(f"{POSTS}{post.pk}/schedule/", {"scheduled_at": "2020-01-01T09:00:00Z"}, format="json")
    assert response.status_code == 400 and "in the past" in response.json()["detail"]
    response = m.post(f"{POSTS}{post.pk}/schedule/", {}, format="json")
    assert response.status_code == 400 and "scheduled_at" in response.json()["extra"]["fields"]
    response = m.post(f"{POSTS}{post.pk}/schedule/", {"scheduled_at": "2030-03-31T02:30:00"}, format="json")
    assert response.status_code == 400 and "does not exist in Europe/Paris" in response.json()["detail"]
    assert PostTransition.objects.filter(post=post).count() == 0


def test_another_workspace_gets_404_on_every_post_endpoint(persona, marketer, outsider):
    post = post_in(persona, marketer, status=PostStatus.IN_REVIEW)
    client = client_for(outsider)
    assert client.get(f"{POSTS}{post.pk}/").status_code == 404
    assert client.patch(f"{POSTS}{post.pk}/", {"caption": "x"}, format="json").status_code == 404
    assert client.get(f"{POSTS}{post.pk}/transitions/").status_code == 404
    for name in ("submit", "approve", "request-changes", "reject", "unschedule", "publish"):
        assert client.post(f"{POSTS}{post.pk}/{name}/", {"comment": "x"}, format="json").status_code == 404, name
    for name in ("schedule", "reschedule"):
        response = client.post(f"{POSTS}{post.pk}/{name}/", {"scheduled_at": "2030-01-01T09:00:00Z"}, format="json")
        assert response.status_code == 404, name
    assert client.get(POSTS).json()["results"] == []
    assert client.get(f"/api/v1/personas/{persona.pk}/next-free-slot/").status_code == 404
    assert client.get(f"/api/v1/calendar/?start=2026-01-01&end=2026-01-31&persona={persona.pk}").status_code == 404
    post.refresh_from_db()
    assert post.status == PostStatus.IN_REVIEW and post.caption != "x"


def test_anonymous_is_refused(persona, api_client):
    assert api_client.get(POSTS).status_code in (401, 403)


def test_calendar_endpoint_groups_in_the_persona_timezone(persona, marketer):
    first = PostFactory(persona=persona, status=PostStatus.SCHEDULED, scheduled_at=aware(2026, 3, 28, 23, 30))
    second = PostFactory(persona=persona, status=PostStatus.SCHEDULED, scheduled_at=aware(2026, 3, 29, 22, 30))
    PostFactory(persona=persona, status=PostStatus.SCHEDULED, scheduled_at=aware(2026, 4, 1, 10))
    client = client_for(marketer)
    response = client.get(f"/api/v1/calendar/?start=2026-03-29&end=2026-03-30&persona={persona.pk}")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["total"] == 2 and body["granularity"] == "day"
    assert body["start"] == "2026-03-28T23:00:00Z"  # local midnight, UTC+1
    assert [(b["period_start"], b["count"], [p["id"] for p in b["posts"]]) for b in body["buckets"]] == [
        ("2026-03-29", 1, [first.pk]),
        ("2026-03-30", 1, [second.pk]),
    ]
    assert body["buckets"][0]["posts"][0]["scheduled_at_local"].startswith("2026-03-29T00:30:00+01:00")
    monthly = client.get("/api/v1/calendar/?start=2026-03-01&end=2026-04-30&granularity=month").json()
    assert [(b["period_start"], b["count"]) for b in monthly["buckets"]] == [("2026-03-01", 2), ("2026-04-01", 1)]
    assert client.get("/api/v1/calendar/?start=2026-03-01").status_code == 400
    assert client.get("/api/v1/calendar/?start=2026-03-01&end=2026-03-02&granularity=year").status_code == 400
    assert client.get("/api/v1/calendar/?start=2020-01-01&end=2026-03-02").status_code == 400


def test_next_free_slot_endpoint(persona, marketer):
    PostFactory(persona=persona, status=PostStatus.SCHEDULED, scheduled_at=aware(2026, 6, 1, 10))
    client = client_for(marketer)
    response = client.get(f"/api/v1/personas/{persona.pk}/next-free-slot/?after=2026-06-01T09:00:00")
    assert response.status_code == 200, response.json()
    assert response.json() == {
        "persona": persona.pk,
        "timezone": "Europe/Paris",
        "slot": "2026-06-01T16:00:00Z",
        "slot_local": "2026-06-01T18:00:00+02:00",
    }
    assert client.get(f"/api/v1/personas/{persona.pk}/next-free-slot/?after=soon").status_code == 400


def test_non_numeric_post_id_is_404_not_500(persona, marketer):
    client = client_for(marketer)
    assert client.get(f"{POSTS}abc/").status_code == 404
    assert client.get(f"{POSTS}abc/transitions/").status_code == 404
    assert client.post(f"{POSTS}abc/submit/", {}, format="json").status_code == 404


def test_calendar_date_bound_whose_midnight_is_skipped_by_dst(persona, marketer):
    # America/Santiago springs forward at local midnight: 2026-09-06 starts at 01:00 (-03), i.e. 04:00Z.
    persona.timezone = "America/Santiago"
    persona.save(update_fields=["timezone"])
    post = PostFactory(persona=persona, status=PostStatus.SCHEDULED, scheduled_at=aware(2026, 9, 6, 15))
    client = client_for(marketer)
    day = client.get(f"/api/v1/calendar/?start=2026-09-06&end=2026-09-06&persona={persona.pk}")
    assert day.status_code == 200, day.json()
    assert day.json()["start"] == "2026-09-06T04:00:00Z"
    assert [p["id"] for b in day.json()["buckets"] for p in b["posts"]] == [post.pk]
    # An inclusive end date of 09-05 ends at that same instant.
    before = client.get(f"/api/v1/calendar/?start=2026-09-01&end=2026-09-05&persona={persona.pk}")
    assert before.status_code == 200, before.json()
    assert before.json()["end"] == "2026-09-06T04:00:00Z" and before.json()["total"] == 0


def test_calendar_and_next_slot_at_the_edge_of_the_date_range_are_400(persona, marketer):
    client = client_for(marketer)
    assert client.get("/api/v1/calendar/?start=9999-12-30&end=9999-12-31").status_code == 400
    last_day = f"/api/v1/calendar/?start=9999-12-30&end=9999-12-31T23:00:00&persona={persona.pk}"
    assert client.get(last_day).status_code == 200
    url = f"/api/v1/personas/{persona.pk}/next-free-slot/?after="
    assert client.get(url + "9999-12-31T00:00:00Z").status_code == 400
    assert client.get(url + "0001-01-01T00:30:00").status_code == 400


@pytest.mark.parametrize("when", ["9999-12-31T23:30:00", "9999-12-31T20:00:00-05:00", "0001-01-01T00:00:00"])
def test_schedule_at_the_end_of_the_date_range_is_400_and_changes_nothing(persona, marketer, when):
    post = post_in(persona, marketer, status=PostStatus.APPROVED)
    response = client_for(marketer).post(f"{POSTS}{post.pk}/schedule/", {"scheduled_at": when}, format="json")
    assert response.status_code == 400, response.content[:300]
    post.refresh_from_db()
    assert post.status == PostStatus.APPROVED
