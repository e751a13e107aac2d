"""One env-driven settings module. Every deployment knob is an environment variable."""

import os
from pathlib import Path

import dj_database_url

BASE_DIR = Path(__file__).resolve().parent.parent
# Runtime state (SQLite file, media, embedded broker, model cache); relative paths are from BASE_DIR.
VAR_DIR = BASE_DIR / os.environ.get("PERSONA_STUDIO_VAR_DIR", "var")


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


DEBUG = env_bool("DJANGO_DEBUG", False)
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise RuntimeError("DJANGO_SECRET_KEY must be set when DJANGO_DEBUG is off")
    SECRET_KEY = "django-insecure-dev-only-key-not-for-production"  # noqa: S105

ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1,[::1],testserver")
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI served from our static files: the API docs work offline
    "django_prometheus",  # /metrics: request and database metrics, plus generation.runtime.health's collector
    "personas",
    "generation",
    "scheduler",
    "provenance",
    "publishing",
    "web",
]

MIDDLEWARE = [
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "core.csp.ContentSecurityPolicyMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,  # templates live with the app that renders them: web/templates/ holds the pages
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL", f"sqlite:///{VAR_DIR / 'db.sqlite3'}"),
        conn_max_age=int(os.environ.get("DATABASE_CONN_MAX_AGE", "60")),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The web server and the worker share the file: wait for locks instead of failing.
    DATABASES["default"].setdefault("OPTIONS", {}).update({"timeout": 30, "transaction_mode": "IMMEDIATE"})
    DATABASES["default"]["CONN_MAX_AGE"] = 0

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# The cache holds sign-in lockout counters: with several web processes they must share one (REDIS_CACHE_URL).
if os.environ.get("REDIS_CACHE_URL"):
    CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": os.environ["REDIS_CACHE_URL"]}
    }
else:
    # Pages keep their rendered cards here too (web/fragments.py): room for a few busy pages' worth.
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "OPTIONS": {"MAX_ENTRIES": 2000}}}
# Sessions are read through that cache (and written to the database too): a page's sign-in check costs no query.
SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"

# Sign-in lockout (personas/auth.py): LOGIN_MAX_FAILURES wrong passwords per username + IP, and
# LOGIN_USER_MAX_FAILURES per username across all IPs within LOGIN_USER_WINDOW_SECONDS. The per-username lock
# has a fixed end and spares browsers that signed in as that user before.
AUTHENTICATION_BACKENDS = ["personas.auth.ThrottledModelBackend"]
LOGIN_MAX_FAILURES = int(os.environ.get("LOGIN_MAX_FAILURES", "5"))
LOGIN_LOCKOUT_SECONDS = int(os.environ.get("LOGIN_LOCKOUT_SECONDS", str(15 * 60)))
LOGIN_USER_MAX_FAILURES = int(os.environ.get("LOGIN_USER_MAX_FAILURES", "20"))
LOGIN_USER_WINDOW_SECONDS = int(os.environ.get("LOGIN_USER_WINDOW_SECONDS", str(15 * 60)))
LOGIN_USER_LOCKOUT_SECONDS = int(os.environ.get("LOGIN_USER_LOCKOUT_SECONDS", str(15 * 60)))

# Client review links (scheduler/review/link_access.py): requests per IP per window, and bad tokens per IP before the
# address is locked out of every link route for the failure window. REVIEW_LINK_MAX_DAYS caps a link's life.
REVIEW_LINK_RATE_LIMIT = int(os.environ.get("REVIEW_LINK_RATE_LIMIT", "120"))
REVIEW_LINK_RATE_WINDOW_SECONDS = int(os.environ.get("REVIEW_LINK_RATE_WINDOW_SECONDS", "60"))
REVIEW_LINK_MAX_FAILURES = int(os.environ.get("REVIEW_LINK_MAX_FAILURES", "10"))
REVIEW_LINK_FAILURE_WINDOW_SECONDS = int(os.environ.get("REVIEW_LINK_FAILURE_WINDOW_SECONDS", str(15 * 60)))
REVIEW_LINK_MAX_DAYS = int(os.environ.get("REVIEW_LINK_MAX_DAYS", "90"))

