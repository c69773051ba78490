"""Tests of the content-addressed blob store (gateway/blobstore.py)."""

from __future__ import annotations

import hashlib
import io
import os
import stat
import threading
import tracemalloc
from pathlib import Path

import pytest

from gateway.blobstore import CHUNK_SIZE, BlobRef, BlobStore
from gateway.edxml.model import Attachment, BytesPayload, Payload
from gateway.errors import BlobStoreError, GatewayError, NotFoundError


@pytest.fixture
def store(tmp_path: Path) -> BlobStore:
    return BlobStore(tmp_path / "blobs", fsync=False)


class PatternStream(io.RawIOBase):
    """A read-only stream of ``total`` pseudo-random-looking bytes generated on the fly."""

    def __init__(self, total: int, seed: bytes = b"seed"):
        self.remaining = total
        self.block = hashlib.sha512(seed).digest() * 1024  # 64 KiB
        self.reads = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[no-untyped-def]
        view = memoryview(buffer).cast("B")
        n = min(len(view), self.remaining, len(self.block))
        view[:n] = self.block[:n]
        self.remaining -= n
        self.reads += 1
        return n


def pattern_digest(total: int, seed: bytes = b"seed") -> str:
    h = hashlib.sha256()
    s = PatternStream(total, seed)
    while chunk := s.read(1 << 16):
        h.update(chunk)
    return h.hexdigest()


def tmp_files(store: BlobStore) -> list[Path]:
    return list((store.root / "tmp").iterdir())


def test_put_bytes_names_the_file_by_sha256_with_fanout(store: BlobStore) -> None:
    data = "Công văn số 123/UBND-VP".encode()
    ref = store.put_bytes(data)
    digest = hashlib.sha256(data).hexdigest()
    assert ref.sha256 == digest
    assert ref.size == len(data)
    expected = store.root / digest[:2] / digest[2:4] / digest
    assert store.path(digest) == expected == ref.path
    assert expected.read_bytes() == data
    assert store.exists(digest) and digest in store
    assert store.size(digest) == len(data)
    with ref.open() as f:
        assert f.read() == data
    assert tmp_files(store) == []


def test_empty_blob_is_storable(store: BlobStore) -> None:
    ref = store.put_bytes(b"")
    assert ref.sha256 == hashlib.sha256(b"").hexdigest()
    assert ref.size == 0
    assert store.open(ref.sha256).read() == b""


def test_writing_same_content_twice_is_idempotent(store: BlobStore) -> None:
    first = store.put_bytes(b"same bytes")
    before = first.path.stat()
    second = store.put_stream(io.BytesIO(b"same bytes"))
    after = second.path.stat()
    assert first == second and first.sha256 == second.sha256 and first.size == second.size
    # the existing evidence file was left untouched (same inode, same mtime)
    assert (before.st_ino, before.st_mtime_ns) == (after.st_ino, after.st_mtime_ns)
    assert list(store) == [first.sha256]
    assert tmp_files(store) == []


def test_distinct_contents_give_distinct_blobs(store: BlobStore) -> None:
    refs = {store.put_bytes(f"file {i}".encode()).sha256 for i in range(20)}
    assert len(refs) == 20
    assert sorted(store) == sorted(refs)


def test_stored_files_are_read_only(store: BlobStore) -> None:
    ref = store.put_bytes(b"evidence")
    mode = stat.S_IMODE(ref.path.stat().st_mode)
    assert mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH) == 0
    assert mode == 0o440


def test_put_stream_reads_in_chunks_and_never_holds_the_blob(store: BlobStore) -> None:
    total = 48 * 1024 * 1024 + 123  # not a multiple of the chunk size
    src = PatternStream(total)
    tracemalloc.start()
    try:
        ref = store.put_stream(src)  # type: ignore[arg-type]
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert ref.size == total
    assert ref.sha256 == pattern_digest(total)
    assert ref.path.stat().st_size == total
    assert src.reads >= total // CHUNK_SIZE  # it really streamed
    assert peak < 8 * CHUNK_SIZE, f"peak Python allocation {peak} bytes while storing {total} bytes"


def test_open_streams_without_loading_whole_blob(store: BlobStore) -> None:
    total = 5 * CHUNK_SIZE + 7
    ref = store.put_stream(PatternStream(total))  # type: ignore[arg-type]
    h = hashlib.sha256()
    with store.open(ref.sha256, verify=True) as f:
        while chunk := f.read(CHUNK_SIZE):
            assert len(chunk) <= CHUNK_SIZE
            h.update(chunk)
    assert h.hexdigest() == ref.sha256


def test_fsync_enabled_store_reads_back_what_it_stored(tmp_path: Path) -> None:
    durable = BlobStore(tmp_path / "durable")  # fsync on (default)
    ref = durable.put_bytes(b"x" * 10_000)
    assert durable.open(ref.sha256).read() == b"x" * 10_000


