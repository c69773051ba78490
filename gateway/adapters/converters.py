"""Value converters between legacy strings and edXML model values, both directions.

A mapping field names one converter; each converter turns the legacy text into a model value
(``to_edxml``) and a model value back into legacy text (``to_legacy``).  Converters are built
once when the mapping is compiled, so the per-document work is a dictionary lookup or a
``strptime``.  Failures raise :class:`ConversionError` with what was expected; the mapping
engine adds adapter, document, legacy path and line.
"""

from __future__ import annotations

import base64
import binascii
import re
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any, Protocol

from gateway.edxml.model import Code, Priority, StatusCode, SteeringType
from gateway.errors import ConfigurationError


class ConversionError(ValueError):
    """A legacy value did not have the expected form (message says what was expected)."""


class OrganLookup(Protocol):
    """Finds the QCVN 102 organisation id for a legacy organisation name or code, and back."""

    def lookup(self, legacy: str) -> str | None:
        """The organ id for a legacy name/code, or None when unknown."""
        ...

    def legacy_of(self, organ_id: str) -> str | None:
        """The legacy name/code for an organ id, or None to write the organ id itself."""
        ...


def _fold(text: str) -> str:
    return " ".join(unicodedata.normalize("NFC", text).casefold().split())


class DictOrganLookup:
    """An :class:`OrganLookup` over a plain dict (legacy name/code → organ id).

    Matching ignores case and runs of white space, because legacy systems type agency names by hand.
    """

    def __init__(self, table: Mapping[str, str]):
        self._forward = {_fold(k): v for k, v in table.items()}
        self._reverse: dict[str, str] = {}
        for legacy, organ_id in table.items():
            self._reverse.setdefault(organ_id, legacy)

    def lookup(self, legacy: str) -> str | None:
        return self._forward.get(_fold(legacy))

    def legacy_of(self, organ_id: str) -> str | None:
        return self._reverse.get(organ_id)


class ChainedOrganLookup:
    """Ask several lookups in turn (the adapter's own table first, then the directory)."""

    def __init__(self, *lookups: OrganLookup):
        self._lookups = lookups

    def lookup(self, legacy: str) -> str | None:
        for item in self._lookups:
            found = item.lookup(legacy)
            if found:
                return found
        return None

    def legacy_of(self, organ_id: str) -> str | None:
        for item in self._lookups:
            found = item.legacy_of(organ_id)
            if found:
                return found
        return None


@dataclass
class ConvertContext:
    """Per-document state a converter may need: lookups, side files, MIME parts, hooks."""

    organs: OrganLookup
    base_dir: Path | None = None  # folder of the legacy file (file references are relative to it)
    parts: Mapping[str, bytes] = field(default_factory=dict)  # MIME parts by Content-ID
    out_files: dict[str, bytes] = field(default_factory=dict)  # files to write beside the output
    out_parts: dict[str, bytes] = field(default_factory=dict)  # MIME parts for the output
    item_index: int = 0  # position inside a repeated group (attachment number ...)
    item: Mapping[str, Any] = field(default_factory=dict)  # model values of the current group item
    # What a converter tolerated (a date in an alternative format ...): the extractor turns each
    # note into a warning with the field's legacy path and line, so a lenient read is never silent.
    notes: list[str] = field(default_factory=list)
    located_notes: list[Any] = field(default_factory=list)  # the same notes with path and line (FieldProblem)


class Converter(Protocol):
    """Two functions: legacy text → model value, and model value → legacy text."""

    def to_edxml(self, text: str, ctx: ConvertContext) -> Any: ...

    def to_legacy(self, value: Any, ctx: ConvertContext) -> str | None: ...


# --- patterns --------------------------------------------------------------------------------

_JAVA_TOKENS = (("yyyy", "%Y"), ("MM", "%m"), ("dd", "%d"), ("HH", "%H"), ("mm", "%M"), ("ss", "%S"))


