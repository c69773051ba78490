"""Content-addressed, append-only blob store: every payload and attachment of the gateway lives here.

A blob's name is the SHA-256 of its bytes, laid out with a two-level fan-out
(``ab/cd/abcd…``) so no directory grows huge. Writes stream to a temporary file inside the store
(same filesystem), are fsynced, and are then renamed into place atomically, so a reader never
sees a half-written blob and a crash leaves at worst a stray temporary file. Writing the same
content twice is a no-op that returns the same :class:`BlobRef`.

Blobs are evidence (the ledger points at them), so the store is append-only by default:
:meth:`BlobStore.delete` refuses unless the store was opened with ``allow_delete=True``.
Nothing here ever holds a whole blob in memory; :class:`BlobWriter` lets producers (the edXML
parser decoding base64 chunk by chunk) write incrementally.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import hashlib
import io
import os
import re
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from gateway.errors import BlobStoreError, Location, NotFoundError
from gateway.files import fsync_dir

CHUNK_SIZE = 1 << 20
"""Bytes read per step when streaming into or out of the store."""

_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
_TMP_DIR = "tmp"
_TMP_PREFIX = "incoming-"


def _check_sha(sha256: str) -> str:
    """Normalise a digest to lower-case hex and refuse anything else (it becomes a file name)."""
    digest = sha256.strip().lower() if isinstance(sha256, str) else ""
    if not _SHA256_RE.match(digest):
        raise BlobStoreError(f"not a SHA-256 hex digest: {sha256!r} (expected 64 hex characters)")
    return digest


@dataclass(frozen=True, slots=True, eq=False)
class BlobRef:
    """A stored blob: its digest, its size and the store that holds it.

    Satisfies :class:`gateway.edxml.model.Payload`, and like every payload compares equal to any
    other payload with the same SHA-256 (a :class:`BytesPayload` of the same bytes included).
    """

    sha256: str
    size: int
    store: BlobStore = field(repr=False)

    def open(self) -> IO[bytes]:
        """Open the blob for reading (binary, streaming)."""
        return self.store.open(self.sha256)

    @property
    def path(self) -> Path:
        """Where the blob lives on disk."""
        return self.store.path(self.sha256)

    def __eq__(self, other: object) -> bool:
        other_sha = getattr(other, "sha256", None)
        if not isinstance(other_sha, str) or not callable(getattr(other, "open", None)):
            return NotImplemented
        return other_sha == self.sha256

    def __hash__(self) -> int:
        return hash(self.sha256)


class BlobWriter:
    """Write one blob incrementally: ``write(chunk)`` any number of times, then ``commit()``.

    Use as a context manager: leaving the block by an exception, or without calling
    :meth:`commit`, discards the temporary file, so a failed decode never leaves a partial blob.
    ``max_size`` (optional) refuses blobs larger than that many bytes while they are written.
    """

    def __init__(self, store: BlobStore, *, max_size: int | None = None):
        self._store = store
        self._max_size = max_size
        self._hash = hashlib.sha256()
        self._size = 0
        self._done = False
        tmp_dir = store.root / _TMP_DIR
        try:
            fd, name = tempfile.mkstemp(prefix=_TMP_PREFIX, dir=tmp_dir)
        except OSError as exc:
            raise BlobStoreError(
                f"cannot create a temporary blob file: {exc.strerror}", location=Location(str(tmp_dir))
            ) from exc
        self._tmp_path = Path(name)
        self._file: IO[bytes] = os.fdopen(fd, "wb")

    @property
    def size(self) -> int:
        """Bytes written so far."""
        return self._size

    def write(self, chunk: bytes | bytearray | memoryview) -> int:
        """Append ``chunk`` to the blob; returns the number of bytes written."""
        if self._done:
            raise BlobStoreError("write() on a blob writer that was already committed or aborted")
        n = len(chunk)
        if self._max_size is not None and self._size + n > self._max_size:
            self.abort()
            raise BlobStoreError(f"blob larger than the limit of {self._max_size} bytes (max_size)")
        self._hash.update(chunk)
        try:
            self._file.write(chunk)
        except OSError as exc:
            self.abort()
            raise BlobStoreError(
                f"cannot write blob data: {exc.strerror}", location=Location(str(self._tmp_path))
            ) from exc
        self._size += n
        return n

    def commit(self, *, expected_sha256: str | None = None) -> BlobRef:
        """Flush, fsync and move the blob into place; return its reference.

        With ``expected_sha256`` the digest must match, else the data is discarded and a
        :class:`BlobStoreError` raised (a corrupted transfer never enters the store).
        """
        if self._done:
            raise BlobStoreError("commit() on a blob writer that was already committed or aborted")
        digest = self._hash.hexdigest()
        if expected_sha256 is not None and _check_sha(expected_sha256) != digest:
            self.abort()
            raise BlobStoreError(f"blob content has SHA-256 {digest}, expected {expected_sha256.lower()}")
        final = self._store.path(digest)
        try:
            self._file.flush()
            if self._store.fsync:
                os.fsync(self._file.fileno())
            self._file.close()
            if final.exists() and _intact(final, digest, self._size):
                # Same digest, same bytes: keep the existing (evidence) file untouched.
                self._tmp_path.unlink()
            else:
                # New, or a leftover that a crash cut short before it was made durable: (re)place it.
                created = _make_dirs(final.parent, self._store.root)
                self._tmp_path.chmod(self._store.file_mode)
                self._tmp_path.replace(final)
                if self._store.fsync:
                    fsync_dir(final.parent)
                    # A new fan-out folder is only durable once its own parent records it.
                    for folder in created:
                        fsync_dir(folder.parent)
        except OSError as exc:
            self.abort()
            raise BlobStoreError(
                f"cannot store blob {digest}: {exc.strerror}", location=Location(str(final))
            ) from exc
        self._done = True
        return BlobRef(digest, self._size, self._store)

    def abort(self) -> None:
        """Discard everything written; safe to call more than once."""
        if self._done:
            return
        self._done = True
        with contextlib.suppress(OSError):
            self._file.close()
        with contextlib.suppress(FileNotFoundError):
            self._tmp_path.unlink()

    def __enter__(self) -> BlobWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.abort()


_VERIFY_EXISTING_UP_TO = 4 * 1024 * 1024


def _intact(path: Path, digest: str, size: int) -> bool:
    """Whether an existing blob file really holds ``size`` bytes hashing to ``digest``.

    Size is always checked (a crash before a deferred sync can leave a short file under the
    final name); small files are re-hashed too, since that costs less than a write.
    """
    try:
        if path.stat().st_size != size:
            return False
        if size > _VERIFY_EXISTING_UP_TO:
            return True
        return hashlib.sha256(path.read_bytes()).hexdigest() == digest
    except OSError:
        return False


def _syncfs(folder: Path) -> None:
    """Flush every dirty page and metadata of the filesystem holding ``folder`` (Linux syncfs)."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        libc = _libc()
        if libc is not None and libc.syncfs(fd) == 0:
            return
        os.sync()  # no syncfs(2): flush everything
    finally:
        os.close(fd)


