"""Durability of the blob store, checked by counting the syncs it issues and their order.

A SIGKILL test cannot see a missing ``fsync`` (the page cache survives a killed process); only a
power cut would. So these tests record every ``os.fsync``, ``os.replace``/``rename`` and
``syncfs`` the store performs, with the file each one touched, and check the order a crash-safe
write needs: data synced *before* the rename that publishes it, the folder synced *after* it
(so the rename itself survives), every new fan-out folder recorded in its parent, and — in the
deferred mode the hub uses — nothing synced per file but one ``syncfs`` on the store's own
filesystem when :meth:`BlobStore.sync` is called.
"""

from __future__ import annotations

import hashlib
import io
import os
from pathlib import Path
from typing import Any

import pytest

from gateway import blobstore
from gateway.blobstore import BlobStore
from gateway.errors import BlobStoreError


def _fd_path(fd: int) -> str:
    return os.readlink(f"/proc/self/fd/{fd}")


class SyncLog:
    """Records ``("fsync", path)``, ``("replace", src, dst)``, ``("syncfs", path)``, ``("sync",)``."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, *, syncfs_result: int = 0):
        self.events: list[tuple[str, ...]] = []
        real_fsync, real_replace, real_rename = os.fsync, os.replace, os.rename
        events = self.events

        def fsync(fd: int) -> None:
            events.append(("fsync", _fd_path(fd)))
            real_fsync(fd)

        def replace(src: Any, dst: Any, *a: Any, **kw: Any) -> None:
            events.append(("replace", str(src), str(dst)))
            real_replace(src, dst, *a, **kw)

        def rename(src: Any, dst: Any, *a: Any, **kw: Any) -> None:
            events.append(("replace", str(src), str(dst)))
            real_rename(src, dst, *a, **kw)

        class FakeLibc:
            def syncfs(self, fd: int) -> int:
                events.append(("syncfs", _fd_path(fd)))
                return syncfs_result

        monkeypatch.setattr(os, "fsync", fsync)
        monkeypatch.setattr(os, "replace", replace)
        monkeypatch.setattr(os, "rename", rename)
        monkeypatch.setattr(os, "sync", lambda: events.append(("sync",)))
        monkeypatch.setattr(blobstore, "_libc", FakeLibc)

    def kinds(self) -> list[str]:
        return [e[0] for e in self.events]

    def index(self, *event: str) -> int:
        return self.events.index(tuple(event))


def _check_durable_publish(log: SyncLog, store: BlobStore, digest: str, created: list[Path]) -> None:
    """The one order that survives a power cut at any instant."""
    final = store.path(digest)
    replaces = [e for e in log.events if e[0] == "replace"]
    assert len(replaces) == 1 and replaces[0][2] == str(final), log.events
    tmp = replaces[0][1]
    rename_at = log.events.index(replaces[0])
    # the data reached the disk under its temporary name before the rename published it
    assert ("fsync", tmp) in log.events[:rename_at], log.events
    # the folder holding the new name was synced after the rename
    assert ("fsync", str(final.parent)) in log.events[rename_at:], log.events
    # every fan-out folder created for it is recorded in its own parent, after the rename
    for folder in created:
        assert ("fsync", str(folder.parent)) in log.events[rename_at:], (folder, log.events)
    assert "syncfs" not in log.kinds() and "sync" not in log.kinds()


def test_put_bytes_fsyncs_data_before_rename_and_folders_after(tmp_path: Path, monkeypatch) -> None:
    store = BlobStore(tmp_path / "blobs")  # fsync on: the default
    data = b"durable evidence " * 100
    digest = hashlib.sha256(data).hexdigest()
    log = SyncLog(monkeypatch)
    store.put_bytes(data)
    created = [store.root / digest[:2], store.root / digest[:2] / digest[2:4]]
    _check_durable_publish(log, store, digest, created)
    # exactly: data, leaf folder, and the two new fan-out folders' parents (root, first level)
    assert log.kinds().count("fsync") == 4, log.events


def test_put_bytes_into_an_existing_folder_syncs_data_and_that_folder(tmp_path: Path, monkeypatch) -> None:
    store = BlobStore(tmp_path / "blobs")
    first = store.put_bytes(b"first")
    # a second blob in the same fan-out folder: find one by brute force (first two bytes equal)
    n = 0
    while True:
        data = b"second %d" % n
        digest = hashlib.sha256(data).hexdigest()
        if digest[:4] == first.sha256[:4] and digest != first.sha256:
            break
        n += 1
    log = SyncLog(monkeypatch)
    store.put_bytes(data)
    _check_durable_publish(log, store, digest, [])
    assert log.kinds().count("fsync") == 2, log.events


def test_streamed_writer_fsyncs_before_rename(tmp_path: Path, monkeypatch) -> None:
    store = BlobStore(tmp_path / "blobs")
    data = os.urandom(3 * blobstore.CHUNK_SIZE + 11)
    digest = hashlib.sha256(data).hexdigest()
    log = SyncLog(monkeypatch)
    ref = store.put_stream(io.BytesIO(data))
    assert ref.sha256 == digest
    created = [store.root / digest[:2], store.root / digest[:2] / digest[2:4]]
    _check_durable_publish(log, store, digest, created)
    assert log.kinds().count("fsync") == 4, log.events


def test_writing_an_intact_blob_again_syncs_nothing(tmp_path: Path, monkeypatch) -> None:
    store = BlobStore(tmp_path / "blobs")
    ref = store.put_bytes(b"already here")
    log = SyncLog(monkeypatch)
    assert store.put_bytes(b"already here") == ref
    assert log.events == []


def test_deferred_store_syncs_nothing_per_blob_then_one_syncfs_of_its_filesystem(
    tmp_path: Path, monkeypatch
) -> None:
    store = BlobStore(tmp_path / "blobs", fsync=False)  # what the hub opens
    log = SyncLog(monkeypatch)
    store.put_bytes(b"one")
    store.put_stream(io.BytesIO(b"two"))
    assert "fsync" not in log.kinds(), log.events  # deferred: the caller batches the flush
    store.sync()
    syncs = [e for e in log.events if e[0] in ("syncfs", "sync")]
    # one filesystem-wide flush, issued on a descriptor of the store itself (its filesystem)
    assert syncs == [("syncfs", str(store.root))], log.events
    assert log.events[-1][0] == "syncfs"  # after both blobs were renamed into place


def test_sync_falls_back_to_a_global_sync_when_syncfs_fails(tmp_path: Path, monkeypatch) -> None:
    store = BlobStore(tmp_path / "blobs", fsync=False)
    log = SyncLog(monkeypatch, syncfs_result=-1)
    store.sync()
    assert log.events == [("syncfs", str(store.root)), ("sync",)]


def test_sync_without_syncfs_in_libc_does_a_global_sync(tmp_path: Path, monkeypatch) -> None:
    store = BlobStore(tmp_path / "blobs", fsync=False)
    log = SyncLog(monkeypatch)
    monkeypatch.setattr(blobstore, "_libc", lambda: None)
    store.sync()
    assert log.events == [("sync",)]


def test_sync_really_reaches_the_kernel(tmp_path: Path) -> None:
    """The real libc binding is usable: syncfs(2) on a descriptor of the store returns 0."""
    blobstore._libc.cache_clear()
    libc = blobstore._libc()
    assert libc is not None
    fd = os.open(tmp_path, os.O_RDONLY)
    try:
        assert libc.syncfs(fd) == 0
    finally:
        os.close(fd)
    BlobStore(tmp_path / "blobs", fsync=False).sync()  # and the store's own call does not raise


def test_sync_failure_is_a_typed_error_naming_the_store(tmp_path: Path, monkeypatch) -> None:
    store = BlobStore(tmp_path / "blobs", fsync=False)

    def broken(folder: Path) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(blobstore, "_syncfs", broken)
    with pytest.raises(BlobStoreError, match="cannot sync the blob store: Input/output error") as info:
        store.sync()
    assert str(store.root) in str(info.value)


def test_a_failing_fsync_never_publishes_the_blob(tmp_path: Path, monkeypatch) -> None:
    """fsync reporting EIO means the data may not be on disk: the blob must not appear under its name."""
    store = BlobStore(tmp_path / "blobs")

    def eio(fd: int) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(os, "fsync", eio)
    data = b"will not be durable"
    with pytest.raises(BlobStoreError, match="Input/output error"):
        store.put_bytes(data)
    with pytest.raises(BlobStoreError, match="Input/output error"):
        store.put_stream(io.BytesIO(data + b"!"))
    assert list(store) == []
    assert list((store.root / "tmp").iterdir()) == []
