from django.apps import AppConfig


class GenerationConfig(AppConfig):
    name = "generation"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from generation.runtime.health import collector_register

        collector_register()  # queue depths, job outcomes and GPU seconds on /metrics
