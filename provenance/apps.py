from django.apps import AppConfig


class ProvenanceConfig(AppConfig):
    name = "provenance"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from provenance.bundles.selectors import post_importer_warnings
        from scheduler.signals import post_schedule_check

        # The bulk importers' rules are the export's: scheduler shows their warnings without naming provenance.
        post_schedule_check.connect(post_importer_warnings, dispatch_uid="provenance.importer_warnings")
