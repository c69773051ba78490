"""Safe, unique file names for attachments written to disk (``lienthong extract``, deliveries).

An ``AttachmentName`` is sender-controlled text. Before it becomes a file name it loses any
folder part, control characters (newlines included) become ``_``, Windows-reserved device names
(``CON``, ``NUL``, ``COM1`` …) get a ``_`` prefix, trailing dots and spaces go, and a name longer
than the file system allows is shortened keeping its extension. Two attachments that end up
with the same name (case-insensitively, so the result also holds on Windows and macOS) are told
apart deterministically: ``name.pdf``, ``name (2).pdf``, ``name (3).pdf`` … in document order.
Every change is reported, so nothing is skipped or overwritten silently.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

MAX_NAME_BYTES = 240
"""UTF-8 bytes per name: under the usual 255-byte limit, with room for a `` (NN)`` suffix."""

_RESERVED = {"CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(10)), *(f"LPT{i}" for i in range(10))}
_FORBIDDEN = re.compile(r'[\x00-\x1f\x7f-\x9f<>:"|?*]')
_MAX_EXT = 16


@dataclass(frozen=True, slots=True)
class SafeName:
    """The name to write, the name as sent, and why it changed (empty when it did not)."""

    name: str
    original: str
    changes: tuple[str, ...] = ()


def _shorten(name: str, budget: int) -> str:
    if len(name.encode("utf-8")) <= budget:
        return name
    stem, dot, ext = name.rpartition(".")
    if not dot or not stem or len(ext) > _MAX_EXT:
        stem, ext = name, ""
    suffix = f".{ext}" if ext else ""
    room = budget - len(suffix.encode("utf-8"))
    cut = stem.encode("utf-8")[:room].decode("utf-8", errors="ignore")
    return cut.rstrip(" .") + suffix


def clean_name(name: str, index: int) -> SafeName:
    """One name made safe (not yet unique); ``index`` (0-based) names an empty one."""
    changes: list[str] = []
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    if base != name:
        changes.append("folder part removed")
    cleaned = _FORBIDDEN.sub("_", unicodedata.normalize("NFC", base))
    if cleaned != unicodedata.normalize("NFC", base):
        changes.append("control or reserved characters replaced by _")
    stripped = cleaned.strip().rstrip(". ")
    if stripped != cleaned and stripped:
        changes.append("leading/trailing spaces or dots removed")
    cleaned = stripped
    if cleaned in ("", ".", ".."):
        cleaned = f"attachment-{index + 1}"
        changes.append("empty name replaced")
    if cleaned.split(".", 1)[0].upper() in _RESERVED:
        cleaned = "_" + cleaned
        changes.append("reserved device name prefixed with _")
    short = _shorten(cleaned, MAX_NAME_BYTES)
    if short != cleaned:
        changes.append(f"shortened from {len(cleaned.encode('utf-8'))} bytes")
    return SafeName(short, name, tuple(changes))


def unique_names(names: list[str], taken: set[str] | None = None) -> list[SafeName]:
    """Safe names for ``names`` in order, each distinct (case-insensitively) from the ones before
    and from ``taken`` (lower-cased names already used)."""
    used = set(taken or ())
    out: list[SafeName] = []
    for i, raw in enumerate(names):
        safe = clean_name(raw, i)
        candidate = safe.name
        n = 1
        while candidate.lower() in used:
            n += 1
            stem, dot, ext = safe.name.rpartition(".")
            if not dot or not stem or len(ext) > _MAX_EXT:
                stem, ext = safe.name, ""
            suffix = f" ({n})" + (f".{ext}" if ext else "")
            candidate = _shorten(stem, MAX_NAME_BYTES - len(suffix.encode("utf-8"))) + suffix
        if candidate != safe.name:
            safe = SafeName(candidate, raw, (*safe.changes, f"renamed: another attachment is named {safe.name!r}"))
        used.add(candidate.lower())
        out.append(safe)
    return out


__all__ = ["MAX_NAME_BYTES", "SafeName", "clean_name", "unique_names"]