def test_blob_writer_incremental_commit(store: BlobStore) -> None:
    parts = [b"abc", bytearray(b"def"), memoryview(b"ghi")]
    with store.writer() as w:
        for p in parts:
            w.write(p)
        assert w.size == 9
        ref = w.commit()
    assert ref.sha256 == hashlib.sha256(b"abcdefghi").hexdigest()
    assert ref.size == 9
    assert store.open(ref.sha256).read() == b"abcdefghi"
    with pytest.raises(BlobStoreError, match="already committed"):
        w.write(b"more")
    with pytest.raises(BlobStoreError, match="already committed"):
        w.commit()


def test_blob_writer_aborts_on_exception(store: BlobStore) -> None:
    class DecodeFailed(Exception):
        pass

    with pytest.raises(DecodeFailed), store.writer() as w:
        w.write(b"partial attachment")
        raise DecodeFailed
    assert list(store) == []
    assert tmp_files(store) == []
    assert not store.exists(hashlib.sha256(b"partial attachment").hexdigest())


def test_blob_writer_without_commit_discards(store: BlobStore) -> None:
    with store.writer() as w:
        w.write(b"forgotten")
        assert len(tmp_files(store)) == 1  # data goes to a temp file inside the store
    assert tmp_files(store) == []
    assert list(store) == []


def test_uncommitted_writer_is_invisible_to_readers(store: BlobStore) -> None:
    w = store.writer()
    w.write(b"in flight")
    digest = hashlib.sha256(b"in flight").hexdigest()
    assert not store.exists(digest)
    with pytest.raises(NotFoundError):
        store.open(digest)
    ref = w.commit()
    assert store.exists(digest) and ref.sha256 == digest


def test_expected_sha256_mismatch_stores_nothing(store: BlobStore) -> None:
    wrong = hashlib.sha256(b"other").hexdigest()
    with pytest.raises(BlobStoreError, match="expected " + wrong):
        store.put_stream(io.BytesIO(b"payload"), expected_sha256=wrong)
    assert list(store) == [] and tmp_files(store) == []
    right = hashlib.sha256(b"payload").hexdigest()
    assert store.put_stream(io.BytesIO(b"payload"), expected_sha256=right.upper()).sha256 == right


def test_max_size_is_enforced_while_writing(store: BlobStore) -> None:
    with pytest.raises(BlobStoreError, match="max_size"):
        store.put_stream(PatternStream(3 * CHUNK_SIZE), max_size=2 * CHUNK_SIZE)  # type: ignore[arg-type]
    assert list(store) == [] and tmp_files(store) == []
    assert store.put_stream(io.BytesIO(b"12345"), max_size=5).size == 5


def test_missing_blob_raises_not_found_with_sha_and_path(store: BlobStore) -> None:
    digest = hashlib.sha256(b"never stored").hexdigest()
    for call in (store.open, store.size, store.ref):
        with pytest.raises(NotFoundError) as info:
            call(digest)
        assert digest in str(info.value)
        assert str(store.path(digest)) in str(info.value)
        assert isinstance(info.value, GatewayError)


@pytest.mark.parametrize(
    "bad",
    ["../../etc/passwd", "abc", "g" * 64, "0" * 63, "0" * 65, "", "/" + "0" * 63, "0" * 32 + "/" + "0" * 31],
)
def test_invalid_digests_are_refused_before_touching_the_disk(store: BlobStore, bad: str) -> None:
    with pytest.raises(BlobStoreError, match="SHA-256"):
        store.path(bad)
    with pytest.raises(BlobStoreError, match="SHA-256"):
        store.open(bad)
    assert bad not in store


def test_upper_case_digest_is_normalised(store: BlobStore) -> None:
    ref = store.put_bytes(b"case")
    assert store.open(ref.sha256.upper()).read() == b"case"
    assert store.path(ref.sha256.upper()) == ref.path


def test_blobref_is_a_payload_equal_to_bytes_payload(store: BlobStore) -> None:
    data = b"%PDF-1.7 fake pdf"
    ref = store.put_bytes(data)
    mem = BytesPayload(data)
    assert isinstance(ref, Payload)
    assert ref == mem and mem == ref
    assert hash(ref) == hash(mem)
    assert ref != BytesPayload(b"other")
    assert ref != "not a payload"
    assert len({ref, mem, store.ref(ref.sha256)}) == 1
    # attachments with the same bytes compare equal whether in memory or in the store
    a1 = Attachment("cid1", "a.pdf", "application/pdf", payload=ref)
    a2 = Attachment("cid1", "a.pdf", "application/pdf", payload=mem)
    assert a1 == a2
    assert a1.size == len(data) and a1.sha256 == mem.sha256


def test_blobref_repr_hides_store_and_ref_round_trip(store: BlobStore) -> None:
    ref = store.put_bytes(b"r")
    assert "store" not in repr(ref)
    again = store.ref(ref.sha256)
    assert isinstance(again, BlobRef) and again.size == 1 and again == ref