@functools.cache
def _libc() -> Any:
    try:
        lib = ctypes.CDLL(None, use_errno=True)
        lib.syncfs.argtypes = [ctypes.c_int]
        return lib
    except (OSError, AttributeError):  # pragma: no cover - not Linux
        return None


def _make_dirs(folder: Path, root: Path) -> list[Path]:
    """Create ``folder`` and any missing parents below ``root``; return the ones created."""
    missing: list[Path] = []
    current = folder
    while current != root and not current.exists():
        missing.append(current)
        current = current.parent
    for path in reversed(missing):
        path.mkdir(exist_ok=True)
    return missing


class _VerifyingReader(io.RawIOBase):
    """Reads a blob file and, on reaching the end, checks that its SHA-256 is the blob's name."""

    def __init__(self, raw: IO[bytes], sha256: str, path: Path):
        self._raw = raw
        self._sha256 = sha256
        self._path = path
        self._hash = hashlib.sha256()
        self._checked = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        data = self._raw.read(len(view))
        n = len(data)
        if n:
            view[:n] = data
            self._hash.update(data)
        elif not self._checked:
            self._checked = True
            actual = self._hash.hexdigest()
            if actual != self._sha256:
                raise BlobStoreError(
                    f"blob {self._sha256} is corrupted: its content hashes to {actual}",
                    location=Location(str(self._path)),
                )
        return n

    def close(self) -> None:
        self._raw.close()
        super().close()


