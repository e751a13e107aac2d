"""Upgrading from the last release keeps every row and file (models moved between apps keep their tables).

A database is built at the last released migration state (generation 0015, scheduler 0007, no provenance or
publishing app) and filled through that state's historical models, media files included; then today's migrations run
on it and today's models, selectors and storage must find everything again: every row of every table with the same
values (the dropped GenerationJob.target_post/target_position columns aside, now scheduler.PostImageJob rows, and
the added GenerationJob.caption_mode, empty on released rows), every file with the same bytes, the moved models'
content types under their new app labels with the same ids, and the permissions and admin log entries that point at
them.

Each phase runs in a child process (tests/upgrade/scenario.py) with its own settings and a database of its own, so
the test database pytest-django made for the other tests is never touched. SQLite always; PostgreSQL too, skipped
on a developer's machine without it (tests/services.py) and failing in CI.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from tests.services import service_unavailable
from tests.upgrade.scenario import MOVED

ROOT = Path(__file__).resolve().parents[2]
PG_ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"
RELEASED_SETTINGS = "tests.upgrade.released_settings"
# The columns the upgrade drops: a job's post is a scheduler.PostImageJob row now.
DROPPED = {"generation_generationjob": {"target_post_id", "target_position"}}
# The columns the upgrade adds, with the value the released rows get: how a job's captions were asked for.
ADDED = {"generation_generationjob": {"caption_mode": ""}, "scheduler_post": {"last_submitted_at": None}}
# Added columns filled per row from other rows (the scenario's reading checks their values): null where the post
# was never submitted, its latest submission's time otherwise.
FILLED = {"scheduler_post": {"last_submitted_at"}}
# New models' tables: a post image's jobs, and the publishing app the release did not have.
NEW_MODELS = {"scheduler.postimagejob", "publishing.connectedaccount", "publishing.oauthstate",
              "publishing.publication"}
NEW_TABLES = {label.replace(".", "_") for label in NEW_MODELS}
# Tables that gain the rows of the new model (its content type and permissions); every other keeps its rows exactly.
GROWING = {"django_content_type", "auth_permission"}

pytestmark = pytest.mark.slow  # two child processes that run every migration from scratch


def _phase(tmp_path: Path, env: dict[str, str], settings_module: str, phase: str, *args: str) -> dict:
    out = tmp_path / f"{phase}.json"
    result = subprocess.run(
        [sys.executable, "-m", "tests.upgrade.scenario", phase, str(out), *args],
        cwd=ROOT, env={**env, "DJANGO_SETTINGS_MODULE": settings_module}, capture_output=True, text=True,
        timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, f"{phase} failed:\n{result.stdout[-3000:]}\n{result.stderr[-12000:]}"
    return json.loads(out.read_text())


def upgrade_check(tmp_path: Path, database_url: str) -> None:
    env = {key: value for key, value in os.environ.items() if not key.startswith("MEDIA_S3_")}  # local media
    env.update(DATABASE_URL=database_url, DJANGO_MEDIA_ROOT=str(tmp_path / "media"),
               PERSONA_STUDIO_VAR_DIR=str(tmp_path / "var"), WORKER_CACHE_DIR=str(tmp_path / "worker-cache"))
    filled = _phase(tmp_path, env, RELEASED_SETTINGS, "fill")
    upgraded = _phase(tmp_path, env, "config.settings", "upgrade", str(tmp_path / "fill.json"))
    made, seen = filled["made"], upgraded["read_back"]

    # The released state, then today's, with nothing left to apply.
    assert {"generation.0015_lora_progress_stage", "scheduler.0007_post_image_versions"} <= set(filled["applied"])
    assert not [name for name in filled["applied"] if name.startswith("provenance.")]
    assert {"generation.0001_squashed_0015_lora_progress_stage", "scheduler.0001_squashed_0007_post_image_versions",
            "scheduler.0002_post_image_jobs", "provenance.0001_initial"} <= set(upgraded["applied"])
    assert upgraded["pending"] == []

    # Every row of every table, with the same values.
    assert set(upgraded["tables"]) - set(filled["tables"]) == NEW_TABLES
    assert table_differences(filled, upgraded) == []
    assert not DROPPED["generation_generationjob"] & set(upgraded["job_columns"])

    # Content types of the moved models: the same rows (ids), under the new app labels; so their permissions,
    # and admin log entries, follow.
    before, after = filled["content_types"], upgraded["content_types"]
    for new_app, (old_app, models) in MOVED.items():
        for model in models:
            assert after.get(f"{new_app}.{model}") == before[f"{old_app}.{model}"], model
            assert f"{old_app}.{model}" not in after, model
            assert seen["content_types_of_models"][f"{new_app}.{model}"] == before[f"{old_app}.{model}"], model
    relabelled = {f"{old_app}.{model}": f"{new_app}.{model}" for new_app, (old_app, models) in MOVED.items()
                  for model in models}
    assert set(after) == {relabelled.get(label, label) for label in before} | NEW_MODELS
    assert seen["perms"] == {
        "reviewer provenance.view_exportbundle": True,  # given as scheduler.view_exportbundle
        "reviewer scheduler.view_exportbundle": False,
        "author scheduler.change_contentplan": True,  # through a group, given as generation.change_contentplan
        "author generation.change_contentplan": False,
        "author provenance.view_exportbundle": False,
    }
    assert seen["log_entry_object"] == ["provenance.ExportBundle", made["export_bundle"]]

    # Every file: still in storage with the same bytes, and read through today's models and services.
    assert upgraded["media"] == filled["media"]
    assert seen["files"] == made["files"]

    # The jobs made from a post's images are PostImageJob rows now; inpaint replaces the image.
    jobs, posts = made["jobs"], made["posts"]
    assert seen["jobs"] == jobs
    assert seen["post_image_jobs"] == {
        "inpaint": {"post": posts["beach"], "position": 0, "replaces": True, "via_job": True},
        "restyle": {"post": posts["beach"], "position": 1, "replaces": False, "via_job": True},
    }
    beach, lisbon = str(posts["beach"]), str(posts["lisbon"])
    assert seen["posts"] == {
        "beach": {"images": made["post_images"]["beach"], "history_0": [made["post_image_version"]],
                  "transitions": made["transitions"][beach], "comments": made["comments"]["all"],
                  "mentioned": {str(made["comments"]["mention"]): [made["users"]["reviewer"]],
                                **{str(c): [] for c in made["comments"]["all"] if c != made["comments"]["mention"]}},
                  "caption_alternatives": [made["caption_alternative"]],
                  "image_jobs": sorted([jobs["inpaint"], jobs["restyle"]]),
                  "last_submitted_is_the_latest_submission": True},
        "lisbon": {"images": made["post_images"]["lisbon"], "history_0": [], "transitions": made["transitions"][lisbon],
                   "comments": [], "mentioned": {}, "caption_alternatives": [], "image_jobs": [],
                   "last_submitted_is_the_latest_submission": True},
    }
    assert seen["review_links"] == {"posts": [posts["beach"], posts["lisbon"]], "range": [posts["lisbon"]],
                                    "from_token": made["review_links"]["posts"]}
    assert seen["slot_series"] == made["slot_series"]
    assert seen["content_plan"] == {"items": [made["content_plan_item"]], "invalid": 1,
                                    "progress": [[2, jobs["planned"], "Weekday mornings", [posts["lisbon"]]]]}
    assert seen["content_plan_item_job"] == jobs["planned"]
    assert seen["caption_alternative_post"] == posts["beach"]
    assert seen["exports"] == {
        "bundle_personas": [made["persona"]],
        "recent": [made["export_bundle"]],
        "settings": [made["export_settings"], "Studio Ltd", "explicit"],
        "exported_images": made["exported_images"],
        "by_dwt": {row["dwt"]: int(pk) for pk, row in made["exported_images"].items()},
    }


def table_differences(filled: dict, upgraded: dict) -> list[str]:
    """Where a table of the released database lost or changed a row or a column (the expected changes aside)."""
    relabelled = {f"{old_app}.{model}": new_app for new_app, (old_app, models) in MOVED.items() for model in models}
    new_content_types = {upgraded["content_types"].get(label) for label in NEW_MODELS}
    problems = []
    for table, old in filled["tables"].items():
        new = upgraded["tables"].get(table)
        if new is None:
            problems.append(f"{table}: gone")
            continue
        dropped = set(old["columns"]) - set(new["columns"])
        added = set(new["columns"]) - set(old["columns"])
        if dropped != DROPPED.get(table, set()) or added != set(ADDED.get(table, {})):
            problems.append(f"{table}: columns dropped {sorted(dropped)}, added {sorted(added)}")
        lost = set(old["rows"]) - set(new["rows"])
        gained = set(new["rows"]) - set(old["rows"])
        if lost:
            problems.append(f"{table}: rows {sorted(lost)} lost")
        if gained and table not in GROWING:
            problems.append(f"{table}: rows {sorted(gained)} appeared")
        for pk in gained if table in GROWING else ():
            row = new["rows"][pk]
            ok = f"{row['app_label']}.{row['model']}" in NEW_MODELS if table == "django_content_type" \
                else row["content_type_id"] in new_content_types
            if not ok:
                problems.append(f"{table}: unexpected new row {row}")
        for pk, row in old["rows"].items():
            if pk not in new["rows"]:
                continue
            expected = {column: value for column, value in row.items() if column in new["columns"]}
            expected.update(ADDED.get(table, {}))
            if table == "django_content_type":
                expected["app_label"] = relabelled.get(f"{row['app_label']}.{row['model']}", row["app_label"])
            actual = new["rows"][pk]
            for column in FILLED.get(table, ()):
                if actual.get(column) is not None:
                    expected[column] = actual[column]
            if actual != expected:
                problems.append(f"{table} row {pk}: {expected} became {actual}")
    return problems


def test_upgrade_from_the_last_release_keeps_every_row_and_file_on_sqlite(tmp_path):
    upgrade_check(tmp_path, f"sqlite:///{tmp_path / 'db.sqlite3'}")


@pytest.fixture
def postgres_database():
    """A new, empty PostgreSQL database of this test's own, dropped afterwards whatever happened."""
    import psycopg

    name = f"persona_upgrade_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    try:
        admin = psycopg.connect(PG_ADMIN_DSN, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        service_unavailable(f"PostgreSQL not reachable on 127.0.0.1:5432 ({exc})")
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgres://postgres@127.0.0.1:5432/{name}"
    finally:
        with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.mark.services
# Its own PostgreSQL database: it may run beside the other services tests.
@pytest.mark.xdist_group("upgrade")
def test_upgrade_from_the_last_release_keeps_every_row_and_file_on_postgres(tmp_path, postgres_database):
    upgrade_check(tmp_path, postgres_database)
