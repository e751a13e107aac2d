"""What each platform client offers the publishing state machine."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field


@dataclass(frozen=True)
class TokenGrant:
    access_token: str
    user_id: str
    expires_at: dt.datetime | None = None
    scopes: list[str] = field(default_factory=list)
    username: str = ""


@dataclass(frozen=True)
class MediaItem:
    image_url: str
    alt_text: str = ""


def expiry(expires_in: object) -> dt.datetime | None:
    try:
        seconds = int(expires_in)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return dt.datetime.now(dt.UTC) + dt.timedelta(seconds=seconds)