class BlobStore:
    """A directory of blobs named by SHA-256.

    ``fsync`` (default on) makes every commit durable before it returns; tests may switch it off
    for speed. ``verify_on_read`` makes every :meth:`open` re-hash the content as it is read and
    raise :class:`BlobStoreError` at the end if it no longer matches its name (audits).

    With ``fsync=False`` commits are not durable on their own; a caller that batches work (the
    hub's group commit) calls :meth:`sync` once before recording the blobs anywhere durable.
    A blob left short by a crash before that sync is detected and rewritten on the next put.
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        *,
        fsync: bool = True,
        verify_on_read: bool = False,
        allow_delete: bool = False,
        file_mode: int = 0o440,
    ):
        self.root = Path(root)
        self.fsync = fsync
        self.verify_on_read = verify_on_read
        self.allow_delete = allow_delete
        self.file_mode = file_mode
        # one byte per fan-out folder (256 x 256) created or checked by this process: the set of
        # Path objects it replaces reached 17 MB per server process once most folders were seen
        # (a 30-minute soak showed it as slow RSS growth); this is 64 KiB from the start
        self._known_fanout = bytearray(1 << 16)
        try:
            (self.root / _TMP_DIR).mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise BlobStoreError(
                f"cannot create the blob store directory: {exc.strerror}", location=Location(str(self.root))
            ) from exc

    def __repr__(self) -> str:
        return f"BlobStore({str(self.root)!r})"

    # -- writing -------------------------------------------------------------------------------

    def sync(self) -> None:
        """Make every blob written so far durable, in one filesystem-wide flush (``syncfs``)."""
        try:
            _syncfs(self.root)
        except OSError as exc:
            raise BlobStoreError(
                f"cannot sync the blob store: {exc.strerror}", location=Location(str(self.root))
            ) from exc

    def writer(self, *, max_size: int | None = None) -> BlobWriter:
        """A :class:`BlobWriter` for incremental producers."""
        return BlobWriter(self, max_size=max_size)

    def put_stream(
        self,
        stream: IO[bytes],
        *,
        expected_sha256: str | None = None,
        max_size: int | None = None,
    ) -> BlobRef:
        """Copy a binary stream into the store in chunks of :data:`CHUNK_SIZE`; return its ref."""
        with self.writer(max_size=max_size) as w:
            while True:
                try:
                    chunk = stream.read(CHUNK_SIZE)
                except OSError as exc:
                    raise BlobStoreError(f"cannot read the input stream: {exc}") from exc
                if not chunk:
                    break
                w.write(chunk)
            return w.commit(expected_sha256=expected_sha256)

    def put_bytes(self, data: bytes | bytearray | memoryview, *, sha256: bytes | None = None) -> BlobRef:
        """Store a small in-memory payload.

        The hub's hot path: the digest is known before anything is written, so an existing
        intact blob costs one stat, and a new one is written with one ``os.write`` to a temp
        name derived from the digest (no random-name search), then renamed into place.
        ``sha256`` is the raw digest when the caller has just computed it over these same bytes.
        """
        raw = bytes(data)
        digest = (sha256 if sha256 is not None else hashlib.sha256(raw).digest()).hex()
        final = self.path(digest)
        if _intact(final, digest, len(raw)):  # one stat when absent (the usual case)
            return BlobRef(digest, len(raw), self)
        tmp = self.root / _TMP_DIR / f"{_TMP_PREFIX}{digest}.{os.getpid()}.{threading.get_ident()}"
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            try:
                view = memoryview(raw)
                while view:
                    view = view[os.write(fd, view) :]
                os.fchmod(fd, self.file_mode)
                if self.fsync:
                    os.fsync(fd)
            finally:
                os.close(fd)
            created = self._ensure_folder(final.parent, int(digest[:4], 16))
            tmp.replace(final)
            if self.fsync:
                fsync_dir(final.parent)
                for folder in created:
                    fsync_dir(folder.parent)
        except OSError as exc:
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise BlobStoreError(f"cannot store blob {digest}: {exc.strerror}", location=Location(str(final))) from exc
        return BlobRef(digest, len(raw), self)

    def _ensure_folder(self, folder: Path, slot: int) -> list[Path]:
        """Create a fan-out folder once; remembered (``slot``: its 4-hex-digit prefix) so later puts
        skip the checks."""
        if self._known_fanout[slot]:
            return []
        created = _make_dirs(folder, self.root)
        self._known_fanout[slot] = 1
        return created

    def put_file(self, path: str | os.PathLike[str]) -> BlobRef:
        """Store a copy of a file, streamed."""
        try:
            with Path(path).open("rb") as f:
                return self.put_stream(f)
        except OSError as exc:
            raise BlobStoreError(f"cannot read {path}: {exc.strerror}", location=Location(str(path))) from exc

    # -- reading -------------------------------------------------------------------------------

    def path(self, sha256: str) -> Path:
        """Where the blob with this digest lives (or would live)."""
        digest = _check_sha(sha256)
        return self.root / digest[:2] / digest[2:4] / digest

    def exists(self, sha256: str) -> bool:
        return self.path(sha256).is_file()

    def size(self, sha256: str) -> int:
        """Size in bytes; :class:`NotFoundError` if there is no such blob."""
        path = self.path(sha256)
        try:
            return path.stat().st_size
        except FileNotFoundError as exc:
            raise NotFoundError(f"no blob {sha256}", location=Location(str(path))) from exc

    def ref(self, sha256: str) -> BlobRef:
        """A :class:`BlobRef` for a blob already in the store."""
        digest = _check_sha(sha256)
        return BlobRef(digest, self.size(digest), self)

    def open(self, sha256: str, *, verify: bool | None = None) -> IO[bytes]:
        """Open a blob for binary reading; ``verify`` overrides the store's ``verify_on_read``."""
        digest = _check_sha(sha256)
        path = self.path(digest)
        try:
            f = path.open("rb")
        except FileNotFoundError as exc:
            raise NotFoundError(f"no blob {digest}", location=Location(str(path))) from exc
        except OSError as exc:
            raise BlobStoreError(
                f"cannot open blob {digest}: {exc.strerror}", location=Location(str(path))
            ) from exc
        if verify if verify is not None else self.verify_on_read:
            return io.BufferedReader(_VerifyingReader(f, digest, path), CHUNK_SIZE)
        return f

    def verify(self, sha256: str) -> BlobRef:
        """Re-hash a blob from disk (audit); raise :class:`BlobStoreError` if it was altered."""
        with self.open(sha256, verify=True) as f:
            while f.read(CHUNK_SIZE):
                pass
        return self.ref(sha256)

    def __iter__(self) -> Iterator[str]:
        """The digests of every blob in the store (directory order)."""
        for first in sorted(self.root.iterdir()):
            if len(first.name) != 2 or not first.is_dir():
                continue
            for second in sorted(first.iterdir()):
                for blob in sorted(second.iterdir()):
                    if _SHA256_RE.match(blob.name):
                        yield blob.name

    def __contains__(self, sha256: object) -> bool:
        if not isinstance(sha256, str) or not _SHA256_RE.match(sha256.lower()):
            return False
        return self.exists(sha256)

    # -- removal (off by default) ----------------------------------------------------------------

    def delete(self, sha256: str) -> None:
        """Remove a blob; refused unless the store was opened with ``allow_delete=True``."""
        path = self.path(sha256)
        if not self.allow_delete:
            raise BlobStoreError(
                "the blob store is append-only (evidence); open it with allow_delete=True to remove blobs",
                location=Location(str(path)),
            )
        try:
            path.unlink()
        except FileNotFoundError as exc:
            raise NotFoundError(f"no blob {sha256}", location=Location(str(path))) from exc

    def clean_temporary(self) -> int:
        """Remove temporary files left by crashed writers; returns how many were removed.

        Only call this when no writer is active (at start-up), since it cannot tell a stale file
        from one being written.
        """
        removed = 0
        for stale in (self.root / _TMP_DIR).glob(f"{_TMP_PREFIX}*"):
            with contextlib.suppress(FileNotFoundError):
                stale.unlink()
                removed += 1
        return removed


__all__ = ["CHUNK_SIZE", "BlobRef", "BlobStore", "BlobWriter"]
