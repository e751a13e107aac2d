"""The env-driven settings switch to the scale-out services."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PRINT = (
    "import django, os; os.environ['DJANGO_SETTINGS_MODULE']='config.settings'; django.setup(); "
    "from django.conf import settings as s; "
    "print(s.DATABASES['default']['ENGINE'], s.CELERY_BROKER_URL, s.CACHES['default']['BACKEND'])"
)


SCALE_OUT_VARS = ("DATABASE_URL", "CELERY_BROKER_URL", "REDIS_CACHE_URL")


def _settings_with(**env: str) -> list[str]:
    base = {k: v for k, v in os.environ.items() if k not in SCALE_OUT_VARS}
    full = {**base, "DJANGO_SECRET_KEY": "x" * 60, **env}
    out = subprocess.run([sys.executable, "-c", PRINT], cwd=ROOT, env=full, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return out.stdout.split()


def test_embedded_defaults_need_no_server():
    engine, broker, cache = _settings_with()
    assert engine == "django.db.backends.sqlite3"
    assert broker == "filesystem://"
    assert cache.endswith("LocMemCache")


def test_env_switches_to_postgres_redis_broker_and_redis_cache():
    engine, broker, cache = _settings_with(
        DATABASE_URL="postgres://studio@127.0.0.1:5432/studio",
        CELERY_BROKER_URL="redis://127.0.0.1:6379/0",
        REDIS_CACHE_URL="redis://127.0.0.1:6379/1",
    )
    assert engine == "django.db.backends.postgresql"
    assert broker == "redis://127.0.0.1:6379/0"
    assert cache.endswith("RedisCache")
