"""Readiness and metrics of the whole studio: the database, broker and storage probes of core.health plus what only
the generation side knows (a GPU worker seen recently, job outcomes and durations, GPU seconds per persona).

Both read the database or the broker when asked (a /readyz call, a Prometheus scrape), never a process's own
counters: every web process, behind any load balancer, answers for the whole installation.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable, Iterator

from django.conf import settings
from django.db.models import Count, DurationField, ExpressionWrapper, F, Q, Sum
from django.utils import timezone
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

from core.health import CheckResult, broker_probe, check_run, database_probe, queue_depths
from core.storage import storage_probe
from generation.models import GenerationJob, JobStatus, LoraVersion, WorkerHeartbeat
from generation.runtime import heartbeats

logger = logging.getLogger(__name__)

# Generation jobs take seconds on a GPU, training runs minutes to hours: one set of buckets covers both.
DURATION_BUCKETS_S = (1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 3 * 3600, 6 * 3600)


def workers_alive(*, now: dt.datetime | None = None) -> list[WorkerHeartbeat]:
    """Workers that have beaten within WORKER_HEARTBEAT_TIMEOUT and not stopped."""
    cutoff = (now or timezone.now()) - dt.timedelta(seconds=heartbeats.heartbeat_timeout())
    return list(WorkerHeartbeat.objects.filter(stopped_at__isnull=True, last_seen__gte=cutoff).order_by("name"))


def gpu_worker_probe() -> str:
    queue = settings.GENERATION_QUEUE
    names = [worker.name for worker in workers_alive() if queue in (worker.queues or [])]
    if not names:
        raise LookupError(
            f"no worker on the {queue!r} queue has sent a heartbeat in the last {heartbeats.heartbeat_timeout():.0f} s"
        )
    return f"{len(names)} on {queue!r}: {', '.join(names[:5])}"


def readiness() -> list[CheckResult]:
    """Each dependency of a working studio, reached now: database, broker, media storage, a live GPU worker."""
    return [
        check_run("database", database_probe),
        check_run("broker", broker_probe),
        check_run("storage", storage_probe),
        check_run("gpu_worker", gpu_worker_probe),
    ]


def known_queues() -> list[str]:
    """The queues tasks are routed to: the default one, the GPU queue and any other named in the routes."""
    routed = {route["queue"] for route in settings.CELERY_TASK_ROUTES.values() if "queue" in route}
    return sorted({settings.CELERY_TASK_DEFAULT_QUEUE, settings.GENERATION_QUEUE, *routed})


def _duration():
    return ExpressionWrapper(F("finished_at") - F("started_at"), output_field=DurationField())


def _finished(model):
    return model.objects.filter(
        status__in=(JobStatus.SUCCEEDED, JobStatus.FAILED), started_at__isnull=False, finished_at__isnull=False
    ).annotate(duration=_duration())


def _histogram(name: str, documentation: str, model) -> HistogramMetricFamily:
    counts = {f"le_{i}": Count("pk", filter=Q(duration__lte=dt.timedelta(seconds=b)))
              for i, b in enumerate(DURATION_BUCKETS_S)}
    totals = _finished(model).aggregate(count=Count("pk"), total=Sum("duration"), **counts)
    buckets = [(str(float(b)), totals[f"le_{i}"]) for i, b in enumerate(DURATION_BUCKETS_S)]
    buckets.append(("+Inf", totals["count"]))
    family = HistogramMetricFamily(name, documentation)
    family.add_metric([], buckets, sum_value=(totals["total"] or dt.timedelta()).total_seconds())
    return family


def _gpu_seconds_by_persona() -> dict[tuple[int, int], float]:
    seconds: dict[tuple[int, int], float] = {}
    for model in (GenerationJob, LoraVersion):
        rows = (
            model.objects.filter(started_at__isnull=False, finished_at__isnull=False)
            .exclude(status=JobStatus.RUNNING)
            .values("persona_id", "persona__workspace_id")
            .annotate(total=Sum(_duration()))
        )
        for row in rows:
            key = (row["persona__workspace_id"], row["persona_id"])
            seconds[key] = seconds.get(key, 0.0) + (row["total"] or dt.timedelta()).total_seconds()
    return seconds


class StudioCollector:
    """Prometheus collector read at scrape time (registered once per process by GenerationConfig.ready)."""

    def describe(self) -> Iterable:
        return []  # no samples at registration time: a scrape reads the database and the broker

    def collect(self) -> Iterator:
        depth = GaugeMetricFamily("persona_studio_queue_depth", "Task messages waiting in each Celery queue.",
                                  labels=["queue"])
        try:
            for queue, waiting in queue_depths(known_queues()).items():
                depth.add_metric([queue], waiting)
        except Exception:  # broker away: readiness says so; the other metrics still come
            logger.warning("Queue depths unavailable: the broker could not be reached", exc_info=True)
        yield depth

        alive = GaugeMetricFamily("persona_studio_workers_alive", "Workers with a recent heartbeat, per queue.",
                                  labels=["queue"])
        per_queue = dict.fromkeys(known_queues(), 0)
        for worker in workers_alive():
            for queue in worker.queues or []:
                per_queue[queue] = per_queue.get(queue, 0) + 1
        for queue, count in sorted(per_queue.items()):
            alive.add_metric([queue], count)
        yield alive

        for name, model, what in (
            ("persona_studio_generation_jobs", GenerationJob, "Generation jobs"),
            ("persona_studio_training_runs", LoraVersion, "LoRA training runs"),
        ):
            family = GaugeMetricFamily(name, f"{what} by status.", labels=["status"])
            counts = dict(model.objects.values_list("status").annotate(n=Count("pk")).order_by())
            for status in JobStatus.values:
                family.add_metric([status], counts.get(status, 0))
            yield family

        failures = CounterMetricFamily("persona_studio_generation_job_failures", "Generation jobs that failed.")
        failures.add_metric([], GenerationJob.objects.filter(status=JobStatus.FAILED).count())
        yield failures
        yield _histogram("persona_studio_generation_job_duration_seconds",
                         "Run time of finished generation jobs (started to succeeded or failed).", GenerationJob)
        yield _histogram("persona_studio_training_run_duration_seconds",
                         "Run time of finished LoRA training runs.", LoraVersion)

        gpu = CounterMetricFamily("persona_studio_gpu_seconds", "GPU time of each persona's finished training runs "
                                  "and generation jobs.", labels=["workspace_id", "persona_id"])
        for (workspace_id, persona_id), seconds in sorted(_gpu_seconds_by_persona().items()):
            gpu.add_metric([str(workspace_id), str(persona_id)], seconds)
        yield gpu


_registered = False


def collector_register(registry=None) -> None:
    """Add StudioCollector to the process's Prometheus registry, once."""
    global _registered
    if _registered and registry is None:
        return
    from prometheus_client import REGISTRY

    (registry or REGISTRY).register(StudioCollector())
    if registry is None:
        _registered = True
