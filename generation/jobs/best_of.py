"""Best-of-N: a job with best_of N renders N candidates of each variant and keeps the most on-model one.

Image `index` of a job is candidate index // num_variants of variant index % num_variants, with seed job.seed +
index: candidate 0 of every variant has the seed a best_of=1 job would give it, and every image is reproduced from
its record like any other (the same pipeline call, the same position). After the likeness scoring, before drafting,
each variant keeps its highest-scoring candidate (a tie keeps the lower candidate); when no candidate has a score (no
face found, likeness not scored or not applicable) candidate 0 is kept and the reason says so. The others stay as
rejected candidates, with the reason, and are not drafted. The choice is made once, under the job's row lock: a
variant whose candidates are decided is never decided again.
"""

from __future__ import annotations

from collections import defaultdict

from generation.models import CandidateStatus, GeneratedImage, GenerationJob, LikenessStatus


def candidate_fields(*, job: GenerationJob, index: int) -> dict:
    """The variant, candidate and initial selection state of the job's image `index`."""
    return {
        "variant": index % job.num_variants,
        "candidate": index // job.num_variants,
        "candidate_status": CandidateStatus.KEPT if job.best_of <= 1 else CandidateStatus.PENDING,
    }


def candidate_filename(*, job: GenerationJob, index: int, seed: int) -> str:
    if job.best_of <= 1:
        return f"v{index + 1}-seed{seed}.png"
    return f"v{index % job.num_variants + 1}-c{index // job.num_variants + 1}-seed{seed}.png"


def _unscored(image: GeneratedImage) -> str:
    if image.likeness_status == LikenessStatus.PENDING:
        return "likeness not scored"
    if image.likeness_status == LikenessStatus.NOT_APPLICABLE:
        return "likeness not applicable"
    return str(LikenessStatus(image.likeness_status).label).lower()


def _decide(candidates: list[GeneratedImage]) -> dict[int, tuple[str, str]]:
    """{image pk: (status, reason)} for one variant's candidates, ordered by candidate."""
    n = len(candidates)
    scored = [c for c in candidates if c.likeness_score is not None]
    if not scored:
        kept = candidates[0]
        why = ", ".join(sorted({_unscored(c) for c in candidates}))
        decisions = {kept.pk: (CandidateStatus.KEPT,
                               f"candidate 1 of {n} kept: no candidate has a likeness score to choose by ({why})")}
        for c in candidates[1:]:
            decisions[c.pk] = (CandidateStatus.REJECTED, f"candidate {c.candidate + 1} of {n}: {_unscored(c)}; "
                               "no candidate could be scored, so candidate 1 is kept")
        return decisions
    kept = max(scored, key=lambda c: (c.likeness_score, -c.candidate))
    best = f"kept {kept.likeness_score:.2f} (candidate {kept.candidate + 1})"
    decisions = {kept.pk: (CandidateStatus.KEPT, f"candidate {kept.candidate + 1} of {n} kept: the most on-model, "
                           f"likeness {kept.likeness_score:.2f}")}
    for c in candidates:
        if c is kept:
            continue
        if c.likeness_score is None:
            reason = f"candidate {c.candidate + 1} of {n}: {_unscored(c)}; {best}"
        elif c.likeness_score == kept.likeness_score:
            reason = (f"candidate {c.candidate + 1} of {n}: likeness {c.likeness_score:.2f} ties {best}; the earlier "
                      "one is kept")
        else:
            reason = f"candidate {c.candidate + 1} of {n}: likeness {c.likeness_score:.2f} < {best}"
        decisions[c.pk] = (CandidateStatus.REJECTED, reason)
    return decisions


def job_candidates_select(*, job: GenerationJob) -> int:
    """Keep the most on-model candidate of each undecided variant of the (locked) job; returns how many variants
    were decided now. A job without pending candidates (best_of 1, or decided already) is left as it is."""
    pending = GeneratedImage.objects.filter(job=job, candidate_status=CandidateStatus.PENDING)
    if not pending.exists():
        return 0
    by_variant: dict[int, list[GeneratedImage]] = defaultdict(list)
    for image in GeneratedImage.objects.filter(job=job).order_by("variant", "candidate", "index"):
        by_variant[image.variant].append(image)
    decided = 0
    for candidates in by_variant.values():
        if any(c.candidate_status != CandidateStatus.PENDING for c in candidates):
            continue  # decided before (or a single kept image): the choice stands
        for pk, (status, reason) in _decide(candidates).items():
            pending.filter(pk=pk).update(candidate_status=status, selection_reason=reason)
        decided += 1
    return decided
