"""Instagram API with Instagram Login: OAuth (short-lived token exchanged for a 60-day one, refreshed before it
expires) and the Content Publishing API: containers, status polling, media_publish, read-back, publishing limit.

Since 22 June 2026 a container takes is_ai_generated=true (Instagram's "AI info" label); on a carousel it goes on
the parent container only, and GET /{media-id}?fields=is_ai_generated reads it back.
"""

from __future__ import annotations

from urllib.parse import urlencode

from django.conf import settings

from publishing.platforms.base import MediaItem, TokenGrant, expiry
from publishing.platforms.graph import MediaRejected, flag, graph_call

PLATFORM = "instagram"
# The edge that reports the 24-hour publishing quota; whether a post may have no image.
QUOTA_EDGE = "content_publishing_limit"
TEXT_POSTS = False
AI_FLAG_SUPPORTED = True
SCOPES = ["instagram_business_basic", "instagram_business_content_publish"]


def _graph(path: str) -> str:
    return f"{settings.INSTAGRAM_GRAPH_BASE_URL.rstrip('/')}/{path.lstrip('/')}"


def _graph_root(path: str) -> str:
    # Token endpoints hang off the host, not the versioned path.
    base = settings.INSTAGRAM_GRAPH_BASE_URL.rstrip("/")
    root = base.rsplit("/", 1)[0] if base.rsplit("/", 1)[-1].startswith("v") else base
    return f"{root}/{path.lstrip('/')}"


def authorize_url(*, state: str, code_challenge: str) -> str:
    query = {
        "client_id": settings.INSTAGRAM_APP_ID, "redirect_uri": settings.INSTAGRAM_REDIRECT_URI,
        "response_type": "code", "scope": ",".join(SCOPES), "state": state,
        "code_challenge": code_challenge, "code_challenge_method": "S256",
    }
    return f"{settings.INSTAGRAM_AUTH_URL}?{urlencode(query)}"


def code_exchange(*, code: str, code_verifier: str) -> TokenGrant:
    """The code for a short-lived token, that for a long-lived one, and the account's id and username."""
    answer = graph_call("POST", f"{settings.INSTAGRAM_OAUTH_BASE_URL.rstrip('/')}/oauth/access_token", params={
        "client_id": settings.INSTAGRAM_APP_ID, "client_secret": settings.INSTAGRAM_APP_SECRET,
        "grant_type": "authorization_code", "redirect_uri": settings.INSTAGRAM_REDIRECT_URI, "code": code,
        "code_verifier": code_verifier,
    })
    # Answered either flat or as {"data": [{...}]}, depending on the API version.
    first = (answer.get("data") or [answer])[0]
    short = first["access_token"]
    scopes = first.get("permissions") or []
    if isinstance(scopes, str):
        scopes = scopes.split(",")
    long = graph_call("GET", _graph_root("access_token"), params={
        "grant_type": "ig_exchange_token", "client_secret": settings.INSTAGRAM_APP_SECRET, "access_token": short,
    })
    me = graph_call("GET", _graph("me"), token=long["access_token"], params={"fields": "user_id,username"})
    return TokenGrant(access_token=long["access_token"], user_id=str(me.get("user_id") or first.get("user_id")),
                      expires_at=expiry(long.get("expires_in")), scopes=list(scopes), username=me.get("username", ""))


def token_refresh(*, token: str) -> TokenGrant:
    answer = graph_call("GET", _graph_root("refresh_access_token"),
                        params={"grant_type": "ig_refresh_token", "access_token": token})
    return TokenGrant(access_token=answer["access_token"], user_id="", expires_at=expiry(answer.get("expires_in")))


def containers_create(*, token: str, user_id: str, items: list[MediaItem], caption: str) -> tuple[str, list[str]]:
    """The container to publish and, for a carousel, its children (the AI flag on the parent only)."""
    if not items:
        raise MediaRejected("An Instagram post needs at least one image.")
    if len(items) == 1:
        answer = graph_call("POST", _graph(f"{user_id}/media"), token=token, params={
            "image_url": items[0].image_url, "caption": caption, "alt_text": items[0].alt_text or None,
            "is_ai_generated": flag(True),
        })
        return str(answer["id"]), []
    children = []
    for item in items:
        answer = graph_call("POST", _graph(f"{user_id}/media"), token=token, params={
            "image_url": item.image_url, "is_carousel_item": flag(True), "alt_text": item.alt_text or None,
        })
        children.append(str(answer["id"]))
    parent = graph_call("POST", _graph(f"{user_id}/media"), token=token, params={
        "media_type": "CAROUSEL", "children": ",".join(children), "caption": caption,
        "is_ai_generated": flag(True),
    })
    return str(parent["id"]), children


def container_status(*, token: str, container_id: str) -> tuple[str, str]:
    """(IN_PROGRESS | FINISHED | PUBLISHED | ERROR | EXPIRED, the platform's detail)."""
    answer = graph_call("GET", _graph(container_id), token=token, params={"fields": "status_code,status"})
    return str(answer.get("status_code", "")), str(answer.get("status", ""))


def publish(*, token: str, user_id: str, container_id: str) -> str:
    answer = graph_call("POST", _graph(f"{user_id}/media_publish"), token=token, params={"creation_id": container_id})
    return str(answer["id"])


def media_read(*, token: str, media_id: str) -> tuple[str, bool | None]:
    """The published media's permalink and the AI flag Instagram reports for it."""
    answer = graph_call("GET", _graph(media_id), token=token, params={"fields": "permalink,is_ai_generated"})
    reported = answer.get("is_ai_generated")
    return str(answer.get("permalink", "")), (bool(reported) if reported is not None else None)


def media_recent(*, token: str, user_id: str) -> list[dict]:
    """The account's newest media (id, caption, timestamp): how a publish whose answer was lost is found again."""
    answer = graph_call("GET", _graph(f"{user_id}/media"), token=token,
                        params={"fields": "id,caption,timestamp,permalink", "limit": 25})
    return [{"id": str(item["id"]), "text": item.get("caption", "")} for item in answer.get("data", [])]


def publishing_limit(*, token: str, user_id: str) -> tuple[int, int]:
    """(posts published through the API in the moving 24 hours, the quota)."""
    answer = graph_call("GET", _graph(f"{user_id}/{QUOTA_EDGE}"), token=token,
                        params={"fields": "quota_usage,config"})
    data = (answer.get("data") or [{}])[0]
    return int(data.get("quota_usage", 0)), int((data.get("config") or {}).get("quota_total", 50))