def java_pattern_to_strftime(pattern: str) -> str:
    """Translate the ``dd/MM/yyyy HH:mm:ss`` style legacy specs use into strftime codes."""
    if "%" in pattern:
        return pattern
    out = pattern
    for java, py in _JAVA_TOKENS:
        out = out.replace(java, py)
    if re.search(
        r"[A-Za-z]",
        out.replace("%Y", "")
        .replace("%m", "")
        .replace("%d", "")
        .replace("%H", "")
        .replace("%M", "")
        .replace("%S", "")
        .replace("T", ""),
    ):
        raise ConfigurationError(f"unsupported date pattern {pattern!r}; use yyyy MM dd HH mm ss")
    return out


@dataclass(frozen=True)
class TextConverter:
    """Plain text, white space trimmed, NFC (TCVN 6909:2001)."""

    def to_edxml(self, text: str, ctx: ConvertContext) -> Any:
        value = text.strip()
        return unicodedata.normalize("NFC", value) if not value.isascii() else value

    def to_legacy(self, value: Any, ctx: ConvertContext) -> str | None:
        return None if value is None else str(value)


_TOKEN_RE = {"yyyy": r"(?P<Y>\d{4})", "MM": r"(?P<m>\d{1,2})", "dd": r"(?P<d>\d{1,2})",
             "HH": r"(?P<H>\d{1,2})", "mm": r"(?P<M>\d{2})", "ss": r"(?P<S>\d{2})"}  # fmt: skip


def _pattern_regex(pattern: str) -> re.Pattern[str]:
    """A strict regex for a ``dd/MM/yyyy HH:mm:ss`` style pattern (faster than strptime)."""
    out, i = "", 0
    while i < len(pattern):
        for token, rx in _TOKEN_RE.items():
            if pattern.startswith(token, i):
                out += rx
                i += len(token)
                break
        else:
            out += re.escape(pattern[i])
            i += 1
    return re.compile(out)


class _TimeDropped(ValueError):
    """A date-time read into a date field: the caller keeps the day and notes the lost time."""

    def __init__(self, day: date, hms: tuple[int, int, int]):
        super().__init__("time dropped")
        self.day, self.hms = day, hms


class _TimeAssumed(ValueError):
    """A date read into a date-time field: midnight is used and noted."""

    def __init__(self, moment: datetime):
        super().__init__("time assumed")
        self.moment = moment


@dataclass(frozen=True)
class DateConverter:
    """Dates and date-times in a legacy pattern (``dd/MM/yyyy``, ``yyyy-MM-ddTHH:mm:ss`` ...).

    ``alternatives`` are further patterns real senders use for the same field: a value in one of
    them is read, and a note names the pattern it matched (a lenient read is reported, not silent).
    The reverse direction always writes ``pattern``.
    """

    pattern: str
    with_time: bool = False
    alternatives: tuple[str, ...] = ()
    _regexes: tuple[tuple[str, re.Pattern[str]], ...] = field(init=False, repr=False, compare=False)
    _format: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_format", java_pattern_to_strftime(self.pattern))
        patterns = (self.pattern, *self.alternatives)
        object.__setattr__(self, "_regexes", tuple((p, _pattern_regex(p)) for p in patterns))

    def to_edxml(self, text: str, ctx: ConvertContext) -> Any:
        raw = text.strip()
        for pattern, regex in self._regexes:
            m = regex.fullmatch(raw)
            if m is None:
                continue
            try:
                value = self._value(m.groupdict())
            except _TimeDropped as dropped:
                value = dropped.day
                h, mi, sec = dropped.hms
                lost = f"{h:02d}:{mi:02d}:{sec:02d}"
                ctx.notes.append(f"time {lost} of {raw!r} dropped: the edXML field holds a date only")
            except _TimeAssumed as assumed:
                value = assumed.moment
                ctx.notes.append(f"{raw!r} has no time of day: 00:00:00 assumed for a date-time field")
            except ValueError:
                break  # the shape matched but the date does not exist (31/02/2024)
            if pattern != self.pattern:
                ctx.notes.append(f"{raw!r} read in the alternative format {pattern} (expected {self.pattern})")
            return value
        kind = "date-time" if self.with_time else "date"
        shapes = " or ".join((self.pattern, *self.alternatives))
        raise ConversionError(f"expected a {kind} like {shapes}, got {raw!r}")

    def _value(self, g: dict[str, str | None]) -> date | datetime:
        day = date(int(g["Y"] or 0), int(g["m"] or 0), int(g["d"] or 0))
        hms = (int(g.get("H") or 0), int(g.get("M") or 0), int(g.get("S") or 0))
        if self.with_time:
            if g.get("H") is None:
                raise _TimeAssumed(datetime(day.year, day.month, day.day))
            return datetime(day.year, day.month, day.day, *hms)
        if any(hms):
            raise _TimeDropped(day, hms)
        return day

    def to_legacy(self, value: Any, ctx: ConvertContext) -> str | None:
        if value is None:
            return None
        if not isinstance(value, (date, datetime)):
            raise ConversionError(f"expected a date, got {value!r}")
        return value.strftime(self._format)