# Email (comment @mentions): SMTP when EMAIL_HOST is set, else printed on the console (what `make run` shows).
EMAIL_HOST = os.environ.get("EMAIL_HOST", "")
if EMAIL_HOST:
    EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    EMAIL_PORT = int(os.environ.get("EMAIL_PORT", "587"))
    EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
    EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
    EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", EMAIL_PORT == 587)
    EMAIL_USE_SSL = env_bool("EMAIL_USE_SSL", EMAIL_PORT == 465)
    EMAIL_TIMEOUT = int(os.environ.get("EMAIL_TIMEOUT", "30"))
else:
    EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "Persona Studio <studio@localhost>")

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = Path(os.environ.get("DJANGO_STATIC_ROOT", VAR_DIR / "staticfiles"))
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # WhiteNoise warns on every request if it is missing
MEDIA_URL = "/media/"
MEDIA_ROOT = Path(os.environ.get("DJANGO_MEDIA_ROOT", VAR_DIR / "media"))
# Media (references, LoRA weights, generated images, bundles) go through Django's storage API only
# (core/storage.py): the local MEDIA_ROOT by default, or an S3-compatible object store when MEDIA_S3_BUCKET is
# set, which is what lets workers on other machines read references and write images. Credentials default to
# boto3's chain (environment, instance profile) when MEDIA_S3_ACCESS_KEY_ID is unset.
MEDIA_S3_BUCKET = os.environ.get("MEDIA_S3_BUCKET", "")
if MEDIA_S3_BUCKET:
    _MEDIA_STORAGE = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": MEDIA_S3_BUCKET,
            "endpoint_url": os.environ.get("MEDIA_S3_ENDPOINT_URL") or None,
            "region_name": os.environ.get("MEDIA_S3_REGION") or None,
            "access_key": os.environ.get("MEDIA_S3_ACCESS_KEY_ID") or None,
            "secret_key": os.environ.get("MEDIA_S3_SECRET_ACCESS_KEY") or None,
            "location": os.environ.get("MEDIA_S3_PREFIX", "").strip("/"),
            "addressing_style": os.environ.get("MEDIA_S3_ADDRESSING_STYLE", "path"),
            "signature_version": "s3v4",
            "default_acl": None,  # private objects; pages serve them to workspace members only
            "file_overwrite": False,  # a name that exists gets a suffix, as on the filesystem
            "querystring_auth": True,
        },
    }
else:
    _MEDIA_STORAGE = {"BACKEND": "django.core.files.storage.FileSystemStorage"}
