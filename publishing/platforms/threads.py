"""Threads API: OAuth (short-lived token exchanged for a long-lived one) and publishing: a container
(IMAGE, TEXT or CAROUSEL with is_carousel_item children) then threads_publish; GET threads_publishing_limit.

Threads' API documents no AI-label field: publications say so (AI_FLAG_NOTE) instead of claiming one.
"""

from __future__ import annotations

from urllib.parse import urlencode

from django.conf import settings

from publishing.platforms.base import MediaItem, TokenGrant, expiry
from publishing.platforms.graph import flag, graph_call

PLATFORM = "threads"
# The edge that reports the 24-hour publishing quota; whether a post may have no image.
QUOTA_EDGE = "threads_publishing_limit"
TEXT_POSTS = True
AI_FLAG_SUPPORTED = False
AI_FLAG_NOTE = "Threads' API has no AI label field; the files carry their labels (C2PA, IPTC, watermarks)."
SCOPES = ["threads_basic", "threads_content_publish"]


def _graph(path: str) -> str:
    return f"{settings.THREADS_GRAPH_BASE_URL.rstrip('/')}/{path.lstrip('/')}"


def authorize_url(*, state: str, code_challenge: str) -> str:
    query = {
        "client_id": settings.THREADS_APP_ID, "redirect_uri": settings.THREADS_REDIRECT_URI,
        "response_type": "code", "scope": ",".join(SCOPES), "state": state,
        "code_challenge": code_challenge, "code_challenge_method": "S256",
    }
    return f"{settings.THREADS_AUTH_URL}?{urlencode(query)}"


def code_exchange(*, code: str, code_verifier: str) -> TokenGrant:
    short = graph_call("POST", _graph("oauth/access_token"), params={
        "client_id": settings.THREADS_APP_ID, "client_secret": settings.THREADS_APP_SECRET,
        "grant_type": "authorization_code", "redirect_uri": settings.THREADS_REDIRECT_URI, "code": code,
        "code_verifier": code_verifier,
    })
    long = graph_call("GET", _graph("access_token"), params={
        "grant_type": "th_exchange_token", "client_secret": settings.THREADS_APP_SECRET,
        "access_token": short["access_token"],
    })
    me = graph_call("GET", _graph("me"), token=long["access_token"], params={"fields": "id,username"})
    return TokenGrant(access_token=long["access_token"], user_id=str(me.get("id") or short.get("user_id")),
                      expires_at=expiry(long.get("expires_in")), scopes=list(SCOPES), username=me.get("username", ""))


def token_refresh(*, token: str) -> TokenGrant:
    answer = graph_call("GET", _graph("refresh_access_token"),
                        params={"grant_type": "th_refresh_token", "access_token": token})
    return TokenGrant(access_token=answer["access_token"], user_id="", expires_at=expiry(answer.get("expires_in")))


def containers_create(*, token: str, user_id: str, items: list[MediaItem], caption: str) -> tuple[str, list[str]]:
    if not items:
        answer = graph_call("POST", _graph(f"{user_id}/threads"), token=token,
                            params={"media_type": "TEXT", "text": caption})
        return str(answer["id"]), []
    if len(items) == 1:
        answer = graph_call("POST", _graph(f"{user_id}/threads"), token=token, params={
            "media_type": "IMAGE", "image_url": items[0].image_url, "text": caption,
            "alt_text": items[0].alt_text or None,
        })
        return str(answer["id"]), []
    children = []
    for item in items:
        answer = graph_call("POST", _graph(f"{user_id}/threads"), token=token, params={
            "media_type": "IMAGE", "image_url": item.image_url, "is_carousel_item": flag(True),
            "alt_text": item.alt_text or None,
        })
        children.append(str(answer["id"]))
    parent = graph_call("POST", _graph(f"{user_id}/threads"), token=token, params={
        "media_type": "CAROUSEL", "children": ",".join(children), "text": caption,
    })
    return str(parent["id"]), children


def container_status(*, token: str, container_id: str) -> tuple[str, str]:
    answer = graph_call("GET", _graph(container_id), token=token, params={"fields": "status,error_message"})
    return str(answer.get("status", "")), str(answer.get("error_message", ""))


def publish(*, token: str, user_id: str, container_id: str) -> str:
    answer = graph_call("POST", _graph(f"{user_id}/threads_publish"), token=token,
                        params={"creation_id": container_id})
    return str(answer["id"])


def media_read(*, token: str, media_id: str) -> tuple[str, bool | None]:
    answer = graph_call("GET", _graph(media_id), token=token, params={"fields": "permalink"})
    return str(answer.get("permalink", "")), None


def media_recent(*, token: str, user_id: str) -> list[dict]:
    answer = graph_call("GET", _graph(f"{user_id}/threads"), token=token,
                        params={"fields": "id,text,timestamp,permalink", "limit": 25})
    return [{"id": str(item["id"]), "text": item.get("text", "")} for item in answer.get("data", [])]


def publishing_limit(*, token: str, user_id: str) -> tuple[int, int]:
    answer = graph_call("GET", _graph(f"{user_id}/{QUOTA_EDGE}"), token=token,
                        params={"fields": "quota_usage,config"})
    data = (answer.get("data") or [{}])[0]
    return int(data.get("quota_usage", 0)), int((data.get("config") or {}).get("quota_total", 250))
