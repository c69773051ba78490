"""Blob store edge cases found by mutation testing: every failure is a typed error naming the file,
writers refuse use after commit or abort, and leftovers from crashes are detected, not trusted."""

from __future__ import annotations

import hashlib
import io
import os
import tracemalloc
from pathlib import Path

import pytest

from gateway import blobstore
from gateway.blobstore import CHUNK_SIZE, BlobStore
from gateway.edxml.model import BytesPayload
from gateway.errors import BlobStoreError, NotFoundError


@pytest.fixture
def store(tmp_path: Path) -> BlobStore:
    return BlobStore(tmp_path / "blobs", fsync=False)


def _eio(*_a: object, **_k: object) -> None:
    raise OSError(5, "Input/output error")


def test_a_digest_that_is_not_a_string_is_a_typed_error(store: BlobStore) -> None:
    for bad in (None, 42, b"ab" * 32):
        with pytest.raises(BlobStoreError, match="not a SHA-256 hex digest"):
            store.path(bad)  # type: ignore[arg-type]
    assert 123 not in store and None not in store


def test_blobref_equality_needs_a_digest_and_an_open_method(store: BlobStore) -> None:
    ref = store.put_bytes(b"x")

    class DigestOnly:
        sha256 = ref.sha256

    class OpenOnly:
        sha256 = None

        def open(self) -> io.BytesIO:
            return io.BytesIO(b"x")

    assert ref != DigestOnly() and ref != OpenOnly() and ref != ref.sha256
    assert ref == BytesPayload(b"x") and ref != BytesPayload(b"y")


def test_repr_names_the_root(store: BlobStore) -> None:
    assert repr(store) == f"BlobStore({str(store.root)!r})"


def test_store_root_that_cannot_be_created_names_it(tmp_path: Path) -> None:
    (tmp_path / "file").write_bytes(b"")
    with pytest.raises(BlobStoreError, match="cannot create the blob store directory") as info:
        BlobStore(tmp_path / "file" / "blobs")
    assert str(tmp_path / "file" / "blobs") in str(info.value)


def test_iteration_ignores_stray_files_in_the_root(store: BlobStore) -> None:
    ref = store.put_bytes(b"evidence")
    (store.root / ".keep").write_bytes(b"")  # sorts before every fan-out folder
    (store.root / "zz").write_bytes(b"")  # two letters, but a file
    assert list(store) == [ref.sha256]


def test_an_existing_blob_is_checked_before_it_is_trusted(tmp_path: Path, monkeypatch) -> None:
    """Small blobs are re-hashed, larger ones only size-checked; a short leftover is always rewritten."""
    store = BlobStore(tmp_path / "blobs", fsync=False)
    monkeypatch.setattr(blobstore, "_VERIFY_EXISTING_UP_TO", 16)
    at_limit, above = b"a" * 16, b"b" * 17
    for data in (at_limit, above):
        ref = store.put_bytes(data)
        ref.path.chmod(0o640)
        ref.path.write_bytes(b"X" * len(data))  # same size, other bytes (bit rot)
    # at the limit it is re-hashed and rewritten; above it the size is trusted (and the inode kept)
    before = store.path(hashlib.sha256(above).hexdigest()).stat().st_ino
    assert store.put_bytes(at_limit).open().read() == at_limit
    assert store.put_stream(io.BytesIO(above)).path.stat().st_ino == before
    short = store.put_bytes(b"c" * 40)
    short.path.chmod(0o640)
    short.path.write_bytes(b"c" * 39)
    assert store.put_stream(io.BytesIO(b"c" * 40)).open().read() == b"c" * 40


def test_an_unreadable_existing_blob_is_rewritten(store: BlobStore, monkeypatch) -> None:
    ref = store.put_bytes(b"d" * 10)
    real = Path.read_bytes

    def read_bytes(self: Path) -> bytes:
        if self == ref.path:
            raise OSError(5, "Input/output error")
        return real(self)

    monkeypatch.setattr(Path, "read_bytes", read_bytes)
    before = ref.path.stat().st_ino
    assert store.put_bytes(b"d" * 10).path.stat().st_ino != before  # replaced, not trusted