STORAGES = {
    "default": _MEDIA_STORAGE,
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "dashboard"
LOGOUT_REDIRECT_URL = "login"

# Uploads: the per-file cap is checked again by the reference-image service.
DATA_UPLOAD_MAX_MEMORY_SIZE = 30 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
REFERENCE_IMAGE_MAX_BYTES = int(os.environ.get("REFERENCE_IMAGE_MAX_BYTES", 25 * 1024 * 1024))
REFERENCE_IMAGE_MAX_PIXELS = int(os.environ.get("REFERENCE_IMAGE_MAX_PIXELS", 40_000_000))
REFERENCE_IMAGE_MIN_SIDE = int(os.environ.get("REFERENCE_IMAGE_MIN_SIDE", 512))
# The public "Was this made here?" check (provenance.api.origin), per signed-in user or else per IP address:
# each check runs both watermark decoders on the CPU.
ORIGIN_CHECK_RATE = os.environ.get("ORIGIN_CHECK_RATE", "30/hour")

# Likeness (personas/identity/backend.py): "dlib" (built in), or "arcface:/path/model.onnx" for an ArcFace ONNX
# model at a local path. LIKENESS_THRESHOLD: the distance at or below which a face is on-model, for personas without
# their own (unset: the model's own, 0.6 for dlib). References need faces at least LIKENESS_REFERENCE_MIN_FACE_PX
# across.
LIKENESS_BACKEND = os.environ.get("LIKENESS_BACKEND", "dlib")
LIKENESS_THRESHOLD = float(os.environ["LIKENESS_THRESHOLD"]) if os.environ.get("LIKENESS_THRESHOLD") else None
LIKENESS_REFERENCE_MIN_FACE_PX = int(os.environ.get("LIKENESS_REFERENCE_MIN_FACE_PX", 64))
LIKENESS_MIN_REFERENCE_FACES = int(os.environ.get("LIKENESS_MIN_REFERENCE_FACES", 3))

# Security: production defaults; DEBUG (make run) relaxes only what plain-HTTP localhost needs.
SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", not DEBUG)
SESSION_COOKIE_SECURE = not DEBUG
CSRF_COOKIE_SECURE = not DEBUG
SECURE_HSTS_SECONDS = int(os.environ.get("DJANGO_HSTS_SECONDS", "0" if DEBUG else "31536000"))
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = not DEBUG
# Probes and scrapers speak plain HTTP to the process itself.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if env_bool("DJANGO_BEHIND_PROXY", False) else None
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# Every response (core/csp.py): this origin only, no inline script or style, nothing third-party. data: images are
# the icons inside Swagger UI's stylesheet.
CONTENT_SECURITY_POLICY = {
    "default-src": ["'self'"],
    "script-src": ["'self'"],
    "style-src": ["'self'"],
    "img-src": ["'self'", "data:"],
    "font-src": ["'self'"],
    "connect-src": ["'self'"],
    "object-src": ["'none'"],
    "base-uri": ["'self'"],
    "form-action": ["'self'"],
    "frame-ancestors": ["'none'"],
}
SESSION_COOKIE_HTTPONLY = True

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        "rest_framework.authentication.TokenAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": [
        "django_filters.rest_framework.DjangoFilterBackend",
        "rest_framework.filters.OrderingFilter",
    ],
    # Documents each operation's error answers ({detail, code, extra}), which the one handler below gives.
    "DEFAULT_SCHEMA_CLASS": "core.api.ApiAutoSchema",
    "EXCEPTION_HANDLER": "core.errors.api_exception_handler",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Persona Studio API",
    "DESCRIPTION": "Personas, reference images, LoRA training, generation, review workflow, calendar and exports.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # core.api.IdConverter: `<id:pk>` in paths is a positive 64-bit integer.
    "PATH_CONVERTER_OVERRIDES": {"id": {"type": "integer", "format": "int64", "minimum": 1, "maximum": 2**63 - 1}},
    # Posts, exports and jobs all have a `status` field: name each enum after its model's choices.
    "ENUM_NAME_OVERRIDES": {
        "PostStatusEnum": "scheduler.models.PostStatus",
        "ExportStatusEnum": "provenance.models.ExportStatus",
        "JobStatusEnum": "generation.models.JobStatus",
        "GenerationModeEnum": "generation.models.GenerationMode",
        "PostImageModeEnum": ["img2img", "inpaint"],  # a post's image is the source: no txt2img
        "PlatformEnum": "core.platforms.Platform",
        "RoleEnum": "core.access.Role",
    },
}

# Celery. Embedded default: filesystem broker in var/ (no server); Redis/RabbitMQ via env.
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "filesystem://")
_BROKER_DIR = VAR_DIR / "broker"
if CELERY_BROKER_URL.startswith("filesystem://"):
    for sub in ("queue", "processed", "control"):
        (_BROKER_DIR / sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_BROKER_DIR / "queue"),
        "data_folder_out": str(_BROKER_DIR / "queue"),
        "processed_folder": str(_BROKER_DIR / "processed"),
        "control_folder": str(_BROKER_DIR / "control"),  # broadcast/pidbox exchanges, not the CWD
        "store_processed": False,
    }
