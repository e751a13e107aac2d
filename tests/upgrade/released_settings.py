"""The last release's migration layout: generation and scheduler from their released migrations (kept verbatim in
tests/upgrade/released), no provenance app in the schema yet. Everything else is config.settings, read from the
environment (DATABASE_URL, DJANGO_MEDIA_ROOT, PERSONA_STUDIO_VAR_DIR)."""

from config.settings import *  # noqa: F403

MIGRATION_MODULES = {
    "generation": "tests.upgrade.released.generation",
    "scheduler": "tests.upgrade.released.scheduler",
    "provenance": None,
}
