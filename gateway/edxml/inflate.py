"""Unzipping one-entry ZIP attachments under a budget, with a typed error for every bad archive.

Senders may zip an attachment in transit (one entry). The archive is hostile input: its size
header can lie, its entry can inflate a thousandfold (a zip bomb), it can be encrypted, use a
method we do not support (deflate64), carry a bad CRC or be cut short. :func:`open_single_entry`
returns a stream that inflates lazily and raises :class:`InputLimitError` as soon as the bytes
*actually produced* pass ``max_inflated_bytes`` or ``max_inflation_ratio`` (the headers are never
trusted), and :class:`AttachmentFormatError` for anything the archive gets wrong. Nothing is
inflated into memory beyond one chunk.
"""

from __future__ import annotations

import contextlib
import io
import zipfile
import zlib
from typing import IO

from gateway.errors import AttachmentFormatError, InputLimitError, Location
from gateway.limits import DEFAULT_INPUT_LIMITS, InputLimits

_SUPPORTED = {zipfile.ZIP_STORED: "stored", zipfile.ZIP_DEFLATED: "deflate"}
_METHOD_NAMES = {9: "deflate64", 12: "bzip2", 14: "lzma", 93: "zstd", 98: "ppmd"}


def _bad(message: str, source: str, index: int) -> AttachmentFormatError:
    return AttachmentFormatError(f"attachment {index + 1}: {message}", location=Location(source))


class BudgetedEntry(io.RawIOBase):
    """A ZIP entry stream that counts what it inflates and translates every failure."""

    def __init__(
        self, inner: IO[bytes], *, compressed: int, source: str, index: int, limits: InputLimits
    ):
        self._inner = inner
        self._compressed = max(compressed, 1)
        self._source = source
        self._index = index
        self._limits = limits
        self.produced = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        view = memoryview(buffer).cast("B")
        try:
            data = self._inner.read(len(view))
        except zipfile.BadZipFile as exc:  # bad CRC, lying sizes, truncated data
            raise _bad(f"the ZIP is damaged ({exc})", self._source, self._index) from exc
        except (zlib.error, EOFError, OSError, ValueError, RuntimeError) as exc:
            raise _bad(f"the ZIP cannot be inflated ({type(exc).__name__}: {exc})", self._source, self._index) from exc
        n = len(data)
        view[:n] = data
        self.produced += n
        lim = self._limits
        if self.produced > lim.max_inflated_bytes:
            raise InputLimitError(
                f"attachment {self._index + 1} inflated size (bytes)",
                limit="max_inflated_bytes",
                value=self.produced,
                maximum=lim.max_inflated_bytes,
                location=Location(self._source),
            )
        if self.produced > lim.ratio_floor_bytes and self.produced / self._compressed > lim.max_inflation_ratio:
            raise InputLimitError(
                f"attachment {self._index + 1} inflation ratio (inflated/compressed, at least)",
                limit="max_inflation_ratio",
                value=round(self.produced / self._compressed, 1),
                maximum=lim.max_inflation_ratio,
                location=Location(self._source),
            )
        return n

    def close(self) -> None:
        with contextlib.suppress(zipfile.BadZipFile, OSError, ValueError):
            self._inner.close()
        super().close()


def open_single_entry(
    blob: IO[bytes], *, source: str, index: int, limits: InputLimits = DEFAULT_INPUT_LIMITS
) -> IO[bytes] | None:
    """The single file of a one-entry ZIP as a budgeted stream, or None when ``blob`` is not one.

    "Not one" (no central directory, several entries, only folders) means the payload is taken
    as it arrived. An archive that *is* a one-entry ZIP but cannot be read safely raises
    :class:`AttachmentFormatError`; one that inflates past the budget raises
    :class:`InputLimitError` while it is being read.
    """
    blob.seek(0, io.SEEK_END)
    archive_size = blob.tell()
    blob.seek(0)
    try:
        zf = zipfile.ZipFile(blob)
    except zipfile.BadZipFile:
        return None  # starts like a ZIP but has no readable directory: not a transit ZIP
    except (OSError, ValueError, EOFError) as exc:
        raise _bad(f"the ZIP directory cannot be read ({exc})", source, index) from exc
    entries = [i for i in zf.infolist() if not i.is_dir()]
    if len(entries) != 1:
        return None
    info = entries[0]
    if info.flag_bits & 0x1:
        raise _bad("the ZIP entry is encrypted; send the file unencrypted", source, index)
    if info.compress_type not in _SUPPORTED:
        name = _METHOD_NAMES.get(info.compress_type, f"method {info.compress_type}")
        raise _bad(f"the ZIP entry uses {name} compression; only stored and deflate are accepted", source, index)
    if info.compress_size > archive_size:
        raise _bad(
            f"the ZIP header claims {info.compress_size} compressed bytes in a {archive_size}-byte archive",
            source,
            index,
        )
    try:
        inner = zf.open(info)
    except (zipfile.BadZipFile, NotImplementedError, RuntimeError, OSError, ValueError) as exc:
        raise _bad(f"the ZIP entry cannot be opened ({exc})", source, index) from exc
    raw = BudgetedEntry(inner, compressed=info.compress_size, source=source, index=index, limits=limits)
    return io.BufferedReader(raw, 1 << 20)


__all__ = ["BudgetedEntry", "open_single_entry"]