@dataclass(frozen=True)
class IntConverter:
    def to_edxml(self, text: str, ctx: ConvertContext) -> Any:
        try:
            return int(text.strip())
        except ValueError:
            raise ConversionError(f"expected a whole number, got {text.strip()!r}") from None

    def to_legacy(self, value: Any, ctx: ConvertContext) -> str | None:
        return None if value is None else str(int(value))


@dataclass(frozen=True)
class BoolConverter:
    def to_edxml(self, text: str, ctx: ConvertContext) -> Any:
        lowered = text.strip().lower()
        if lowered in ("true", "1", "yes", "co", "có"):
            return True
        if lowered in ("false", "0", "no", "khong", "không"):
            return False
        raise ConversionError(f"expected true/false, got {text.strip()!r}")

    def to_legacy(self, value: Any, ctx: ConvertContext) -> str | None:
        return None if value is None else ("true" if value else "false")


@dataclass(frozen=True)
class CodeConverter:
    """Join/split: "123/QĐ-UBND" ⇄ Code(number="123", notation="QĐ-UBND")."""

    def to_edxml(self, text: str, ctx: ConvertContext) -> Any:
        code = Code.parse(unicodedata.normalize("NFC", text))
        if not code.number or not code.notation:
            raise ConversionError(f"expected a number and notation like 123/QĐ-UBND, got {text.strip()!r}")
        return code

    def to_legacy(self, value: Any, ctx: ConvertContext) -> str | None:
        return None if value is None else str(value)


@dataclass(frozen=True)
class TableConverter:
    """A code table (legacy word or code → model value), inverted for the reverse direction."""

    name: str
    table: Mapping[str, Any]
    coerce: Callable[[Any], Any]

    def __post_init__(self) -> None:
        folded = {_fold(str(k)): v for k, v in self.table.items()}
        inverse: dict[Any, str] = {}
        for key, value in self.table.items():
            inverse.setdefault(self._norm(self.coerce(value)), str(key))
        object.__setattr__(self, "_folded", folded)
        object.__setattr__(self, "_inverse", inverse)

    @staticmethod
    def _norm(value: Any) -> Any:
        return int(value) if isinstance(value, int) else value

    def to_edxml(self, text: str, ctx: ConvertContext) -> Any:
        folded: dict[str, Any] = self._folded  # type: ignore[attr-defined]
        key = _fold(text)
        if key not in folded:
            known = ", ".join(sorted(str(k) for k in self.table))
            raise ConversionError(f"expected one of the values of table {self.name} ({known}), got {text.strip()!r}")
        return self.coerce(folded[key])

    def to_legacy(self, value: Any, ctx: ConvertContext) -> str | None:
        if value is None:
            return None
        inverse: dict[Any, str] = self._inverse  # type: ignore[attr-defined]
        found = inverse.get(self._norm(value))
        if found is None:
            raise ConversionError(f"value {value!r} has no entry in table {self.name}")
        return found


@dataclass(frozen=True)
class OrganConverter:
    """Legacy agency name or code → QCVN 102 organ id through the :class:`OrganLookup`."""

    def to_edxml(self, text: str, ctx: ConvertContext) -> Any:
        found = ctx.organs.lookup(text)
        if found is None:
            raise ConversionError(f"expected a known organisation name or code, got {text.strip()!r}")
        return found

    def to_legacy(self, value: Any, ctx: ConvertContext) -> str | None:
        if value is None:
            return None
        return ctx.organs.legacy_of(str(value)) or str(value)


