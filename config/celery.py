"""Celery app. The embedded default broker is kombu's filesystem transport (no server needed);
set CELERY_BROKER_URL=redis://... to scale out across machines."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("persona_studio")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()  # <app>.tasks of each installed app
app.autodiscover_tasks(["generation.runtime"])  # generation's tasks live with its worker runtime
