"""Server time of the main pages with 10,000 posts, against the same pages with 100 posts (same run).

Builds a throwaway database (SQLite file in a temp dir, or a test database on the server DATABASE_URL or
--database-url points to: Django's test-database machinery creates and drops it), fills one workspace with 10,000
posts over 10 personas and a second workspace with 100 posts over one persona (bench/page_data.py), then times N
requests to each page with Django's test Client (full request: middleware, session, queries, template rendering;
not the test instrumentation of templates), alternating the two workspaces so that noise on a shared machine hits
both alike. Prints median, p95 and max ms of each, the p95 ratio to the 100-post page, both query counts and the
machine (cores, load average); exits 1 if a page is over the budget (p95, 50 ms by default) or over the ratio
(1.5x).

    .venv/bin/python bench/pages.py                     # table (SQLite)
    .venv/bin/python bench/pages.py -n 50 --json out.json
    .venv/bin/python bench/pages.py --database-url postgres://postgres@127.0.0.1:5432/pages_bench
    .venv/bin/python bench/pages.py --profile "review queue"   # top functions of one page, no table
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

BUDGET_MS = 50.0
MAX_RATIO = 1.5


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

    The URLconf imports every page module, so a full garbage collection walks a large heap; unless the objects
    loaded at start-up are frozen (gc.freeze(), which config/wsgi.py does; --freeze here for an older one), those
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


def pages_for(persona, day: dt.date) -> list[tuple[str, str]]:
    from django.urls import reverse

    return [
        ("dashboard", reverse("dashboard")),
        ("review queue", reverse("review_queue")),
        ("review queue (grid)", reverse("review_queue") + "?layout=grid"),
        ("calendar month", reverse("calendar") + f"?start={day.isoformat()}"),
        ("calendar week (persona)", reverse("calendar") + f"?view=week&persona={persona.pk}&start={day.isoformat()}"),
        ("calendar day", reverse("calendar") + f"?view=day&start={day.isoformat()}"),
        ("persona page", reverse("personas:detail", args=[persona.pk])),
        ("exports", reverse("export_list")),
    ]


def count_queries(client, url: str) -> int:
    from django.db import connection

    queries = []

    def count(execute, sql, params, many, context):
        queries.append(sql)
        return execute(sql, params, many, context)

    # An execute wrapper counts every query, whatever the connection's debug-cursor state across requests.
    with connection.execute_wrapper(count):
        response = client.get(url)
    assert response.status_code == 200, (url, response.status_code)
    return len(queries)


def time_pages(clients: dict, urls: dict, n: int, warmup: int) -> dict[str, list[float]]:
    """n timed requests to each workspace's page, alternating, after `warmup` untimed ones."""
    for _ in range(warmup):
        for key in clients:
            assert clients[key].get(urls[key]).status_code == 200, urls[key]
    samples: dict[str, list[float]] = {key: [] for key in clients}
    for _ in range(n):
        for key in clients:
            started = time.perf_counter()
            response = clients[key].get(urls[key])
            samples[key].append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200, urls[key]
    return samples


