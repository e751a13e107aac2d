"""The upgrade scenario of test_upgrade.py, one phase per child process, each with its own settings:

    DJANGO_SETTINGS_MODULE=tests.upgrade.released_settings python -m tests.upgrade.scenario fill OUT.json
    DJANGO_SETTINGS_MODULE=config.settings python -m tests.upgrade.scenario upgrade OUT.json FILLED.json

`fill` migrates an empty database (DATABASE_URL) to the last release, fills it through that release's historical
models, media files included (DJANGO_MEDIA_ROOT), and writes what it made: ids, file names and digests, content
types, and a snapshot of every table and media file. `upgrade` runs today's migrations on the same database and
writes the same snapshot, plus what today's models, selectors and storage read back. The test compares the two.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import sys
import uuid
import zipfile
from pathlib import Path

T0 = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC)
HOUR = dt.timedelta(hours=1)
DAY = dt.timedelta(days=1)
LINK_SECRET = "the-client-link-secret"
# Models that moved between apps with their tables: new app label -> (old app label, model names).
MOVED = {
    "scheduler": ("generation", ["captionalternative", "contentplan", "contentplanitem"]),
    "provenance": ("scheduler", ["exportbundle", "exportsettings", "exportedimage"]),
}


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def png(rgb: tuple[int, int, int], size: tuple[int, int] = (16, 12)) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", size, rgb).save(out, format="PNG")
    return out.getvalue()


def _plain(value):
    """A database value as JSON keeps it, the same way in both phases."""
    if isinstance(value, memoryview | bytes):
        return bytes(value).hex()
    if isinstance(value, dict | list | str | int | float | bool) or value is None:
        return value
    return str(value)


def tables_snapshot() -> dict[str, dict]:
    """Every table's columns and rows (keyed by primary key), read with plain SQL, whatever model owns it now."""
    from django.db import connection

    qn = connection.ops.quote_name
    introspection = connection.introspection
    snapshot = {}
    with connection.cursor() as cursor:
        for table in sorted(introspection.table_names(cursor)):
            if table == "django_migrations":
                continue
            columns = [column.name for column in introspection.get_table_description(cursor, table)]
            pk = introspection.get_primary_key_column(cursor, table)
            cursor.execute(f"SELECT {', '.join(qn(c) for c in columns)} FROM {qn(table)}")  # noqa: S608
            rows = {}
            for row in cursor.fetchall():
                values = {column: _plain(value) for column, value in zip(columns, row, strict=True)}
                rows[str(values[pk])] = values
            snapshot[table] = {"columns": columns, "rows": rows}
    return snapshot


def media_snapshot() -> dict[str, str]:
    from django.conf import settings

    root = Path(settings.MEDIA_ROOT)
    return {str(p.relative_to(root)): sha256(p.read_bytes()) for p in sorted(root.rglob("*")) if p.is_file()}


def content_types() -> dict[str, int]:
    from django.contrib.contenttypes.models import ContentType

    return {f"{ct.app_label}.{ct.model}": ct.pk for ct in ContentType.objects.order_by("pk")}


# --- Phase 1: the last release ---------------------------------------------------------------------------------


