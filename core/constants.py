"""Constants more than one app needs."""

from __future__ import annotations

from django.db import models

# Ids are 64-bit: a larger number would crash the database driver (a 500) instead of failing validation.
MAX_DB_ID = 2**63 - 1


class BadgePosition(models.TextChoices):
    """Corner of the visible "AI-generated" badge drawn on exported images."""

    TOP_LEFT = "top-left", "Top left"
    TOP_RIGHT = "top-right", "Top right"
    BOTTOM_LEFT = "bottom-left", "Bottom left"
    BOTTOM_RIGHT = "bottom-right", "Bottom right"
