"""The last release's migrations: generation and scheduler migrate with their released migrations (kept in
tests/upgrade/released), and provenance and publishing, which the release did not have, with none (its models stay
out of the migration state; tests/upgrade/scenario.py keeps them out of post_migrate too). The app itself stays
installed: the released migrations import its upload_to functions. Everything else is config.settings, read from the
environment (DATABASE_URL, DJANGO_MEDIA_ROOT, PERSONA_STUDIO_VAR_DIR)."""

from config.settings import *  # noqa: F403

MIGRATION_MODULES = {
    "generation": "tests.upgrade.released.generation",
    "scheduler": "tests.upgrade.released.scheduler",
    "provenance": None,
    "publishing": None,
}