def p95(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def profile_page(client, url: str, n: int, top: int) -> None:
    """cProfile over n requests: the functions with the most own time and the most cumulative time, and how much
    of the request went to SQL."""
    import cProfile
    import pstats

    from django.db import connection

    sql = {"ms": 0.0, "count": 0}
    by_statement: dict[str, float] = {}

    def timed(execute, statement, params, many, context):
        started = time.perf_counter()
        try:
            return execute(statement, params, many, context)
        finally:
            took = (time.perf_counter() - started) * 1000
            sql["ms"] += took
            sql["count"] += 1
            by_statement[statement] = by_statement.get(statement, 0.0) + took

    client.get(url)
    started = time.perf_counter()
    with connection.execute_wrapper(timed):
        for _ in range(n):
            client.get(url)
    plain_ms = (time.perf_counter() - started) * 1000 / n
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(n):
        client.get(url)
    profiler.disable()
    print(f"{url}: {plain_ms:.1f} ms a request, of which SQL {sql['ms'] / n:.1f} ms in {sql['count'] // n} queries "
          f"(without the profiler; {n} requests)")
    print("Slowest queries (ms a request):")
    for statement, took in sorted(by_statement.items(), key=lambda item: -item[1])[:8]:
        print(f"  {took / n:6.2f}  {statement[:400]}")
    stats = pstats.Stats(profiler, stream=sys.stdout).strip_dirs()
    print(f"\nTop {top} by own time:")
    stats.sort_stats("tottime").print_stats(top)
    print(f"Top {top} by cumulative time:")
    stats.sort_stats("cumulative").print_stats(top)


def table(results: list[dict], args, meta: dict) -> None:
    print(f"Pages with {meta['posts']['Big Brand']:,} posts (10 personas) vs {meta['posts']['Small Brand']:,} posts "
          f"(baseline, same run, requests alternated); {args.n} timed requests each after {args.warmup} warm-up; "
          f"data built in {meta['build_s']:.1f} s; database: {meta['database']}.")
    machine = meta["machine"]
    print(f"Machine: {machine['cores']} cores for this process; load average {machine['load_before']} before, "
          f"{machine['load_after']} after (other processes' share of those cores).")
    process = meta["process"]
    print(f"Process: torch imported by the URLconf: {'yes' if process['torch_loaded'] else 'no'}; start-up objects "
          f"frozen (gc.freeze): {'yes' if process['frozen'] else 'no'}; one full collection then took "
          f"{process['full_gc_ms']} ms.")
    header = (f"{'page':<26}{'median':>8}{'p95':>8}{'max':>8}{'base med':>10}{'base p95':>10}{'base max':>10}"
              f"{'ratio':>8}{'queries':>9}{'base q':>8}  verdict")
    print(header)
    print("-" * len(header))
    for r in results:
        verdict = "ok" if r["ok"] else ", ".join(r["over"])
        print(f"{r['page']:<26}{r['median_ms']:>8.1f}{r['p95_ms']:>8.1f}{r['max_ms']:>8.1f}"
              f"{r['baseline_median_ms']:>10.1f}{r['baseline_p95_ms']:>10.1f}{r['baseline_max_ms']:>10.1f}"
              f"{r['ratio']:>7.2f}x{r['queries']:>9}{r['baseline_queries']:>8}  {verdict}")
    print(f"(ms; ratio: p95 / base p95; budget: p95 <= {args.budget_ms:.0f} ms and ratio <= {args.max_ratio}x "
          "for every page)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=30, help="timed requests per page and workspace (default 30)")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--posts", type=int, default=10_000, help="posts in the big workspace (default 10,000)")
    parser.add_argument("--baseline-posts", type=int, default=100)
    parser.add_argument("--budget-ms", type=float, default=BUDGET_MS, help="p95 budget of every page (default 50)")
    parser.add_argument("--max-ratio", type=float, default=MAX_RATIO,
                        help="largest p95 ratio to the baseline page (default 1.5)")
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    parser.add_argument("--database-url", metavar="URL",
                        help="run on this server (e.g. postgres://postgres@127.0.0.1:5432/pages_bench) instead of "
                             "SQLite; its test database is created and dropped (default: $DATABASE_URL)")
    parser.add_argument("--freeze", action="store_true",
                        help="gc.freeze() after start-up, for a config/wsgi.py that does not")
    parser.add_argument("--profile", metavar="PAGE",
                        help="profile this page (a name in the table, e.g. 'review queue') instead of timing all")
    parser.add_argument("--top", type=int, default=30, help="functions --profile lists (default 30)")
    args = parser.parse_args()
    if args.database_url:
        os.environ["DATABASE_URL"] = args.database_url
    load_before = round(os.getloadavg()[0], 2)

    with tempfile.TemporaryDirectory(prefix="persona-bench-") as tmp:
        setup_django(tmp)
        process = load_app_like_production(args.freeze)
        from django.db import connection
        from django.test import Client
        from django.utils import timezone

        from bench.page_data import build_workspace

        # No setup_test_environment(): its template instrumentation (a copy of the context for every template and
        # include rendered, for the test client) is work a server never does.
        old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
        try:
            now = timezone.now().replace(minute=0, second=0, microsecond=0)
            built = time.perf_counter()
            big = build_workspace(name="Big Brand", personas=10, posts_per_persona=args.posts // 10, start=now)
            small = build_workspace(name="Small Brand", personas=1, posts_per_persona=args.baseline_posts, start=now)
            build_s = time.perf_counter() - built
            if connection.vendor == "postgresql":
                with connection.cursor() as cursor:  # what autovacuum does after a bulk load: statistics, visibility
                    cursor.execute("VACUUM ANALYZE")
            from scheduler.models import Post

            counts = {ws.name: Post.objects.filter(workspace=ws).count() for ws, _, _ in (big, small)}
            day = (now + dt.timedelta(days=3)).date()
            clients = {}
            for key, (_, reviewer, _) in (("big", big), ("small", small)):
                clients[key] = Client()
                clients[key].force_login(reviewer)
            urls = {"big": dict(pages_for(big[2], day)), "small": dict(pages_for(small[2], day))}
            if args.profile:
                wanted = args.profile.replace("-", " ").lower()
                if wanted not in urls["big"]:
                    parser.error(f"--profile: no page {args.profile!r}; pages: {', '.join(urls['big'])}")
                profile_page(clients["big"], urls["big"][wanted], args.n, args.top)
                return 0
            results = []
            for label in urls["big"]:
                page_urls = {key: urls[key][label] for key in clients}
                queries = {key: count_queries(clients[key], page_urls[key]) for key in clients}
                samples = time_pages(clients, page_urls, args.n, args.warmup)
                big_s, small_s = samples["big"], samples["small"]
                ratio = p95(big_s) / p95(small_s)
                over = ([f"p95 over {args.budget_ms:.0f} ms"] if p95(big_s) > args.budget_ms else []) + (
                    [f"ratio over {args.max_ratio}x"] if ratio > args.max_ratio else [])
                results.append({
                    "page": label, "median_ms": round(statistics.median(big_s), 1), "p95_ms": round(p95(big_s), 1),
                    "max_ms": round(max(big_s), 1), "baseline_median_ms": round(statistics.median(small_s), 1),
                    "baseline_p95_ms": round(p95(small_s), 1), "baseline_max_ms": round(max(small_s), 1),
                    "ratio": round(ratio, 2), "queries": queries["big"], "baseline_queries": queries["small"],
                    "ok": not over, "over": over,
                })
        finally:
            connection.creation.destroy_test_db(old_name, verbosity=0)

    meta = {"posts": counts, "build_s": build_s, "database": connection.vendor, "process": process,
            "machine": {"cores": len(os.sched_getaffinity(0)), "load_before": load_before,
                        "load_after": round(os.getloadavg()[0], 2)}}
    table(results, args, meta)
    if args.json:
        payload = {**meta, "n": args.n, "budget_ms": args.budget_ms, "max_ratio": args.max_ratio,
                   "results": results}
        Path(args.json).write_text(json.dumps(payload, indent=2) + "\n")
    return 0 if all(r["ok"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