else:
    # How long an unacknowledged message (its worker died) waits before Redis hands it to another worker;
    # must exceed the longest task. Integration tests shorten it to see redelivery quickly.
    _VISIBILITY_TIMEOUT = int(os.environ.get("CELERY_VISIBILITY_TIMEOUT", 7 * 60 * 60))
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "visibility_timeout": _VISIBILITY_TIMEOUT,
        # kombu sweeps for abandoned messages every interval * throttle seconds (100 s by default).
        "unacked_restore_interval": max(1, min(10, _VISIBILITY_TIMEOUT // 4)),
        "unacked_restore_throttle": 1 if _VISIBILITY_TIMEOUT < 600 else 10,
    }
CELERY_TASK_IGNORE_RESULT = True  # job state lives in our own models
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_DEFAULT_QUEUE = "default"
GENERATION_QUEUE = os.environ.get("GENERATION_QUEUE", "gpu")  # one queue per GPU class
# Model families whose GPU tasks go to a queue of their own, e.g. "sdxl=gpu-xl,tiny-sdxl=gpu-xl" (the others:
# GENERATION_QUEUE), so SDXL jobs reach GPUs with the memory for them. Same value on web and workers.
GENERATION_FAMILY_QUEUES = dict(
    item.strip().split("=", 1) for item in os.environ.get("GENERATION_FAMILY_QUEUES", "").split(",") if "=" in item
)
CELERY_TASK_ROUTES = {
    # Sweeps and drafting must not wait behind a long training run on a busy GPU queue.
    "generation.runtime.tasks.fail_stale_runs": {"queue": "default"},
    "generation.runtime.tasks.score_likeness": {"queue": "default"},  # CPU: the GPU queue never waits on face models
    "generation.runtime.tasks.*": {"queue": GENERATION_QUEUE},
    "scheduler.tasks.*": {"queue": "default"},  # drafting and caption writing among them
    "provenance.tasks.*": {"queue": "default"},
    "publishing.tasks.*": {"queue": "default"},
    "web.tasks.demo_workspace_fill": {"queue": GENERATION_QUEUE},  # trains and renders the demo in-process
}
# Every worker beats this often (generation/runtime/heartbeats.py); one silent for the timeout is dead, and the runs it
# held are queued again by the next worker start or recovery sweep.
WORKER_HEARTBEAT_INTERVAL = float(os.environ.get("WORKER_HEARTBEAT_INTERVAL", "10"))
WORKER_HEARTBEAT_TIMEOUT = float(os.environ.get("WORKER_HEARTBEAT_TIMEOUT", "60"))
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULE = {
    "expire-unapproved-posts": {"task": "scheduler.tasks.expire_overdue_posts", "schedule": 300.0},
    "requeue-stale-exports": {"task": "provenance.tasks.export_sweep", "schedule": 300.0},
    "resend-lost-drafting": {"task": "scheduler.tasks.drafting_sweep", "schedule": 300.0},
    "fail-stale-generation-runs": {"task": "generation.runtime.tasks.fail_stale_runs", "schedule": 300.0},
    # A post is due within a minute of its time.
    "publish-due-posts": {"task": "publishing.tasks.publish_due_posts", "schedule": 30.0},
}

# Direct publishing (publishing/). Token keys: comma-separated Fernet keys; the first encrypts, all decrypt (rotation).
PUBLISHING_TOKEN_KEYS = os.environ.get("PUBLISHING_TOKEN_KEYS", "")
# Platforms fetch media by URL: the public origin of this installation (signed, expiring media routes hang off it).
PUBLIC_BASE_URL = os.environ.get("PUBLIC_BASE_URL", "").rstrip("/")
PUBLISHING_MEDIA_URL_MAX_AGE = int(os.environ.get("PUBLISHING_MEDIA_URL_MAX_AGE", 24 * 60 * 60))
# With media on an object store (MEDIA_S3_BUCKET), platforms fetch from its presigned URLs; 0 when the store is not
# reachable from the internet (the signed route under PUBLIC_BASE_URL is used instead).
PUBLISHING_MEDIA_PRESIGNED = env_bool("PUBLISHING_MEDIA_PRESIGNED", True)
PUBLISHING_HTTP_TIMEOUT = float(os.environ.get("PUBLISHING_HTTP_TIMEOUT", "20"))
# How long a publishing run holds its post: a worker that died keeps others off it this long (tests shorten it).
PUBLISHING_LEASE_SECONDS = int(os.environ.get("PUBLISHING_LEASE_SECONDS", 300))
INSTAGRAM_APP_ID = os.environ.get("INSTAGRAM_APP_ID", "")
INSTAGRAM_APP_SECRET = os.environ.get("INSTAGRAM_APP_SECRET", "")
INSTAGRAM_REDIRECT_URI = os.environ.get("INSTAGRAM_REDIRECT_URI", "")
INSTAGRAM_AUTH_URL = os.environ.get("INSTAGRAM_AUTH_URL", "https://www.instagram.com/oauth/authorize")
INSTAGRAM_OAUTH_BASE_URL = os.environ.get("INSTAGRAM_OAUTH_BASE_URL", "https://api.instagram.com")
INSTAGRAM_GRAPH_BASE_URL = os.environ.get("INSTAGRAM_GRAPH_BASE_URL", "https://graph.instagram.com/v23.0")
THREADS_APP_ID = os.environ.get("THREADS_APP_ID", "")
THREADS_APP_SECRET = os.environ.get("THREADS_APP_SECRET", "")
THREADS_REDIRECT_URI = os.environ.get("THREADS_REDIRECT_URI", "")
THREADS_AUTH_URL = os.environ.get("THREADS_AUTH_URL", "https://threads.net/oauth/authorize")
THREADS_GRAPH_BASE_URL = os.environ.get("THREADS_GRAPH_BASE_URL", "https://graph.threads.net/v1.0")
# The local publishing sandbox (publishing/sandbox/): `make run` starts it on this port while no real app id is set
# and points the settings above at it; PUBLISHING_SANDBOX_URL is then its address. PUBLISHING_SANDBOX=0: never.
PUBLISHING_SANDBOX = env_bool("PUBLISHING_SANDBOX", True)
PUBLISHING_SANDBOX_PORT = int(os.environ.get("PUBLISHING_SANDBOX_PORT", 8010))
PUBLISHING_SANDBOX_URL = os.environ.get("PUBLISHING_SANDBOX_URL", "")

# Generation engine (see generation/engine/pipelines.py).
GENERATION_BASE_MODEL = os.environ.get("GENERATION_BASE_MODEL", "tiny")
GENERATION_MODEL_CACHE = Path(os.environ.get("GENERATION_MODEL_CACHE", VAR_DIR / "models"))
# A worker's own files: LoRA weights fetched from media storage (one folder per sha256) and its training folders.
WORKER_CACHE_DIR = Path(os.environ.get("WORKER_CACHE_DIR", VAR_DIR / "worker-cache"))
# Base models a worker keeps loaded, least recently used out: a count and (0: none) a byte budget.
GENERATION_MAX_LOADED_MODELS = int(os.environ.get("GENERATION_MAX_LOADED_MODELS", "1"))
GENERATION_MAX_LOADED_BYTES = int(os.environ.get("GENERATION_MAX_LOADED_BYTES", "0"))
# Persona LoRAs a worker keeps loaded on a base model (without hotswap), least recently used out; checked by
# generation.engine.perf (a whole number >= 1).
GENERATION_MAX_LOADED_ADAPTERS = os.environ.get("GENERATION_MAX_LOADED_ADAPTERS", "8")
GENERATION_DEVICE = os.environ.get("GENERATION_DEVICE", "")  # "" = cuda if available else cpu
# Soft time limits (seconds) of the training and generation tasks; a run past them is marked failed.
# Celery stamps the sending process's limits on each message: set the same values for web and worker.
GENERATION_TRAIN_TIME_LIMIT = int(os.environ.get("GENERATION_TRAIN_TIME_LIMIT", 6 * 60 * 60))
GENERATION_GENERATE_TIME_LIMIT = int(os.environ.get("GENERATION_GENERATE_TIME_LIMIT", 30 * 60))
# Defaults of a job's finishing stages (a job may ask otherwise): the hires upscale and refine to the platform's
# size, and the face detail pass (a no-op on an image without a face).
GENERATION_HIRES_DEFAULT = os.environ.get("GENERATION_HIRES_DEFAULT", "1").strip().lower() in ("1", "true", "on", "yes")
GENERATION_FACE_DETAIL_DEFAULT = os.environ.get("GENERATION_FACE_DETAIL_DEFAULT", "1").strip().lower() in (
    "1", "true", "on", "yes")
# Prior preservation: class images per base model (rendered once, then reused by every training run on it).
GENERATION_CLASS_IMAGES = int(os.environ.get("GENERATION_CLASS_IMAGES", "100"))
# Where `make` puts the open-clip-torch wheel whose bundled BPE vocab builds the CLIP tokenizer offline.
GENERATION_VENDOR_DIR = BASE_DIR / os.environ.get("GENERATION_VENDOR_DIR", "var/vendor")

# Caption writer (scheduler/captions): "template" (default, no model), "openai" (any OpenAI-compatible
# chat-completions server: OpenAI, Ollama, vLLM, llama.cpp, LM Studio) or "transformers" (a local causal-LM folder).
CAPTION_WRITER = os.environ.get("CAPTION_WRITER", "template")
CAPTION_LLM_URL = os.environ.get("CAPTION_LLM_URL", "http://127.0.0.1:11434/v1")
CAPTION_LLM_MODEL = os.environ.get("CAPTION_LLM_MODEL", "llama3.2")
CAPTION_LLM_API_KEY = os.environ.get("CAPTION_LLM_API_KEY", "")
CAPTION_LLM_TIMEOUT = float(os.environ.get("CAPTION_LLM_TIMEOUT", "30"))
CAPTION_LLM_RETRIES = int(os.environ.get("CAPTION_LLM_RETRIES", "2"))
CAPTION_LLM_PATH = os.environ.get("CAPTION_LLM_PATH", "")
CAPTION_ALTERNATIVES = int(os.environ.get("CAPTION_ALTERNATIVES", "3"))  # per drafted post
CAPTION_MEMORY = int(os.environ.get("CAPTION_MEMORY", "5"))  # recent approved captions used as examples

# AI-disclosure provenance (provenance/labeling.py, provenance/signing.py). C2PA signing certificate chain (leaf
# first, PEM) and its private key (PKCS#8 PEM). Unset: a development CA is created under var/c2pa/
# (`manage.py provenance_dev_ca`).
C2PA_CERT_CHAIN_PATH = os.environ.get("C2PA_CERT_CHAIN_PATH", "")
C2PA_PRIVATE_KEY_PATH = os.environ.get("C2PA_PRIVATE_KEY_PATH", "")
# Extra root certificates (PEM bundle) that verification trusts; the dev CA's root is always added when used.
C2PA_TRUST_ANCHORS_PATH = os.environ.get("C2PA_TRUST_ANCHORS_PATH", "")
C2PA_DEV_CA_DIR = Path(os.environ.get("C2PA_DEV_CA_DIR", VAR_DIR / "c2pa"))

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
}
