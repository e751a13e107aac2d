"""Posts from generated images: generation looks the rows up, scheduler's post_create stores them."""

import pytest
from django.urls import resolve

from core.errors import ValidationFailed
from generation import selectors
from scheduler.api import posts as api_posts
from tests.conftest import client_for
from tests.factories import GeneratedImageFactory, GenerationJobFactory

pytestmark = pytest.mark.django_db


def test_generated_images_for_persona_keeps_the_given_order_once_and_names_the_missing(persona):
    job = GenerationJobFactory(persona=persona)
    first, second = GeneratedImageFactory(job=job), GeneratedImageFactory(job=job)
    assert selectors.generated_images_for_persona(persona=persona, ids=[second.pk, first.pk, second.pk]) == [
        second,
        first,
    ]
    foreign = GeneratedImageFactory()
    with pytest.raises(ValidationFailed, match=rf"^Generated image\(s\) {foreign.pk}, 999999 not found for persona"):
        selectors.generated_images_for_persona(persona=persona, ids=[first.pk, foreign.pk, 999999])


def test_the_posts_api_attaches_generated_images_in_the_order_given(persona, marketer):
    assert resolve("/api/v1/posts/").func.cls is api_posts.PostViewSet
    job = GenerationJobFactory(persona=persona)
    first, second = GeneratedImageFactory(job=job), GeneratedImageFactory(job=job)
    response = client_for(marketer).post(
        "/api/v1/posts/",
        {"persona": persona.pk, "platform": "x", "generated_images": [second.pk, first.pk]},
        format="json",
    )
    assert response.status_code == 201, response.json()
    images = response.json()["images"]
    assert [(image["position"], image["generated_image"]) for image in images] == [(0, second.pk), (1, first.pk)]