class Filler:
    """Rows made through the historical models of the released state; `made` records what a later reader must find."""

    def __init__(self, apps):
        self.apps = apps
        self.made: dict = {"files": {}}

    def model(self, label: str):
        return self.apps.get_model(label)

    def file(self, label: str, instance, field: str, filename: str, data: bytes) -> str:
        """Save `data` through the historical model's own FileField (its upload_to, the storage), then the row."""
        getattr(instance, field).save(filename, _content(data, filename), save=False)
        name = getattr(instance, field).name
        self.made["files"][label] = {"name": name, "sha256": sha256(data)}
        return name

    def run(self) -> dict:
        from django.contrib.auth.hashers import make_password
        from django.core.files.storage import default_storage
        from django.utils import timezone

        m = self.model
        made = self.made
        User = m("auth.User")
        author = User.objects.create(username="ana", email="ana@example.com", password=make_password(None))
        reviewer = User.objects.create(username="rui", email="rui@example.com", password=make_password(None))
        made["users"] = {"author": author.pk, "reviewer": reviewer.pk}

        workspace = m("personas.Workspace").objects.create(name="Studio", slug="studio", brand_names=["Sunny"])
        m("personas.Membership").objects.create(workspace=workspace, user=author, role="marketer")
        m("personas.Membership").objects.create(workspace=workspace, user=reviewer, role="reviewer")
        persona = m("personas.Persona").objects.create(
            workspace=workspace, name="Mira", handle="mira", age=27, trigger_token="m1r4", created_by=author,
            timezone="Europe/Lisbon", target_platforms=["instagram", "tiktok"])
        made.update(workspace=workspace.pk, persona=persona.pk)

        upload = m("personas.ReferenceUpload").objects.create(
            persona=persona, confirmed_by=author, confirmed_by_name="Ana", rights_text="I own these photos.")
        reference = m("personas.ReferenceImage")(
            persona=persona, upload=upload, uploaded_by=author, original_filename="mira.png", face_finding="usable",
            sha256=sha256(png((200, 150, 120))))
        self.file("reference", reference, "image", "mira-1.png", png((200, 150, 120)))
        reference.save()
        made["reference_image"] = reference.pk

        # LoRA weights are stored by name (a CharField), as training saves them.
        weights = b"LoRA weights of Mira " + bytes(range(256)) * 16
        weights_name = default_storage.save(f"workspaces/{workspace.pk}/loras/mira-v1.safetensors",
                                            _content(weights, "mira-v1.safetensors"))
        made["files"]["lora"] = {"name": weights_name, "sha256": sha256(weights)}
        lora = m("generation.LoraVersion").objects.create(
            persona=persona, version=1, status="succeeded", is_active=True, base_model="tiny",
            weights_path=weights_name, sha256=sha256(weights), hyperparameters={"steps": 10}, loss_curve=[0.5, 0.2],
            progress_step=10, total_steps=10, created_by=author, started_at=T0, finished_at=T0 + HOUR)
        made["lora_version"] = lora.pk
        JobTransition = m("generation.JobTransition")
        JobTransition.objects.create(lora_version=lora, from_status="running", to_status="succeeded")

        Job = m("generation.GenerationJob")
        GeneratedImage = m("generation.GeneratedImage")
        job_fields = dict(persona=persona, created_by=author, lora_version=lora, steps=20, guidance=7.0,
                          width=512, height=512)

        def job(**fields):
            made_job = Job.objects.create(**job_fields, **fields)
            JobTransition.objects.create(generation_job=made_job, from_status="queued", to_status=made_job.status)
            return made_job

        def image(of_job, index: int, rgb) -> object:
            generated = GeneratedImage(
                job=of_job, index=index, seed=100 + index, base_model="tiny", prompt=of_job.prompt, steps=20,
                guidance=7.0, scheduler="euler", sha256=sha256(png(rgb)), likeness_status="scored",
                likeness_score=0.8)
            self.file(f"generated:{of_job.pk}:{index}", generated, "image", f"image-{index}.png", png(rgb))
            generated.save()
            return generated

        render = job(platform="instagram", scene="Mira at the beach", prompt="m1r4 woman at the beach",
                     num_variants=2, seed=100, status="succeeded", drafting_status="drafted", finished_at=T0 + HOUR)
        beach = [image(render, 0, (10, 120, 200)), image(render, 1, (20, 130, 210))]

        Post = m("scheduler.Post")
        PostImage = m("scheduler.PostImage")
        PostTransition = m("scheduler.PostTransition")

        def post_image(post, position: int, generated, rgb):
            row = PostImage(post=post, position=position, generated_image=generated, sha256=sha256(png(rgb)))
            self.file(f"post-image:{post.pk}:{position}", row, "image", f"image-{position}.png", png(rgb))
            row.save()
            return row

        beach_post = Post.objects.create(
            workspace=workspace, persona=persona, platform="instagram", caption="Sun's out.", hashtags=["beach"],
            disclosure_label="AI-generated", status="changes_requested", created_by=author, language="en")
        beach_images = [post_image(beach_post, 0, beach[0], (11, 121, 201)),
                        post_image(beach_post, 1, beach[1], (21, 131, 211))]
        # The image at position 0 replaced an earlier one, kept as a version.
        version = m("scheduler.PostImageVersion")(
            post=beach_post, position=0, sha256=sha256(png((9, 9, 9))), comment="Fixed the hand", actor=author,
            replaced_by=beach_images[0], generated_image=beach[0])
        self.file(f"post-image-version:{beach_post.pk}:0", version, "image", "image-0-v1.png", png((9, 9, 9)))
        version.save()

        # Jobs made from the post's images: the released schema keeps the post on the job (target_post).
        mask, init = png((255, 255, 255), (8, 8)), png((11, 121, 201))
        inpaint = job(platform="instagram", scene="Fix the hand", prompt="m1r4 hand", mode="inpaint",
                      source_image=beach[0], strength=0.75, init_sha256=sha256(init), mask_sha256=sha256(mask),
                      status="queued", drafting_status="not_needed", target_post=beach_post, target_position=0)
        self.file(f"job-init:{inpaint.pk}", inpaint, "init_image", f"init-{inpaint.pk}.png", init)
        self.file(f"job-mask:{inpaint.pk}", inpaint, "mask", f"mask-{inpaint.pk}.png", mask)
        inpaint.save()
        init = png((21, 131, 211))
        restyle = job(platform="instagram", scene="Same, at dusk", prompt="m1r4 dusk", mode="img2img",
                      source_image=beach[1], strength=0.5, init_sha256=sha256(init), status="failed",
                      error="Out of memory", drafting_status="not_needed", target_post=beach_post, target_position=1)
        self.file(f"job-init:{restyle.pk}", restyle, "init_image", f"init-{restyle.pk}.png", init)
        restyle.save()

        # A content plan's row: its job rendered the image of a scheduled post in a slot series.
        series = m("scheduler.SlotSeries").objects.create(
            persona=persona, name="Weekday mornings", weekday=1, time=dt.time(9, 0), created_by=author)
        planned = job(platform="tiktok", scene="Mira in Lisbon", prompt="m1r4 Lisbon tram", seed=300,
                      status="succeeded", drafting_status="drafted", finished_at=T0 + 2 * HOUR)
        lisbon = image(planned, 0, (240, 200, 40))
        plan = m("generation.ContentPlan").objects.create(
            workspace=workspace, name="December", rows_total=2, errors=[{"row": 3, "error": "Unknown persona"}],
            created_by=author)
        item = m("generation.ContentPlanItem").objects.create(
            plan=plan, row_number=2, persona=persona, platform="tiktok", scene="Mira in Lisbon",
            caption_brief="Trams", planned_at=T0 + 3 * DAY, job=planned, slot_series=series)
        lisbon_post = Post.objects.create(
            workspace=workspace, persona=persona, platform="tiktok", caption="Lisbon mornings.",
            disclosure_label="AI-generated", status="exported", scheduled_at=T0 + 3 * DAY, created_by=author)
        lisbon_image = post_image(lisbon_post, 0, lisbon, (241, 201, 41))

        for post, steps in ((beach_post, [("draft", "in_review", author, None)]),
                            (lisbon_post, [("draft", "in_review", author, None), ("in_review", "approved", reviewer,
                                                                                 None),
                                           ("approved", "scheduled", author, None),
                                           ("scheduled", "exported", author, None)])):
            for from_status, to_status, actor, link in steps:
                PostTransition.objects.create(post=post, from_status=from_status, to_status=to_status, actor=actor,
                                              review_link=link)

        ReviewLink = m("scheduler.ReviewLink")
        expires = timezone.now() + 60 * DAY
        posts_link = ReviewLink.objects.create(
            workspace=workspace, scope="posts", reviewer_name="Client", reviewer_email="client@example.com",
            secret_sha256=sha256(LINK_SECRET.encode()), expires_at=expires, created_by=author)
        posts_link.posts.add(beach_post, lisbon_post)
        range_link = ReviewLink.objects.create(
            workspace=workspace, scope="range", persona=persona, start=T0, end=T0 + 30 * DAY, reviewer_name="Boss",
            secret_sha256=sha256(b"another secret"), expires_at=expires, created_by=author)
        PostTransition.objects.create(post=beach_post, from_status="in_review", to_status="changes_requested",
                                      external_reviewer="Client", review_link=posts_link, comment="Hand?")
        PostComment = m("scheduler.PostComment")
        mention = PostComment.objects.create(post=beach_post, author=author, body="@rui the hand looks off")
        mention.mentioned.add(reviewer)
        PostComment.objects.create(post=beach_post, review_link=posts_link, external_reviewer="Client",
                                   body="Love the colours")
        alternative = m("generation.CaptionAlternative").objects.create(
            post=beach_post, language="en", instruction="Shorter", status="ready", caption="Sun.",
            hashtags=["sun"], writer="template", requested_by=author)

        # An export: its bundle file, the personas in it, the registry of what it exported, the workspace's settings.
        bundle_data = _zip({"manifest.json": b'{"posts": 1}', "tiktok/post-1/1.png": png((241, 201, 41))})
        bundle = m("scheduler.ExportBundle")(
            workspace=workspace, start=T0, end=T0 + 7 * DAY, status="succeeded", progress=100, post_count=1,
            sha256=sha256(bundle_data), verification={"checked": 1, "failed": 0}, created_by=author,
            finished_at=T0 + HOUR)
        self.file("bundle", bundle, "file", "export-december.zip", bundle_data)
        bundle.save()
        bundle.personas.add(persona)
        settings_row = m("scheduler.ExportSettings").objects.create(
            workspace=workspace, content_producer="Studio Ltd", visible_label_style="explicit")
        ExportedImage = m("scheduler.ExportedImage")
        exported = [
            ExportedImage.objects.create(
                workspace=workspace, bundle=bundle, post=lisbon_post, post_image=lisbon_image, persona=persona,
                public_id=uuid.UUID("6f1c2a1e-0000-4000-8000-000000000001"), platform="tiktok", position=0,
                path="tiktok/post-1/1.png", sha256=sha256(png((241, 201, 41))), dwt_payload="0a1b2c3d",
                rivagan_payload="deadbeef", fingerprints=["ab" * 32, "cd" * 32]),
            # From an export whose bundle was deleted since: the registry keeps the image.
            ExportedImage.objects.create(
                workspace=workspace, bundle=None, post=beach_post, post_image=beach_images[1], persona=persona,
                public_id=uuid.UUID("6f1c2a1e-0000-4000-8000-000000000002"), platform="instagram", position=1,
                path="instagram/post-0/2.png", sha256=sha256(b"older"), dwt_payload="11223344", fingerprints=[]),
        ]

        # Admin permissions and log entries point at the content types of moved models.
        Permission = m("auth.Permission")
        ContentType = m("contenttypes.ContentType")
        reviewer.user_permissions.add(Permission.objects.get(content_type__app_label="scheduler",
                                                             codename="view_exportbundle"))
        group = m("auth.Group").objects.create(name="Planners")
        group.permissions.add(Permission.objects.get(content_type__app_label="generation",
                                                     codename="change_contentplan"))
        author.groups.add(group)
        log = m("admin.LogEntry").objects.create(
            user=author, content_type=ContentType.objects.get(app_label="scheduler", model="exportbundle"),
            object_id=str(bundle.pk), object_repr="Export December", action_flag=2, change_message="[]",
            action_time=T0 + 2 * HOUR)

        made.update(
            jobs={"render": render.pk, "inpaint": inpaint.pk, "restyle": restyle.pk, "planned": planned.pk},
            generated_images={"render": [g.pk for g in beach], "planned": [lisbon.pk]},
            posts={"beach": beach_post.pk, "lisbon": lisbon_post.pk},
            post_images={"beach": [i.pk for i in beach_images], "lisbon": [lisbon_image.pk]},
            post_image_version=version.pk,
            transitions={str(post.pk): sorted(post.transitions.values_list("pk", flat=True))
                         for post in (beach_post, lisbon_post)},
            comments={"mention": mention.pk, "all": sorted(PostComment.objects.values_list("pk", flat=True))},
            review_links={"posts": posts_link.pk, "range": range_link.pk},
            slot_series=series.pk, caption_alternative=alternative.pk, content_plan=plan.pk, content_plan_item=item.pk,
            export_bundle=bundle.pk, export_settings=settings_row.pk,
            exported_images={str(e.pk): {"bundle": e.bundle_id, "post": e.post_id, "post_image": e.post_image_id,
                                         "dwt": e.dwt_payload} for e in exported},
            group=group.pk, log_entry=log.pk,
        )
        return made


