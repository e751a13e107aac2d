"""Server time of the main pages with 10,000 posts, against the same pages with 100 posts (same run).

Builds a throwaway database (SQLite file in a temp dir, or a test database on the server DATABASE_URL points
to: Django's test-database machinery creates and drops it), fills one workspace with 10,000 posts over
10 personas and a second workspace with 100 posts over one persona, then times N requests to each page with
Django's test Client (full request: middleware, session, queries, template rendering). Prints median / p95 ms,
the ratio to the 100-post baseline and the number of SQL queries; exits 1 if the review queue or the calendar
is over the budget (p95, 150 ms by default).

    .venv/bin/python bench/pages.py                     # table
    .venv/bin/python bench/pages.py -n 50 --json out.json
    DATABASE_URL=postgres://... .venv/bin/python bench/pages.py
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

BUDGET_MS = 150.0
GATED = ("review queue", "review queue (grid)", "calendar month", "calendar week (persona)")


def setup_django(tmp: str) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("DJANGO_SECRET_KEY", "bench-secret-key-not-for-production")
    os.environ.setdefault("DJANGO_DEBUG", "0")
    os.environ.setdefault("DJANGO_SECURE_SSL_REDIRECT", "0")
    os.environ.setdefault("PERSONA_STUDIO_VAR_DIR", tmp)
    os.environ.setdefault("CELERY_TASK_ALWAYS_EAGER", "1")
    import django
    from django.conf import settings

    # Rendering pages needs static URLs, not the collectstatic manifest.
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    db = settings.DATABASES["default"]
    if db["ENGINE"].endswith("sqlite3"):
        db.setdefault("TEST", {})["NAME"] = str(Path(tmp) / "bench.sqlite3")  # a file, like production
    django.setup()


def load_app_like_production(freeze: bool) -> dict:
    """Import config.wsgi and the URLconf, as a WSGI worker does before its first request.

    The URLconf imports generation (and torch), so a full garbage collection walks a large heap; unless the
    objects loaded at start-up are frozen (gc.freeze(), in config/wsgi.py or with --freeze here), those
    collections show up as p95 spikes. The cost of one is reported.
    """
    import gc

    from django.urls import get_resolver

    import config.wsgi  # noqa: F401 - builds the application exactly as the server does

    get_resolver().url_patterns  # noqa: B018 - loads every view module, as the first request would
    if freeze:
        gc.freeze()
    started = time.perf_counter()
    gc.collect()
    return {
        "frozen": gc.get_freeze_count() > 0,
        "full_gc_ms": round((time.perf_counter() - started) * 1000, 1),
        "torch_loaded": "torch" in sys.modules,
    }


def build_workspace(*, name: str, personas: int, posts_per_persona: int, start: dt.datetime):
    """A workspace with a reviewer, personas and posts in every state the pages list; bulk inserts."""
    from django.contrib.auth import get_user_model

    from core.access import Role
    from core.platforms import Platform
    from personas.models import Membership, Persona, Workspace
    from scheduler.models import Post, PostImage, PostStatus, PostTransition

    workspace = Workspace.objects.create(name=name, slug=name.lower().replace(" ", "-"))
    users = get_user_model().objects
    marketer = users.create_user(username=f"{workspace.slug}-marketer", password="bench-pw-1")
    reviewer = users.create_user(username=f"{workspace.slug}-reviewer", password="bench-pw-1")
    Membership.objects.create(workspace=workspace, user=marketer, role=Role.MARKETER)
    Membership.objects.create(workspace=workspace, user=reviewer, role=Role.REVIEWER)
    platforms = [Platform.INSTAGRAM, Platform.THREADS, Platform.X, Platform.LINKEDIN]
    # Shares of each persona's posts: scheduled 40%, in review 25%, approved 15%, drafts 10%, published 10%.
    shares = [(PostStatus.SCHEDULED, 40), (PostStatus.IN_REVIEW, 25), (PostStatus.APPROVED, 15),
              (PostStatus.DRAFT, 10), (PostStatus.PUBLISHED, 10)]
    in_review = []
    for p in range(personas):
        persona = Persona.objects.create(
            workspace=workspace, name=f"{name} persona {p}", handle=f"{workspace.slug}_{p}", age=25,
            trigger_token="sks", timezone=["Europe/Paris", "America/New_York", "Asia/Tokyo"][p % 3],
            target_platforms=["instagram", "threads"], posting_slots=["09:00", "12:30", "18:00"],
            min_post_gap_minutes=120, created_by=marketer,
        )
        rows = []
        for status, share in shares:
            count = posts_per_persona * share // 100
            for i in range(count):
                if status == PostStatus.SCHEDULED:  # two a day from today on
                    when = start + dt.timedelta(hours=12 * i + p)
                elif status == PostStatus.PUBLISHED:
                    when = start - dt.timedelta(hours=12 * (i + 1) + p)
                else:
                    when = None
                rows.append(Post(
                    workspace=workspace, persona=persona, platform=platforms[i % len(platforms)],
                    caption=f"Post {i} of {persona.name}: coffee, light and a city walk. {persona.disclosure_label}",
                    hashtags=["#travel", "#coffee"], disclosure_label=persona.disclosure_label,
                    status=status, scheduled_at=when, created_by=marketer,
                ))
        created = Post.objects.bulk_create(rows, batch_size=500)
        in_review += [post for post in created if post.status == PostStatus.IN_REVIEW]
    PostTransition.objects.bulk_create(
        [PostTransition(post=post, actor=marketer, from_status="draft", to_status="in_review") for post in in_review],
        batch_size=500,
    )
    # Image rows only (the pages render their URLs, never the files).
    PostImage.objects.bulk_create(
        [PostImage(post=post, image=f"workspaces/{workspace.pk}/posts/{post.pk}/0.png", width=1080, height=1350,
                   sha256="0" * 64, position=0) for post in in_review],
        batch_size=500,
    )
    first_persona = Persona.objects.filter(workspace=workspace).order_by("pk").first()
    return workspace, reviewer, first_persona


def pages_for(persona, day: dt.date) -> list[tuple[str, str]]:
    from django.urls import reverse

    return [
        ("dashboard", reverse("dashboard")),
        ("review queue", reverse("review_queue")),
        ("review queue (grid)", reverse("review_queue") + "?layout=grid"),
        ("calendar month", reverse("calendar") + f"?start={day.isoformat()}"),
        ("calendar week (persona)", reverse("calendar") + f"?view=week&persona={persona.pk}&start={day.isoformat()}"),
        ("persona page", reverse("personas:detail", args=[persona.pk])),
        ("exports", reverse("export_list")),
    ]


def time_page(client, url: str, n: int, warmup: int) -> tuple[list[float], int]:
    from django.db import connection

    for _ in range(warmup):
        assert client.get(url).status_code == 200, url
    queries = []

    def count(execute, sql, params, many, context):
        queries.append(sql)
        return execute(sql, params, many, context)

    # An execute wrapper counts every query, whatever the connection's debug-cursor state across requests.
    with connection.execute_wrapper(count):
        response = client.get(url)
    assert response.status_code == 200, (url, response.status_code)
    samples = []
    for _ in range(n):
        started = time.perf_counter()
        response = client.get(url)
        samples.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, url
    return samples, len(queries)


def p95(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=30, help="timed requests per page (default 30)")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--posts", type=int, default=10_000, help="posts in the big workspace (default 10,000)")
    parser.add_argument("--baseline-posts", type=int, default=100)
    parser.add_argument("--budget-ms", type=float, default=BUDGET_MS)
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    parser.add_argument("--freeze", action="store_true",
                        help="gc.freeze() after start-up (what config/wsgi.py should do), to compare")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="persona-bench-") as tmp:
        setup_django(tmp)
        process = load_app_like_production(args.freeze)
        from django.db import connection
        from django.test import Client
        from django.test.utils import setup_test_environment
        from django.utils import timezone

        setup_test_environment()
        old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
        try:
            now = timezone.now().replace(minute=0, second=0, microsecond=0)
            built = time.perf_counter()
            big = build_workspace(name="Big Brand", personas=10, posts_per_persona=args.posts // 10, start=now)
            small = build_workspace(name="Small Brand", personas=1, posts_per_persona=args.baseline_posts, start=now)
            build_s = time.perf_counter() - built
            from scheduler.models import Post

            counts = {ws.name: Post.objects.filter(workspace=ws).count() for ws, _, _ in (big, small)}
            day = (now + dt.timedelta(days=3)).date()
            results = []
            for label, url in pages_for(big[2], day):
                small_url = dict(pages_for(small[2], day))[label]
                client = Client()
                client.force_login(small[1])
                base, _ = time_page(client, small_url, args.n, args.warmup)
                client = Client()
                client.force_login(big[1])
                samples, queries = time_page(client, url, args.n, args.warmup)
                med, base_med = statistics.median(samples), statistics.median(base)
                gated = label in GATED
                results.append({
                    "page": label, "median_ms": round(med, 1), "p95_ms": round(p95(samples), 1),
                    "baseline_median_ms": round(base_med, 1), "baseline_p95_ms": round(p95(base), 1),
                    "ratio": round(med / base_med, 2), "queries": queries, "gated": gated,
                    "ok": (p95(samples) <= args.budget_ms) if gated else True,
                })
        finally:
            connection.creation.destroy_test_db(old_name, verbosity=0)

    print(f"Pages with {counts['Big Brand']:,} posts (10 personas) vs {counts['Small Brand']:,} posts (baseline, "
          f"same run); {args.n} timed requests each after {args.warmup} warm-up; data built in {build_s:.1f} s; "
          f"database: {connection.vendor}.")
    print(f"Process: torch imported by the URLconf: {'yes' if process['torch_loaded'] else 'no'}; start-up objects "
          f"frozen (gc.freeze): {'yes' if process['frozen'] else 'no'}; one full collection then took "
          f"{process['full_gc_ms']} ms.")
    header = f"{'page':<26}{'median':>9}{'p95':>9}{'base med':>10}{'base p95':>10}{'ratio':>8}{'queries':>9}  budget"
    print(header)
    print("-" * len(header))
    for r in results:
        verdict = ("ok" if r["ok"] else f"OVER {args.budget_ms:.0f} ms") if r["gated"] else "-"
        print(f"{r['page']:<26}{r['median_ms']:>9.1f}{r['p95_ms']:>9.1f}{r['baseline_median_ms']:>10.1f}"
              f"{r['baseline_p95_ms']:>10.1f}{r['ratio']:>7.2f}x{r['queries']:>9}  {verdict}")
    print(f"(ms; budget: p95 <= {args.budget_ms:.0f} ms for {', '.join(GATED)})")
    if args.json:
        payload = {"posts": counts, "n": args.n, "process": process, "results": results}
        Path(args.json).write_text(json.dumps(payload, indent=2) + "\n")
    return 0 if all(r["ok"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
