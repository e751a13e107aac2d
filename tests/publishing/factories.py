"""Publishing test data: connected accounts, and posts approved then scheduled the way the services leave them."""

from __future__ import annotations

import datetime as dt

import factory
from django.utils import timezone

from publishing.models import AccountStatus, ConnectedAccount
from publishing.tokens import token_encrypt
from scheduler.models import PostStatus, PostTransition
from tests.factories import PersonaFactory, PostFactory, PostImageFactory


class ConnectedAccountFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ConnectedAccount

    class Params:
        token = "token-17841400000000001"

    persona = factory.SubFactory(PersonaFactory)
    platform = "instagram"
    platform_user_id = "17841400000000001"
    username = "ava.virtual"
    status = AccountStatus.CONNECTED
    access_token_encrypted = factory.LazyAttribute(lambda o: token_encrypt(o.token))


def scheduled_post(*, persona, platform: str = "instagram", images: int = 1, approved: bool = True,
                   caption: str = "", hashtags: list[str] | None = None):
    """A post that went draft -> in review -> approved -> scheduled (due now), with `images` images."""
    status = PostStatus.SCHEDULED if approved else PostStatus.IN_REVIEW
    extra = {"caption": caption} if caption else {}
    if hashtags is not None:
        extra["hashtags"] = hashtags
    post = PostFactory(persona=persona, platform=platform, status=status,
                       scheduled_at=timezone.now() - dt.timedelta(seconds=5), **extra)
    for position in range(images):
        PostImageFactory(post=post, position=position)
    steps = [(PostStatus.DRAFT, PostStatus.IN_REVIEW)]
    if approved:
        steps += [(PostStatus.IN_REVIEW, PostStatus.APPROVED), (PostStatus.APPROVED, PostStatus.SCHEDULED)]
    for source, target in steps:
        PostTransition.objects.create(post=post, from_status=source, to_status=target)
    return post