def _content(data: bytes, name: str):
    """A named file: an ImageField reads the dimensions of what it is given, and a nameless file has none."""
    from django.core.files.base import ContentFile

    return ContentFile(data, name=name)


def _zip(files: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name, data in files.items():
            archive.writestr(zipfile.ZipInfo(name, date_time=(2026, 12, 1, 9, 0, 0)), data)
    return out.getvalue()


def fill() -> dict:
    from django.core.management.sql import emit_post_migrate_signal
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor
    from django.db.migrations.state import ProjectState

    # What the released deployment's `migrate` did: every app to its last released migration, then post_migrate
    # made the content types and permissions of the released models (the exports under scheduler). This code has
    # provenance and publishing apps, which the release did not: the released state must not hand them to
    # post_migrate as apps without migrations, or their content types would exist before the upgrade made them.
    executor = MigrationExecutor(connection)
    targets = executor.loader.graph.leaf_nodes()
    plan = executor.migration_plan(targets)
    state = executor.migrate(targets, plan=plan)
    released = ProjectState(models=state.models, real_apps=state.real_apps - {"provenance", "publishing"})
    emit_post_migrate_signal(0, False, connection.alias, apps=released.apps, plan=plan)

    executor.loader.build_graph()
    applied = sorted(f"{app}.{name}" for app, name in executor.loader.applied_migrations
                     if app in ("personas", "generation", "scheduler", "provenance"))
    made = Filler(released.apps).run()
    return {"applied": applied, "made": made, "content_types": content_types(), "tables": tables_snapshot(),
            "media": media_snapshot()}


# --- Phase 2: today's migrations, models and services -----------------------------------------------------------


def _digest(field_file) -> dict[str, str]:
    """A stored file read back through its model field (FieldFile.open: the storage API)."""
    with field_file.open("rb") as handle:
        return {"name": field_file.name, "sha256": sha256(handle.read())}


def read_back(made: dict) -> dict:
    """What today's code finds of the rows `fill` made, through the selectors the pages and the API use."""
    from django.conf import settings
    from django.contrib.admin.models import LogEntry
    from django.contrib.auth import get_user_model
    from django.contrib.contenttypes.models import ContentType

    from core.storage import media_fetch, media_stream
    from generation.selectors import generation_job_get, lora_version_get
    from personas.selectors import persona_get, persona_reference_images
    from provenance.bundles.selectors import export_bundle_ready, export_bundle_recent, export_settings_get
    from provenance.checks.origin_selectors import ExportRegistry, exported_image_describe
    from provenance.models import ExportBundle, ExportedImage, ExportSettings
    from scheduler.drafting.plan_selectors import content_plan_get, content_plan_progress
    from scheduler.models import CaptionAlternative, ContentPlan, ContentPlanItem, PostImageJob
    from scheduler.posts.generated_selectors import post_image_history
    from scheduler.review.link_selectors import link_token, review_link_from_token, review_link_get, review_link_posts
    from scheduler.selectors import post_comments, post_get
    from scheduler.slots.series_selectors import slot_series_get

    User = get_user_model()
    author = User.objects.get(pk=made["users"]["author"])
    files: dict[str, dict] = {}
    seen: dict = {"files": files}

    persona = persona_get(user=author, persona_id=made["persona"])
    for reference in persona_reference_images(persona=persona):
        files["reference"] = _digest(reference.image)
    lora = lora_version_get(user=author, lora_version_id=made["lora_version"])
    # As a worker loads it: fetched from storage into its cache, checked against the recorded sha256.
    local = media_fetch(lora.weights_path, sha256=lora.sha256, cache_dir=Path(settings.WORKER_CACHE_DIR))
    files["lora"] = {"name": lora.weights_path, "sha256": sha256(local.read_bytes())}

    seen["jobs"] = {}
    seen["post_image_jobs"] = {}
    for key, job_id in made["jobs"].items():
        job = generation_job_get(user=author, job_id=job_id)
        seen["jobs"][key] = job.pk
        for generated in job.images.all():
            files[f"generated:{job.pk}:{generated.index}"] = _digest(generated.image)
        if job.init_image:
            files[f"job-init:{job.pk}"] = _digest(job.init_image)
        if job.mask:
            files[f"job-mask:{job.pk}"] = _digest(job.mask)
        target = PostImageJob.objects.filter(job=job).first()
        if target is not None:
            seen["post_image_jobs"][key] = {"post": target.post_id, "position": target.position,
                                            "replaces": target.replaces, "via_job": job.post_target.pk == target.pk}

    seen["posts"] = {}
    for key, post_id in made["posts"].items():
        post = post_get(user=author, post_id=post_id)
        for post_image in post.images.all():
            files[f"post-image:{post.pk}:{post_image.position}"] = _digest(post_image.image)
        for version in post.image_versions.all():
            files[f"post-image-version:{post.pk}:{version.position}"] = _digest(version.image)
        comments = list(post_comments(user=author, post_id=post.pk))
        seen["posts"][key] = {
            "images": [i.pk for i in post.images.all()],
            "history_0": [v.pk for v in post_image_history(post_id=post.pk, position=0)],
            "transitions": sorted(t.pk for t in post.transitions.all()),
            "comments": [c.pk for c in comments],
            "mentioned": {str(c.pk): [u.pk for u in c.mentioned.all()] for c in comments},
            "caption_alternatives": [a.pk for a in post.caption_alternatives.all()],
            "image_jobs": sorted(j.job_id for j in post.image_jobs.all()),
            # The review queue's order, filled from the audit trail by the migration that stores it.
            "last_submitted_is_the_latest_submission": post.last_submitted_at == max(
                t.created_at for t in post.transitions.all() if t.to_status == "in_review"),
        }

    posts_link = review_link_get(user=author, link_id=made["review_links"]["posts"])
    range_link = review_link_get(user=author, link_id=made["review_links"]["range"])
    from_token = review_link_from_token(token=link_token(link_id=posts_link.pk, secret=LINK_SECRET))
    seen["review_links"] = {
        # In calendar order: where unscheduled posts go differs between the databases.
        "posts": sorted(p.pk for p in review_link_posts(link=posts_link)),
        "range": sorted(p.pk for p in review_link_posts(link=range_link)),
        "from_token": from_token.pk,
    }
    seen["slot_series"] = slot_series_get(user=author, series_id=made["slot_series"]).pk

    plan = content_plan_get(user=author, plan_id=made["content_plan"])
    progress = content_plan_progress(plan=plan)
    seen["content_plan"] = {
        "items": [i.pk for i in plan.items.all()],
        "progress": [(row.row, row.job_id, row.slot_series, [p.id for p in row.posts]) for row in progress.items],
        "invalid": progress.invalid,
    }

    bundle = export_bundle_ready(user=author, bundle_id=made["export_bundle"])
    files["bundle"] = {"name": bundle.file.name, "sha256": sha256(b"".join(media_stream(bundle.file.name)))}
    export_settings = export_settings_get(workspace_id=made["workspace"])
    registry = ExportRegistry()
    seen["exports"] = {
        "bundle_personas": [p.pk for p in bundle.personas.all()],
        "recent": [b.pk for b in export_bundle_recent(user=author, workspace_id=made["workspace"])],
        "settings": [export_settings.pk, export_settings.content_producer, export_settings.visible_label_style],
        "exported_images": {
            str(row.pk): {"bundle": facts["export"]["bundle_id"], "post": facts["post"]["id"],
                          "post_image": facts["post"]["post_image_id"], "dwt": row.dwt_payload}
            for row in ExportedImage.objects.order_by("pk")
            for facts in [exported_image_describe(image_id=row.pk, user=author)]
        },
        "by_dwt": {row.dwt_payload: registry.by_dwt(bytes.fromhex(row.dwt_payload))
                   for row in ExportedImage.objects.order_by("pk")},
    }
    seen["caption_alternative_post"] = CaptionAlternative.objects.get(pk=made["caption_alternative"]).post_id
    seen["content_plan_item_job"] = ContentPlanItem.objects.get(pk=made["content_plan_item"]).job_id

    ContentType.objects.clear_cache()
    seen["content_types_of_models"] = {
        model._meta.label_lower: ContentType.objects.get_for_model(model).pk
        for model in (CaptionAlternative, ContentPlan, ContentPlanItem, ExportBundle, ExportSettings, ExportedImage)
    }
    # Fresh users: ModelBackend caches permissions on the instance.
    reviewer = User.objects.get(pk=made["users"]["reviewer"])
    author = User.objects.get(pk=made["users"]["author"])
    seen["perms"] = {
        "reviewer provenance.view_exportbundle": reviewer.has_perm("provenance.view_exportbundle"),
        "reviewer scheduler.view_exportbundle": reviewer.has_perm("scheduler.view_exportbundle"),
        "author scheduler.change_contentplan": author.has_perm("scheduler.change_contentplan"),
        "author generation.change_contentplan": author.has_perm("generation.change_contentplan"),
        "author provenance.view_exportbundle": author.has_perm("provenance.view_exportbundle"),
    }
    edited = LogEntry.objects.get(pk=made["log_entry"]).get_edited_object()
    seen["log_entry_object"] = [edited._meta.label, edited.pk]
    return seen


def upgrade(made: dict) -> dict:
    from django.core.management import call_command
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    call_command("migrate", interactive=False, verbosity=0)
    executor = MigrationExecutor(connection)
    pending = executor.migration_plan(executor.loader.graph.leaf_nodes())
    with connection.cursor() as cursor:
        job_columns = [c.name for c in connection.introspection.get_table_description(cursor,
                                                                                      "generation_generationjob")]
    return {
        "pending": [str(migration) for migration, _ in pending],
        "applied": sorted(f"{app}.{name}" for app, name in executor.loader.applied_migrations
                          if app in ("personas", "generation", "scheduler", "provenance")),
        "job_columns": job_columns,
        "content_types": content_types(),
        "tables": tables_snapshot(),
        "media": media_snapshot(),
        "read_back": read_back(made),
    }


def main(argv: list[str]) -> None:
    phase, out, *filled = argv
    import django

    django.setup()
    result = fill() if phase == "fill" else upgrade(json.loads(Path(filled[0]).read_text())["made"])
    Path(out).write_text(json.dumps(result, indent=1, sort_keys=True, default=str))


if __name__ == "__main__":
    main(sys.argv[1:])
