"""The storage layer: every read and write of media (references, LoRA weights, generated images, bundles) goes
through Django's storage API here or through a model's FieldFile, never through a path under MEDIA_ROOT.

So the same code runs on the local media folder (the embedded default) and on an S3-compatible object store
(settings.MEDIA_S3_BUCKET) shared by a web tier and GPU workers on other machines. What must exist as a local
file (LoRA weights and base models the engine loads) is fetched into a worker's own cache, addressed by its
sha256, and checked on arrival.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

from django.core.files import File
from django.core.files.storage import Storage, default_storage

CHUNK_SIZE = 1024 * 1024


class StoredFileMismatch(Exception):
    """A fetched file's sha256 differs from the one recorded for it (corrupt or replaced object)."""


def _storage(storage: Storage | None) -> Storage:
    return storage if storage is not None else default_storage


def _s3_object(storage: Storage, name: str):
    """The boto3 object behind `name` when `storage` is django-storages' S3 backend, else None."""
    bucket = getattr(storage, "bucket", None)
    normalize = getattr(storage, "_normalize_name", None)
    if bucket is None or normalize is None:
        return None
    from storages.utils import clean_name

    return bucket.Object(normalize(clean_name(name)))


def media_on_object_store(*, storage: Storage | None = None) -> bool:
    return getattr(_storage(storage), "bucket_name", None) is not None


def media_presigned_url(name: str, *, max_age: int, storage: Storage | None = None) -> str | None:
    """A time-limited GET URL of `name` straight from the object store, or None when media are not on one."""
    storage = _storage(storage)
    if not media_on_object_store(storage=storage):
        return None
    return storage.url(name, expire=max_age)


def media_stream(name: str, *, storage: Storage | None = None, chunk_size: int = CHUNK_SIZE) -> Iterator[bytes]:
    """The stored file's bytes in chunks, without holding it in memory or spooling it to disk first.

    On S3 the object's body is read as it arrives (django-storages' File would download it whole before the
    first byte); elsewhere the storage's file is read chunk by chunk.
    """
    storage = _storage(storage)
    s3_object = _s3_object(storage, name)
    if s3_object is not None:
        body = s3_object.get()["Body"]
        try:
            yield from body.iter_chunks(chunk_size)
        finally:
            body.close()
        return
    with storage.open(name, "rb") as handle:
        while chunk := handle.read(chunk_size):
            yield chunk


def media_attachment(name: str, *, filename: str, content_type: str, storage: Storage | None = None):
    """A download response that streams the stored file as it is read from storage (an S3 object is never
    downloaded whole into the web process first), with its size when the storage knows it."""
    from django.http import StreamingHttpResponse
    from django.utils.http import content_disposition_header

    storage = _storage(storage)
    response = StreamingHttpResponse(media_stream(name, storage=storage), content_type=content_type)
    response["Content-Length"] = str(storage.size(name))
    response["Content-Disposition"] = content_disposition_header(True, filename)
    return response


def media_save_file(name: str, local_path: Path, *, storage: Storage | None = None) -> str:
    """Store a local file (e.g. weights a worker just trained) under `name`; returns the name actually used
    (the storage adds a suffix rather than overwrite an existing file)."""
    with open(local_path, "rb") as handle:
        return _storage(storage).save(name, File(handle, name=PurePosixPath(name).name))


def media_delete_tree(prefix: str, *, storage: Storage | None = None) -> int:
    """Delete every stored file under the folder `prefix`; returns how many were deleted."""
    storage = _storage(storage)
    prefix = prefix.strip("/")
    try:
        folders, files = storage.listdir(prefix)
    except FileNotFoundError:
        return 0
    deleted = 0
    for filename in files:
        storage.delete(f"{prefix}/{filename}")
        deleted += 1
    for folder in folders:
        deleted += media_delete_tree(f"{prefix}/{folder}", storage=storage)
    return deleted


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK_SIZE):
            digest.update(chunk)
    return digest.hexdigest()


def cached_path(*, cache_dir: Path, sha256: str, filename: str) -> Path:
    """Where a file with this content lives in a local cache: one folder per sha256, the file's own name kept
    (loaders look at suffixes such as .safetensors)."""
    if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
        raise ValueError(f"not a sha256 hex digest: {sha256!r}")
    return Path(cache_dir) / sha256[:2] / sha256 / PurePosixPath(filename).name


def media_fetch(name: str, *, sha256: str, cache_dir: Path, storage: Storage | None = None) -> Path:
    """A local copy of the stored file `name` whose content hashes to `sha256`, from the cache when it is there.

    The download goes to a temporary file beside its cache entry and is renamed into place only after its hash
    matches, so concurrent workers sharing a cache, or a worker killed mid-download, never leave a partial file
    where a complete one is expected. Raises StoredFileMismatch when the stored bytes hash differently.
    """
    target = cached_path(cache_dir=cache_dir, sha256=sha256, filename=name)
    if target.is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=".part-")
    try:
        with os.fdopen(fd, "wb") as out:
            for chunk in media_stream(name, storage=storage):
                digest.update(chunk)
                out.write(chunk)
        if digest.hexdigest() != sha256:
            raise StoredFileMismatch(
                f"{name} hashes to {digest.hexdigest()[:12]}, not the recorded {sha256[:12]}; refusing to use it."
            )
        os.replace(tmp_name, target)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    return target


def local_paths_hidden(message: str, *, shown: dict[str, str] | None = None) -> str:
    """`message` without server paths: the local media folder becomes "media", and each local copy in `shown`
    (e.g. a worker's cached LoRA file) becomes the stored name it is a copy of."""
    from django.conf import settings

    for local, name in (shown or {}).items():
        message = message.replace(str(Path(local).resolve()), name).replace(str(local), name)
    root = settings.MEDIA_ROOT
    return message.replace(str(Path(root).resolve()), "media").replace(str(root), "media")


def storage_probe(*, storage: Storage | None = None) -> str:
    """Reach the storage (readiness): a listing of the top folder works. Returns a short description."""
    storage = _storage(storage)
    s3_object = _s3_object(storage, "readyz-probe")
    if s3_object is not None:
        storage.bucket.meta.client.head_bucket(Bucket=storage.bucket.name)
        return f"s3 bucket {storage.bucket.name}"
    try:
        storage.listdir("")
    except FileNotFoundError:  # a fresh local media folder is created by the first upload
        return f"{type(storage).__name__} (empty)"
    return type(storage).__name__
