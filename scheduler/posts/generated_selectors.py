"""Reads joining posts with the generated images they show and the generation jobs that make or fix them: which
post an image is editable in, a post image's history, the jobs sourced from a post, what a job has drafted, and
the posts' likeness and best-of-N candidates for the review queue."""

from __future__ import annotations

from collections.abc import Iterable

from django.db.models import Exists, F, OuterRef, Subquery

from generation.models import GeneratedImage, GenerationJob
from scheduler.models import Post, PostImage, PostImageJob, PostImageVersion
from scheduler.posts.versions import REPLACEABLE_STATUSES


def generated_image_editable_post(*, generated_image: GeneratedImage) -> Post | None:
    """The post (not yet approved) whose current image `generated_image` is, with `position_of_image` set; None
    when it is in none. Internal: the caller scoped the image."""
    post_image = (
        PostImage.objects.filter(generated_image=generated_image, post__status__in=REPLACEABLE_STATUSES)
        .select_related("post").order_by("post_id").first()
    )
    if post_image is None:
        return None
    post = post_image.post
    post.position_of_image = post_image.position
    return post


def post_image_history(*, post_id: int, position: int) -> list[PostImageVersion]:
    """Earlier versions of a post's image at `position`, oldest first (internal: the caller scoped the post)."""
    return list(PostImageVersion.objects.filter(post_id=post_id, position=position).order_by("replaced_at", "id"))


def post_image_job_replacing(*, job: GenerationJob) -> PostImageJob | None:
    """The post image this job's result replaces as a new version (an inpainted fix); None for a job that drafts."""
    return PostImageJob.objects.filter(job=job, replaces=True).first()


def post_image_jobs_replacing(*, job_ids: Iterable[int]) -> dict[int, PostImageJob]:
    """post_image_job_replacing for each of these (already scoped) jobs, by job id, in one query (none for no ids)."""
    job_ids = list(job_ids)
    if not job_ids:
        return {}
    return {row.job_id: row for row in PostImageJob.objects.filter(job_id__in=job_ids, replaces=True)}


def generated_image_post_languages(*, job: GenerationJob) -> set[tuple[int, str]]:
    """(image id, caption language) of the posts already made from the job's images."""
    return set(PostImage.objects.filter(generated_image__job=job).values_list("generated_image_id", "post__language"))


CANDIDATE_FIELDS = ("job__best_of", "variant", "candidate", "candidate_status", "selection_reason", "image", "width",
                    "height", "seed", "likeness_status", "likeness_score")


def posts_best_of_candidates(*, posts: Iterable[Post], images_of=None) -> dict[int, list[GeneratedImage]]:
    """Each post's best-of-N candidates: every candidate of the variant its generated images were kept from, by
    candidate (posts of best_of 1 jobs have none). One query for the whole page. `images_of(post)`: the post's
    images when the caller holds them (default: post.images.all())."""
    posts = list(posts)
    images_of = images_of or (lambda post: post.images.all())
    chosen = {pi.generated_image_id for post in posts for pi in images_of(post) if pi.generated_image_id}
    if not chosen:
        return {}
    # The images of the same job and variant as a chosen one (joined from the chosen ones, by their ids), with only
    # what a candidate strip shows: a generated image's prompt, stages and environment stay in the database.
    candidates = (
        GeneratedImage.objects.filter(job__best_of__gt=1, job__images__in=chosen, job__images__variant=F("variant"))
        .select_related("job").only(*CANDIDATE_FIELDS).distinct().order_by("job_id", "variant", "candidate")
    )
    by_variant: dict[tuple[int, int], list[GeneratedImage]] = {}
    variant_of: dict[int, tuple[int, int]] = {}
    for image in candidates:
        by_variant.setdefault((image.job_id, image.variant), []).append(image)
        if image.pk in chosen:
            variant_of[image.pk] = (image.job_id, image.variant)
    result: dict[int, list[GeneratedImage]] = {}
    for post in posts:
        for pi in images_of(post):
            if pi.generated_image_id in variant_of:
                result.setdefault(post.pk, []).extend(by_variant[variant_of[pi.generated_image_id]])
    return result


# --- likeness of posts (review queue) ---------------------------------------------------------------

LIKENESS_SORTS = {"likeness": "lowest likeness first", "-likeness": "highest likeness first"}


def posts_likeness_annotate(queryset, *, off_model_only: bool = False, sort: str = ""):
    """Posts annotated with their generated images' likeness: `likeness_score` (the lowest of its images),
    `likeness_off_model` (an image is off-model) and `likeness_status` (its first image's). `off_model_only` keeps
    the off-model ones; `sort` "likeness" / "-likeness" orders by the score, posts without one last."""
    images = PostImage.objects.filter(post=OuterRef("pk"), generated_image__isnull=False)
    # The lowest score as a subquery, not Min() over a join: an aggregate would GROUP BY every selected column of
    # the whole queue.
    lowest = images.filter(generated_image__likeness_score__isnull=False).order_by("generated_image__likeness_score")
    queryset = queryset.annotate(
        likeness_score=Subquery(lowest.values("generated_image__likeness_score")[:1]),
        likeness_off_model=Exists(images.filter(generated_image__on_model=False)),
        likeness_status=Subquery(images.order_by("position", "id").values("generated_image__likeness_status")[:1]),
    )
    if off_model_only:
        queryset = queryset.filter(likeness_off_model=True)
    if sort == "likeness":
        queryset = queryset.order_by(F("likeness_score").asc(nulls_last=True), "id")
    elif sort == "-likeness":
        queryset = queryset.order_by(F("likeness_score").desc(nulls_last=True), "id")
    return queryset
