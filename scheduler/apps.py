from django.apps import AppConfig


class SchedulerConfig(AppConfig):
    name = "scheduler"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from generation.signals import job_images_ready
        from scheduler.drafting.queue import job_images_ready_receive

        # Generation announces a job's images without naming scheduler: drafting their posts is ours.
        job_images_ready.connect(job_images_ready_receive, dispatch_uid="scheduler.drafting")
