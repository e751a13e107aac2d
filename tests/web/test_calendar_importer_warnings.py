"""Scheduling from the calendar page says what the bulk importers will make of the time."""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from scheduler.models import PostStatus
from tests.factories import PostFactory, PostImageFactory

pytestmark = pytest.mark.django_db


def test_scheduling_an_off_slot_time_next_to_another_post_warns(client, admin_member, persona, marketer):
    persona.timezone = "UTC"
    persona.save()
    neighbour = dt.datetime(2031, 7, 1, 9, 30, tzinfo=dt.UTC)
    PostFactory(persona=persona, status=PostStatus.SCHEDULED, scheduled_at=neighbour)
    post = PostFactory(persona=persona, created_by=marketer, status=PostStatus.APPROVED)
    PostImageFactory(post=post, position=0)
    client.force_login(admin_member)
    response = client.post(reverse("post_schedule_page", args=[post.pk]), {"scheduled_at": "2031-07-01T09:37"})
    assert response.status_code == 302
    shown = [str(message) for message in get_messages(response.wsgi_request)]
    assert any(m.startswith("Export: Hootsuite takes minutes ending in 0 or 5") and "09:35" in m for m in shown)
    assert any(m.startswith("Export: Sprout Social wants 10 minutes") for m in shown)
