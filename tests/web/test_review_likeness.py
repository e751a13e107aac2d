"""The review queue's likeness badge, "off-model only" filter and likeness sort, server side."""

from __future__ import annotations

import re

import pytest

from generation.models import LikenessStatus
from scheduler.models import PostStatus
from tests.factories import GeneratedImageFactory, PersonaFactory, PostFactory, PostImageFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def scored(workspace, marketer):
    persona = PersonaFactory(workspace=workspace, created_by=marketer, is_human_face=True)
    posts = {}
    for name, score, on_model in (("high", 0.91, True), ("off", 0.31, False), ("mid", 0.72, True)):
        post = PostFactory(persona=persona, created_by=marketer, status=PostStatus.IN_REVIEW)
        image = GeneratedImageFactory(job__persona=persona, likeness_status=LikenessStatus.SCORED,
                                      likeness_score=score, on_model=on_model, face_found=True)
        PostImageFactory(post=post, position=0, generated_image=image)
        posts[name] = post
    posts["plain"] = PostFactory(persona=persona, created_by=marketer, status=PostStatus.IN_REVIEW)
    return posts


def _order(client, query: str) -> list[int]:
    html = client.get(f"/review/?{query}").content.decode()
    return [int(pk) for pk in re.findall(r'<article class="card review-card" id="post-(\d+)"', html)]


def test_filter_and_sort_by_likeness(client, reviewer, scored):
    client.force_login(reviewer)
    ids = {name: post.pk for name, post in scored.items()}
    html = client.get("/review/").content.decode()
    assert "Off-model · 0.31" in html and "On-model · 0.91" in html
    assert _order(client, "sort=likeness") == [ids["off"], ids["mid"], ids["high"], ids["plain"]]
    assert _order(client, "sort=-likeness") == [ids["high"], ids["mid"], ids["off"], ids["plain"]]
    assert _order(client, "likeness=off") == [ids["off"]]
    assert _order(client, "sort=bogus")[0] == min(ids.values())  # unknown sorts keep the queue's own order
