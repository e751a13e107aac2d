"""The demo workspace's seeding on a worker: whether it is asked for, running, ready or stopped. How far it got is
not stored: the progress is read from the demo's own rows (its LoRA version, jobs and galleries: web.selectors.demo),
so it cannot go stale."""

from __future__ import annotations

from django.db import models

# What `make run` seeds; the seeder and the progress read both name the demo's objects by these.
DEMO_WORKSPACE_SLUG = "demo-studio"
DEMO_PERSONA_HANDLE = "mira.sol"
DEMO_SCENES = (
    ("sipping espresso on a sunny cafe terrace", "instagram"),
    ("walking through a neon-lit street at night", "threads"),
)
DEMO_BUILTIN_MODELS = ("tiny", "tiny-sdxl")
DEMO_TRAINING_STEPS = 120


class DemoSeedStatus(models.TextChoices):
    QUEUED = "queued", "Waiting for the GPU worker"
    RUNNING = "running", "Running"
    READY = "ready", "Ready"
    FAILED = "failed", "Failed"


class DemoSeed(models.Model):
    """The slow part of the demo (LoRA, drafts, galleries), seeded by web.tasks.demo_workspace_fill on the GPU
    queue. `worker_instance` is the WorkerHeartbeat.instance of the worker running it: a message sent again while
    that worker is alive is left to it, one whose worker is dead takes over."""

    workspace = models.OneToOneField("personas.Workspace", on_delete=models.CASCADE, related_name="demo_seed")
    status = models.CharField(max_length=16, choices=DemoSeedStatus.choices, default=DemoSeedStatus.QUEUED)
    training_steps = models.PositiveIntegerField(default=DEMO_TRAINING_STEPS)
    worker_instance = models.CharField(max_length=32, blank=True)
    error = models.TextField(blank=True)
    requested_at = models.DateTimeField()
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=models.Q(status__in=DemoSeedStatus.values), name="demo_seed_status_valid"),
        ]

    def __str__(self) -> str:
        return f"demo seed of workspace {self.workspace_id}: {self.status}"
