"""The files of an export bundle besides its images: bulk-upload CSVs, the calendar, README.txt, and the
text formatting they share with manifest.json (captions with their disclosure, local times)."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import zoneinfo
from dataclasses import dataclass, field

import icalendar

from core.captions import text_as_posted
from core.platforms import Platform
from provenance.bundles.importer_rules import (
    HOOTSUITE_MAX_ROWS,
    HOOTSUITE_ROUND,
    SPROUT_MAX_ROWS,
    HootsuitePlan,
    PostTime,
    hootsuite_plan,
    part_names,
    split_rows,
    sprout_too_close,
)
from provenance.labeling import caption_with_disclosure
from scheduler.models import Post

# 1.1: images are the labeled JPEGs (sha256 of those bytes, watermark payload), captions carry the
# disclosure label and "#ad", and each post lists its platform's AI-content flag.
SCHEMA_VERSION = "1.1"
ICS_UID_DOMAIN = "personastudio"


def utc_iso(value: dt.datetime) -> str:
    """ISO 8601 in UTC with a Z suffix, e.g. 2026-03-28T08:00:00Z."""
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def local_time(post: Post) -> dt.datetime:
    return post.scheduled_at.astimezone(zoneinfo.ZoneInfo(post.persona.timezone))


def _has_ad_hashtag(post: Post) -> bool:
    return any(str(tag).lower() == "#ad" for tag in post.hashtags or [])


def post_caption(post: Post) -> str:
    """The caption with the AI-disclosure label, and "#ad" for a sponsored post, guaranteed present.

    The workflow already requires both before approval; this is the export's own guarantee. "#ad" already
    among the hashtags counts, so it is not added twice.
    """
    label = (post.disclosure_label or post.persona.disclosure_label or "").strip()
    sponsored = post.is_sponsored and not _has_ad_hashtag(post)
    return caption_with_disclosure(post.caption, label, sponsored=sponsored)


def post_message(post: Post) -> str:
    """The text as published (disclosed caption, then hashtags), composed as platform validation counts it."""
    return text_as_posted(post_caption(post), list(post.hashtags or []))


def _platform_label(platform: str) -> str:
    try:
        return Platform(platform).label
    except ValueError:
        return platform


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-") or "persona"



def _csv_bytes(rows: list[list[str]]) -> bytes:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\r\n").writerows(rows)
    return buf.getvalue().encode("utf-8")


@dataclass
class ImporterPlan:
    """What the bulk importers' rules (provenance.bundles.importer_rules) make of a bundle's posts, per CSV group."""

    hootsuite_time_rule: str
    hootsuite: dict[str, HootsuitePlan] = field(default_factory=dict)
    sprout_warnings: list[str] = field(default_factory=list)

    @property
    def refused(self) -> list[str]:
        """Posts Hootsuite would refuse and the workspace chose not to move: the export stops on them."""
        return [problem.message for plan in self.hootsuite.values() for problem in plan.problems]

    @property
    def hootsuite_changes(self) -> list[str]:
        return [change.describe() for plan in self.hootsuite.values() for change in plan.changes]

    def as_dict(self) -> dict[str, object]:
        return {
            "hootsuite_time_rule": self.hootsuite_time_rule,
            "hootsuite_changes": self.hootsuite_changes,
            "sprout_social_warnings": self.sprout_warnings,
        }


def _groups(posts: list[Post]) -> dict[str, list[Post]]:
    """Posts per CSV file: one persona on one platform is one profile at upload time."""
    groups: dict[str, list[Post]] = {}
    for post in posts:
        groups.setdefault(f"{_slug(post.persona.handle)}_{post.platform}", []).append(post)
    return groups


def importer_plan(posts: list[Post], *, hootsuite_time_rule: str = HOOTSUITE_ROUND) -> ImporterPlan:
    """The Hootsuite times to write (rounded or refused per the workspace's rule, one post per slot) and the
    Sprout Social posts closer than 10 minutes to the one before, per CSV group."""
    plan = ImporterPlan(hootsuite_time_rule=hootsuite_time_rule)
    for key, group in _groups(posts).items():
        times = [PostTime(key=post.pk, at=local_time(post)) for post in group]
        plan.hootsuite[key] = hootsuite_plan(times, mode=hootsuite_time_rule)
        plan.sprout_warnings += [f"{key}: {problem.message}" for problem in sprout_too_close(times)]
    return plan


def bulk_csvs(posts: list[Post], plan: ImporterPlan | None = None) -> dict[str, bytes]:
    """Hootsuite and Sprout Social CSVs per persona and platform, split at the importers' 350 rows.

    Both tools import a CSV into the social profile(s) picked at upload time, so one file per
    profile is what can be uploaded as is. Times are the persona's local wall-clock time: set the
    upload's / profile's timezone to the persona timezone (see README.txt in the bundle).

    Hootsuite Bulk Composer (help.hootsuite.com/s/article/bulk-schedule, the classic layout; also
    described by user guides such as kim-iverson-headlee.blogspot.com/2016/08 and reproduced by
    public generators such as Chris Maenner's "Hootsuite Bulk Composer" script): no header row;
    column A the date and time ("DD/MM/YYYY HH:mm", 24-hour; pick "Day/Month/Year" at upload),
    column B the message, column C an optional link. Hootsuite only accepts times whose minutes
    end in 0 or 5.

    Sprout Social bulk scheduling (support.sproutsocial.com/hc/en-us/articles/115005864203): a
    header row with the required, case-sensitive columns `date` (dd/mm/yyyy or mm/dd/yyyy, chosen
    at import; we write dd/mm/yyyy), `time_24hr` (HH:MM) and `message_text`. Optional columns are
    left out: images travel in the bundle, not as public URLs.

    Messages are not neutralised against spreadsheet formula injection (a leading ' would be posted
    as part of the text, and captions often start with "@" or "-"); README.txt warns instead.

    Hootsuite rows carry the times of `plan` (importer_plan: on 5-minute slots, one post per slot); a
    post the plan refused is left out (the export stops before writing when any is). Files of more than
    350 rows are split: `<key>_part1of2.csv`, ..., Sprout's each with its header row.
    """
    plan = plan or importer_plan(posts)
    files: dict[str, bytes] = {}
    for key, group in _groups(posts).items():
        times = plan.hootsuite[key].times
        hootsuite_rows = [
            [times[post.pk].strftime("%d/%m/%Y %H:%M"), post_message(post), ""] for post in group if post.pk in times
        ]
        sprout_rows = []
        for post in group:
            local = local_time(post)
            sprout_rows.append([local.strftime("%d/%m/%Y"), local.strftime("%H:%M"), post_message(post)])
        parts = split_rows(hootsuite_rows, HOOTSUITE_MAX_ROWS)
        for name, rows in zip(part_names(f"hootsuite/{key}", len(parts)), parts, strict=True):
            files[name] = _csv_bytes(rows)
        parts = split_rows(sprout_rows, SPROUT_MAX_ROWS)
        for name, rows in zip(part_names(f"sprout_social/{key}", len(parts)), parts, strict=True):
            files[name] = _csv_bytes([["date", "time_24hr", "message_text"], *rows])
    return files


def calendar_ics(posts: list[Post], generated_at: dt.datetime) -> bytes:
    cal = icalendar.Calendar()
    cal.add("prodid", "-//Persona Studio//Export bundle 1.0//EN")
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("x-wr-calname", "Persona Studio schedule")
    stamp = generated_at.astimezone(dt.UTC)
    for post in posts:
        event = icalendar.Event()
        # Stable per post: re-importing a later bundle updates the event instead of duplicating it.
        event.add("uid", f"post-{post.pk}@{ICS_UID_DOMAIN}")
        event.add("dtstamp", stamp)
        event.add("dtstart", post.scheduled_at.astimezone(dt.UTC))
        event.add("summary", f"{post.persona.name} – {_platform_label(post.platform)}")
        event.add("description", post_message(post))
        cal.add_component(event)
    return cal.to_ical()


def readme_text() -> str:
    return (
        "Persona Studio export bundle\n"
        "============================\n\n"
        "manifest.json     every post: persona, platform, times (UTC and persona-local), caption with\n"
        "                  the AI-disclosure label (and #ad when sponsored), hashtags, the platform's\n"
        f"                  AI-content flag, images with sha256 and watermark (schema_version {SCHEMA_VERSION})\n"
        "images/           final images, named <post id>_<position>.jpg, at the platform's size; each carries\n"
        "                  an IPTC 'trainedAlgorithmicMedia' tag and China's TC260:AIGC label (XMP), invisible\n"
        "                  watermarks and a signed C2PA manifest. Upload them as they are: editing or\n"
        "                  re-saving removes the metadata labels.\n"
        "                  Check them with: manage.py verify_bundle <this zip>\n"
        "hootsuite/        Hootsuite Bulk Composer CSVs, one per persona and platform; no header;\n"
        "                  date format Day/Month/Year, 24-hour time, in the persona's timezone; times on\n"
        "                  minutes ending in 0 or 5, one post per slot (what was moved: manifest.json,\n"
        "                  'importer')\n"
        "sprout_social/    Sprout Social bulk scheduling CSVs (date, time_24hr, message_text);\n"
        "                  choose dd/mm/yyyy at import; times in the persona's timezone; posts less than\n"
        "                  10 minutes apart are listed in manifest.json, 'importer'\n"
        "                  Files of more than 350 rows (both importers' limit) are split: <name>_part1of2.csv\n"
        "schedule.ics      the schedule as a calendar (times in UTC)\n\n"
        "Images are not referenced by URL in the CSVs: attach them from images/ after import.\n\n"
        "The CSVs are for uploading to Hootsuite / Sprout Social only. Messages are written exactly as they\n"
        "will be posted, so one starting with =, +, - or @ is NOT escaped: opened in Excel, LibreOffice or\n"
        "Google Sheets it can run as a formula. To read a CSV, import it with every column as text; never\n"
        "re-save it from a spreadsheet before uploading.\n"
    )