@dataclass(frozen=True)
class Base64Converter:
    """Attachment bytes carried inline as base64 text."""

    def to_edxml(self, text: str, ctx: ConvertContext) -> Any:
        try:  # single-line base64 (the common case) needs no white-space removal
            return binascii.a2b_base64(text, strict_mode=True)
        except (binascii.Error, ValueError):
            pass
        try:
            return base64.b64decode("".join(text.split()), validate=True)
        except (binascii.Error, ValueError):
            raise ConversionError("expected base64 file content") from None

    def to_legacy(self, value: Any, ctx: ConvertContext) -> str | None:
        return None if value is None else base64.b64encode(bytes(value)).decode("ascii")


@dataclass(frozen=True)
class FileRefConverter:
    """Attachment bytes stored in a file beside the legacy XML, referenced by relative path."""

    folder: str = ""  # sub-folder used for outgoing files

    def to_edxml(self, text: str, ctx: ConvertContext) -> Any:
        if ctx.base_dir is None:
            raise ConversionError(f"file reference {text.strip()!r} needs the folder of the input file")
        rel = text.strip().replace("\\", "/")
        base = ctx.base_dir.resolve()
        target = (base / rel).resolve()
        if rel.startswith("/") or not target.is_relative_to(base):
            raise ConversionError(f"expected a relative path inside the export folder, got {rel!r}")
        try:
            return target.read_bytes()
        except OSError as exc:
            raise ConversionError(f"referenced file {rel!r} cannot be read ({exc.strerror})") from None

    def to_legacy(self, value: Any, ctx: ConvertContext) -> str | None:
        if value is None:
            return None
        name = str(ctx.item.get("name") or f"file{len(ctx.out_files) + 1}.bin")
        rel = re.sub(r"[\\/:*?\"<>|\x00-\x1f]", "_", name).lstrip(".") or "file.bin"
        if rel in ctx.out_files:
            rel = f"{len(ctx.out_files) + 1}_{rel}"
        rel = f"{self.folder.rstrip('/')}/{rel}" if self.folder else rel
        ctx.out_files[rel] = bytes(value)
        return rel


@dataclass(frozen=True)
class CidConverter:
    """Attachment bytes carried as a MIME part referenced by ``cid:<id>`` (edXML 2011)."""

    def to_edxml(self, text: str, ctx: ConvertContext) -> Any:
        cid = text.strip()
        key = cid[4:] if cid.lower().startswith("cid:") else cid
        key = key.strip("<>")
        if key not in ctx.parts:
            raise ConversionError(f"expected a MIME part with Content-ID <{key}>, none found")
        return ctx.parts[key]

    def to_legacy(self, value: Any, ctx: ConvertContext) -> str | None:
        if value is None:
            return None
        given = str(ctx.item.get("content_id") or "").removeprefix("cid:").strip("<>")
        key = given or f"part{len(ctx.out_parts) + 1}@lienthong"
        ctx.out_parts[key] = bytes(value)
        return f"cid:{key}"


def coerce_for(kind: str) -> Callable[[Any], Any]:
    """How to turn a table value (from TOML) into the model type of a target."""
    if kind == "priority":
        return lambda v: Priority(int(v))
    if kind == "steering":
        return lambda v: SteeringType(int(v))
    if kind == "status_code":
        return lambda v: StatusCode.from_wire(str(v))
    if kind in ("int", "business"):
        return int
    if kind == "bool":
        return bool
    return lambda v: unicodedata.normalize("NFC", str(v))


__all__ = [
    "Base64Converter",
    "BoolConverter",
    "ChainedOrganLookup",
    "CidConverter",
    "CodeConverter",
    "ConversionError",
    "ConvertContext",
    "Converter",
    "DateConverter",
    "DictOrganLookup",
    "FileRefConverter",
    "IntConverter",
    "OrganConverter",
    "OrganLookup",
    "TableConverter",
    "TextConverter",
    "coerce_for",
    "java_pattern_to_strftime",
]
