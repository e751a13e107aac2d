"""The storage layer on the local media folder and on a real S3-compatible store (SeaweedFS)."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from core.storage import (
    StoredFileMismatch,
    cached_path,
    media_attachment,
    media_delete_tree,
    media_fetch,
    media_save_file,
    media_stream,
    storage_probe,
)

ROOT = Path(__file__).resolve().parents[2]
PAYLOAD = os.urandom(300_000)  # several chunks at chunk_size=65536, not a multiple of it


@pytest.fixture(params=["filesystem", "s3"])
def backend(request):
    """Each test runs on the local media folder (the embedded default) and on SeaweedFS."""
    if request.param == "s3":
        request.getfixturevalue("s3_media")
    return request.param


def test_stream_returns_the_stored_bytes_in_chunks(backend):
    name = default_storage.save("workspaces/1/generated/7/v1.png", ContentFile(PAYLOAD))
    chunks = list(media_stream(name, chunk_size=65536))
    assert b"".join(chunks) == PAYLOAD
    assert len(chunks) >= 5 and max(len(c) for c in chunks) <= 65536


def test_attachment_streams_the_stored_file_with_its_size_and_name(backend):
    name = default_storage.save("workspaces/1/exports/bundle.zip", ContentFile(PAYLOAD))
    response = media_attachment(name, filename="bundle 1.zip", content_type="application/zip")
    assert response.streaming
    assert response["Content-Length"] == str(len(PAYLOAD))
    assert response["Content-Disposition"] == 'attachment; filename="bundle 1.zip"'
    assert b"".join(response.streaming_content) == PAYLOAD


def test_fetch_caches_by_sha256_and_reuses_the_local_copy(backend, tmp_path):
    source = tmp_path / "lora.safetensors"
    source.write_bytes(PAYLOAD)
    name = media_save_file("workspaces/1/personas/2/loras/v1/lora.safetensors", source)
    sha = hashlib.sha256(PAYLOAD).hexdigest()
    cache = tmp_path / "cache"

    local = media_fetch(name, sha256=sha, cache_dir=cache)
    assert local == cached_path(cache_dir=cache, sha256=sha, filename="lora.safetensors")
    assert local.read_bytes() == PAYLOAD
    default_storage.delete(name)  # a second fetch never goes back to the store
    assert media_fetch(name, sha256=sha, cache_dir=cache) == local
    assert [p.name for p in local.parent.iterdir()] == ["lora.safetensors"]  # no partial download left


def test_fetch_refuses_bytes_that_do_not_match_the_recorded_hash(backend, tmp_path):
    name = default_storage.save("workspaces/1/personas/2/loras/v1/w.safetensors", ContentFile(b"tampered"))
    wanted = hashlib.sha256(b"original").hexdigest()
    with pytest.raises(StoredFileMismatch, match="refusing"):
        media_fetch(name, sha256=wanted, cache_dir=tmp_path / "cache")
    entry = cached_path(cache_dir=tmp_path / "cache", sha256=wanted, filename="w.safetensors")
    assert not entry.exists()
    assert list(entry.parent.iterdir()) == []


def test_cached_path_refuses_anything_but_a_hex_digest(tmp_path):
    with pytest.raises(ValueError, match="sha256"):
        cached_path(cache_dir=tmp_path, sha256="../../etc", filename="x")


def test_delete_tree_removes_a_folder_and_nothing_beside_it(backend):
    for name in ("loras/v1/a.bin", "loras/v1/attempt-1/b.bin", "loras/v10/c.bin"):
        default_storage.save(f"workspaces/1/personas/2/{name}", ContentFile(b"x"))
    assert media_delete_tree("workspaces/1/personas/2/loras/v1") == 2
    assert not default_storage.exists("workspaces/1/personas/2/loras/v1/a.bin")
    assert not default_storage.exists("workspaces/1/personas/2/loras/v1/attempt-1/b.bin")
    assert default_storage.exists("workspaces/1/personas/2/loras/v10/c.bin")
    assert media_delete_tree("workspaces/1/personas/2/nothing-here") == 0


def test_probe_reaches_the_storage(backend):
    assert storage_probe()


def test_probe_fails_on_a_bucket_that_does_not_exist(s3_media, settings):
    options = {**s3_media.storage_options(), "bucket_name": "no-such-bucket-here"}
    settings.STORAGES = {**settings.STORAGES, "default": {"BACKEND": "storages.backends.s3.S3Storage",
                                                          "OPTIONS": options}}
    from botocore.exceptions import ClientError

    with pytest.raises(ClientError):
        storage_probe()


SAVE_AND_READ = (
    "import django, os; os.environ['DJANGO_SETTINGS_MODULE']='config.settings'; django.setup(); "
    "from django.core.files.base import ContentFile; from django.core.files.storage import default_storage as s; "
    "from core.storage import media_stream; "
    "n = s.save('probe/hello.txt', ContentFile(b'hello from env')); "
    "print(type(s._wrapped).__name__, n, b''.join(media_stream(n)).decode())"
)


def test_environment_switches_media_to_the_object_store(object_store):
    prefix = f"env-switch-{uuid.uuid4().hex[:8]}"
    env = {**os.environ, "DJANGO_SECRET_KEY": "x" * 60, **object_store.env(prefix=prefix)}
    out = subprocess.run([sys.executable, "-c", SAVE_AND_READ], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.split(maxsplit=2) == ["S3Storage", "probe/hello.txt", "hello from env\n"]
    client = object_store.client()
    stored = client.get_object(Bucket=object_store.bucket, Key=f"{prefix}/probe/hello.txt")  # under the prefix
    assert stored["Body"].read() == b"hello from env"
    client.delete_object(Bucket=object_store.bucket, Key=f"{prefix}/probe/hello.txt")