def test_writing_into_an_existing_folder_syncs_only_that_folder(tmp_path: Path, monkeypatch) -> None:
    store = BlobStore(tmp_path / "blobs")
    first = store.put_bytes(b"first")
    n = 0
    while True:
        data = b"second %d" % n
        if hashlib.sha256(data).hexdigest()[:4] == first.sha256[:4]:
            break
        n += 1
    synced: list[str] = []
    real = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(os.readlink(f"/proc/self/fd/{fd}")), real(fd)))
    store.put_stream(io.BytesIO(data))
    assert len(synced) == 2 and synced[1] == str(first.path.parent)


def test_two_writers_creating_the_same_folder_at_once_both_succeed(store: BlobStore, monkeypatch) -> None:
    """The folder appears between the check and the mkdir (another writer): not an error."""
    data = b"race"
    folder = store.path(hashlib.sha256(data).hexdigest()).parent
    folder.mkdir(parents=True)
    real_exists = Path.exists
    monkeypatch.setattr(Path, "exists", lambda self: False if self == folder else real_exists(self))
    with store.writer() as w:
        w.write(data)
        assert w.commit().open().read() == data


def test_clean_temporary_counts_every_leftover(store: BlobStore) -> None:
    for name in ("incoming-a", "incoming-b", "incoming-c"):
        (store.root / "tmp" / name).write_bytes(b"partial")
    (store.root / "tmp" / "other").write_bytes(b"not ours")
    assert store.clean_temporary() == 3
    assert [p.name for p in (store.root / "tmp").iterdir()] == ["other"]


def test_delete_errors_name_the_blob(tmp_path: Path) -> None:
    refusing = BlobStore(tmp_path / "a", fsync=False)
    ref = refusing.put_bytes(b"kept")
    with pytest.raises(BlobStoreError) as info:
        refusing.delete(ref.sha256)
    assert str(info.value) == (f"{ref.path}: the blob store is append-only (evidence); "
                               "open it with allow_delete=True to remove blobs")
    allowing = BlobStore(tmp_path / "b", fsync=False, allow_delete=True)
    missing = "0" * 64
    with pytest.raises(NotFoundError) as nf:
        allowing.delete(missing)
    assert str(nf.value) == f"{allowing.path(missing)}: no blob {missing}"


def test_read_errors_name_the_blob(store: BlobStore) -> None:
    missing = "1" * 64
    for call in (store.open, store.size, store.ref):
        with pytest.raises(NotFoundError) as info:
            call(missing)
        assert str(info.value) == f"{store.path(missing)}: no blob {missing}"
    store.path(missing).mkdir(parents=True)  # something that is not a file sits at the blob's name
    with pytest.raises(BlobStoreError) as err:
        store.open(missing)
    assert str(err.value) == f"{store.path(missing)}: cannot open blob {missing}: Is a directory"


def test_put_file_error_names_the_file(store: BlobStore, tmp_path: Path) -> None:
    with pytest.raises(BlobStoreError) as info:
        store.put_file(tmp_path / "absent.pdf")
    path = tmp_path / "absent.pdf"
    assert str(info.value) == f"{path}: cannot read {path}: No such file or directory"


def test_put_bytes_errors_name_the_blob_and_leave_no_temporary(store: BlobStore, monkeypatch) -> None:
    data = b"cannot land"
    digest = hashlib.sha256(data).hexdigest()
    monkeypatch.setattr(Path, "replace", _eio)
    with pytest.raises(BlobStoreError) as info:
        store.put_bytes(data)
    assert str(info.value) == f"{store.path(digest)}: cannot store blob {digest}: Input/output error"
    assert list((store.root / "tmp").iterdir()) == []
    monkeypatch.undo()
    (store.root / "tmp").rmdir()  # the temporary folder itself is gone: os.open fails, nothing to clean
    with pytest.raises(BlobStoreError, match=r"cannot store blob .*: No such file or directory"):
        store.put_bytes(data)


