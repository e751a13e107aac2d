"""Reads for content plans: a user's plans, and the progress of one plan from import to slotted drafts."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass, field

from django.contrib.auth.base_user import AbstractBaseUser
from django.db.models import Count, QuerySet

from core.errors import NotFound
from generation.models import DraftingStatus, JobStatus
from personas.selectors import workspace_ids_for_user
from scheduler.models import ContentPlan, Post

PLAN_NOT_FOUND = "Content plan not found."


def content_plan_list(*, user: AbstractBaseUser, workspace_id: int | None = None) -> QuerySet[ContentPlan]:
    plans = ContentPlan.objects.filter(workspace_id__in=workspace_ids_for_user(user=user))
    if workspace_id is not None:
        plans = plans.filter(workspace_id=workspace_id)
    return plans.annotate(imported=Count("items")).select_related("created_by").order_by("-created_at", "-id")


def content_plan_imported(*, plan: ContentPlan) -> int:
    """How many of the plan's rows became items (and jobs)."""
    return plan.items.count()


def content_plan_get(*, user: AbstractBaseUser, plan_id: int) -> ContentPlan:
    plan = content_plan_list(user=user).filter(pk=plan_id).first()
    if plan is None:
        raise NotFound(PLAN_NOT_FOUND)
    return plan


@dataclass
class PlanPost:
    id: int
    status: str
    scheduled_at: dt.datetime | None


@dataclass
class PlanItemProgress:
    row: int
    persona_handle: str
    platform: str
    scene: str
    planned_at: dt.datetime
    slot_series: str
    job_id: int
    job_status: str
    drafting_status: str
    problem: str
    posts: list[PlanPost] = field(default_factory=list)

    @property
    def done(self) -> bool:
        """Nothing more will happen to the row by itself."""
        return self.job_status in (JobStatus.FAILED, JobStatus.CANCELLED) or self.drafting_status in (
            DraftingStatus.DRAFTED, DraftingStatus.FAILED)


@dataclass
class PlanProgress:
    rows_total: int
    imported: int
    invalid: int
    done: int
    percent: int
    jobs: dict[str, int]
    drafting: dict[str, int]
    posts: dict[str, int]
    slotted: int
    items: list[PlanItemProgress]


def content_plan_progress(*, plan: ContentPlan) -> PlanProgress:
    """Where every imported row stands: its job, its drafting, and its posts (with their slots). Three queries."""
    items = list(plan.items.select_related("persona", "job", "slot_series").order_by("row_number"))
    posts_by_job: dict[int, dict[int, PlanPost]] = {}
    rows = (Post.objects.filter(images__generated_image__job_id__in=[item.job_id for item in items])
            .values_list("pk", "status", "scheduled_at", "images__generated_image__job_id").order_by("pk"))
    for pk, status, scheduled_at, job_id in rows:
        posts_by_job.setdefault(job_id, {})[pk] = PlanPost(id=pk, status=status, scheduled_at=scheduled_at)
    progress = []
    for item in items:
        job = item.job
        progress.append(PlanItemProgress(
            row=item.row_number, persona_handle=item.persona.handle, platform=item.platform, scene=item.scene,
            planned_at=item.planned_at, slot_series=item.slot_series.name if item.slot_series_id else "",
            job_id=job.pk, job_status=job.status, drafting_status=job.drafting_status,
            problem=job.error or job.drafting_error, posts=list(posts_by_job.get(job.pk, {}).values()),
        ))
    posts = [post for item in progress for post in item.posts]
    done = sum(item.done for item in progress)
    return PlanProgress(
        rows_total=plan.rows_total, imported=len(progress), invalid=len(plan.errors), done=done,
        percent=round(100 * done / len(progress)) if progress else 100,
        jobs=dict(Counter(item.job_status for item in progress)),
        drafting=dict(Counter(item.drafting_status for item in progress)),
        posts=dict(Counter(post.status for post in posts)),
        slotted=sum(1 for item in progress for post in item.posts if post.scheduled_at == item.planned_at),
        items=progress,
    )