def _tamper(path: Path, data: bytes) -> None:
    path.chmod(0o640)
    path.write_bytes(data)


def test_verify_on_read_detects_tampering(tmp_path: Path) -> None:
    plain = BlobStore(tmp_path / "s", fsync=False)
    ref = plain.put_stream(PatternStream(2 * CHUNK_SIZE + 5))  # type: ignore[arg-type]
    assert plain.verify(ref.sha256) == ref
    original = ref.path.read_bytes()
    _tamper(ref.path, original[:-1] + bytes([original[-1] ^ 1]))
    # without verification the altered bytes come back silently...
    assert plain.open(ref.sha256).read() != original
    # ...with it, reading to the end raises, naming the blob and its path
    with pytest.raises(BlobStoreError) as info, plain.open(ref.sha256, verify=True) as f:
        while f.read(CHUNK_SIZE):
            pass
    assert ref.sha256 in str(info.value) and str(ref.path) in str(info.value)
    with pytest.raises(BlobStoreError, match="corrupted"):
        plain.verify(ref.sha256)
    auditing = BlobStore(tmp_path / "s", verify_on_read=True)
    with pytest.raises(BlobStoreError, match="corrupted"):
        auditing.open(ref.sha256).read()
    with pytest.raises(BlobStoreError, match="corrupted"):
        ref.store.verify(ref.sha256)


def test_verify_on_read_passes_intact_blobs(tmp_path: Path) -> None:
    auditing = BlobStore(tmp_path / "a", fsync=False, verify_on_read=True)
    ref = auditing.put_bytes(b"intact" * 1000)
    assert auditing.open(ref.sha256).read() == b"intact" * 1000
    assert auditing.open(ref.sha256, verify=False).read() == b"intact" * 1000


def test_delete_is_refused_by_default(store: BlobStore) -> None:
    ref = store.put_bytes(b"evidence")
    with pytest.raises(BlobStoreError, match="append-only"):
        store.delete(ref.sha256)
    assert store.exists(ref.sha256)


def test_delete_when_allowed(tmp_path: Path) -> None:
    s = BlobStore(tmp_path / "d", fsync=False, allow_delete=True)
    ref = s.put_bytes(b"scratch")
    s.delete(ref.sha256)
    assert not s.exists(ref.sha256)
    with pytest.raises(NotFoundError):
        s.delete(ref.sha256)


def test_concurrent_writers_of_the_same_content(store: BlobStore) -> None:
    data = os.urandom(300_000)
    refs: list[BlobRef] = []
    errors: list[BaseException] = []

    def put() -> None:
        try:
            refs.append(store.put_stream(io.BytesIO(data)))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=put) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(refs) == 8 and len({r.sha256 for r in refs}) == 1
    assert list(store) == [refs[0].sha256]
    assert store.open(refs[0].sha256).read() == data
    assert tmp_files(store) == []


def test_clean_temporary_removes_leftovers_of_a_crash(store: BlobStore) -> None:
    w = store.writer()
    w.write(b"crashed before commit")
    w._file.close()  # simulate the process dying: the temp file stays behind
    assert len(tmp_files(store)) == 1
    assert store.clean_temporary() == 1
    assert tmp_files(store) == [] and list(store) == []


def test_put_file_and_unreadable_file(store: BlobStore, tmp_path: Path) -> None:
    src = tmp_path / "in.bin"
    src.write_bytes(b"from a file")
    assert store.put_file(src).sha256 == hashlib.sha256(b"from a file").hexdigest()
    with pytest.raises(BlobStoreError, match=r"missing\.bin"):
        store.put_file(tmp_path / "missing.bin")


def test_store_root_that_cannot_be_created(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_bytes(b"")
    with pytest.raises(BlobStoreError) as info:
        BlobStore(blocker / "blobs")
    assert str(blocker / "blobs") in str(info.value)


def test_failing_input_stream_leaves_nothing(store: BlobStore) -> None:
    class Broken(io.RawIOBase):
        def readable(self) -> bool:
            return True

        def read(self, n: int = -1) -> bytes:
            raise OSError("connection reset")

    with pytest.raises(BlobStoreError, match="connection reset"):
        store.put_stream(Broken())  # type: ignore[arg-type]
    assert tmp_files(store) == [] and list(store) == []


def test_a_short_leftover_under_the_final_name_is_rewritten(tmp_path):  # type: ignore[no-untyped-def]
    """fsync=False + sync() (the hub's group commit): a file a crash left short is replaced on the next put."""
    from gateway.blobstore import BlobStore as Store

    store = Store(tmp_path / "blobs", fsync=False)
    data = b"evidence" * 1000
    ref = store.put_bytes(data)
    store.sync()
    path = store.path(ref.sha256)
    path.chmod(0o640)
    path.write_bytes(data[:100])  # what a power cut before the sync could leave under the final name
    again = store.put_bytes(data)
    assert again.sha256 == ref.sha256
    assert path.read_bytes() == data