def test_put_bytes_of_an_existing_blob_returns_a_full_reference(store: BlobStore) -> None:
    store.put_bytes(b"twice")
    ref = store.put_bytes(b"twice")
    assert ref.size == 5 and ref.store is store and ref.open().read() == b"twice"
    assert store.ref(ref.sha256).store is store and store.ref(ref.sha256).open().read() == b"twice"


def test_writer_errors_name_the_file(store: BlobStore, monkeypatch) -> None:
    (store.root / "tmp").rmdir()
    with pytest.raises(BlobStoreError) as info:
        store.writer()
    assert str(info.value) == (f"{store.root / 'tmp'}: cannot create a temporary blob file: "
                               "No such file or directory")
    (store.root / "tmp").mkdir()
    w = store.writer()
    tmp = w._tmp_path
    monkeypatch.setattr(w._file, "write", _eio)
    with pytest.raises(BlobStoreError) as err:
        w.write(b"x")
    assert str(err.value) == f"{tmp}: cannot write blob data: Input/output error"
    assert not tmp.exists()
    with store.writer() as w2:
        w2.write(b"y")
        monkeypatch.setattr(Path, "replace", _eio)
        with pytest.raises(BlobStoreError) as cerr:
            w2.commit()
    digest = hashlib.sha256(b"y").hexdigest()
    assert str(cerr.value) == f"{store.path(digest)}: cannot store blob {digest}: Input/output error"


def test_a_writer_is_unusable_after_commit_or_abort(store: BlobStore) -> None:
    with store.writer() as w:
        w.write(b"a")
        w.commit()
        with pytest.raises(BlobStoreError, match=r"^write\(\) on a blob writer that was already committed or aborted$"):
            w.write(b"b")
        with pytest.raises(BlobStoreError, match=r"^commit\(\) on a blob writer that was already committed or aborted$"):
            w.commit()
    aborted = store.writer()
    aborted.write(b"c")
    aborted.abort()
    with pytest.raises(BlobStoreError, match="already committed or aborted"):
        aborted.commit()
    with pytest.raises(BlobStoreError, match="already committed or aborted"):
        aborted.write(b"d")


def test_abort_after_the_temporary_file_vanished_is_quiet(store: BlobStore) -> None:
    w = store.writer()
    w.write(b"half")
    assert store.clean_temporary() == 1
    w.abort()
    w.abort()


def test_max_size_counts_every_chunk(store: BlobStore) -> None:
    w = store.writer(max_size=5)
    w.write(b"abc")
    with pytest.raises(BlobStoreError, match="larger than the limit of 5 bytes"):
        w.write(b"def")
    with store.writer(max_size=6) as ok:
        ok.write(b"abc")
        ok.write(b"def")
        assert ok.commit().size == 6


def test_verify_streams_instead_of_reading_the_whole_blob(store: BlobStore) -> None:
    ref = store.put_stream(io.BytesIO(os.urandom(12 * CHUNK_SIZE)))
    tracemalloc.start()
    try:
        store.verify(ref.sha256)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 4 * CHUNK_SIZE, peak


def test_iteration_skips_the_empty_folder_a_deleted_blob_leaves(tmp_path: Path) -> None:
    s = BlobStore(tmp_path / "d", fsync=False, allow_delete=True)
    kept, gone = s.put_bytes(b"kept"), s.put_bytes(b"gone")
    assert kept.sha256[:4] != gone.sha256[:4]  # two fan-out folders
    s.delete(gone.sha256)
    assert s.path(gone.sha256).parent.is_dir() and not any(s.path(gone.sha256).parent.iterdir())
    assert list(s) == [kept.sha256] and gone.sha256 not in s and kept.sha256 in s
    s.delete(kept.sha256)
    assert list(s) == []
