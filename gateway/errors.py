"""The one exception tree of the gateway.

Every error the gateway raises is a :class:`GatewayError`. Foreign exceptions (lxml, xmlschema,
zeep, httpx, pyhanko, SQLAlchemy) are translated into this tree at one boundary each, with
``raise Mapped(...) from exc``, so callers never need to know which library failed::

    GatewayError                      retryable? (default False)
    ├── ConfigurationError            bad settings, manifests, profiles
    ├── XmlError                      any XML input problem (has a Location)
    │   ├── XmlSecurityError          DTD, entities, XInclude: refused on principle
    │   ├── XmlLimitError             size, depth or text length over a configured limit
    │   │   └── InputLimitError       a named budget of gateway.limits.InputLimits (limit, value)
    │   └── XmlSyntaxError            not well-formed, truncated, not XML at all
    ├── SchemaValidationError         valid XML that breaks the schema (list of issues)
    │   ├── EdxmlFormatError          structurally not an edXML package (wrong ns, root...)
    │   └── AttachmentFormatError     damaged, encrypted or unsupported attachment ZIP
    ├── MappingError                  adapter could not translate a field
    ├── TransportError                talking to another system failed
    │   ├── TransportTimeoutError     retryable
    │   ├── UpstreamUnavailableError  5xx, connection dropped: retryable
    │   └── RemoteRefusalError        4xx, SOAP fault, axis "FAIL": not retryable
    ├── SigningError                  could not produce a signature
    │   └── SignerUnavailableError    token/HSM/TSA unreachable: retryable
    ├── AuthorizationError            bad HMAC, unknown system, wrong OrganId
    ├── LedgerError                   ledger storage problems
    │   ├── IllegalTransitionError    state machine refused a transition
    │   ├── ConflictError             same DocumentId, different payload
    │   └── NotFoundError             no such message / blob
    └── BlobStoreError                content-addressed store problems

Verifiers never raise on a bad signature: they return a report.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Location:
    """Where in an input a problem sits: file, line/column, and an XPath-like path."""

    source: str | None = None
    line: int | None = None
    column: int | None = None
    path: str | None = None

    def __str__(self) -> str:
        parts: list[str] = []
        if self.source:
            parts.append(self.source)
        if self.line is not None:
            parts.append(f"line {self.line}" + (f", column {self.column}" if self.column else ""))
        if self.path:
            parts.append(f"at {self.path}")
        return ", ".join(parts)


class GatewayError(Exception):
    """Root of every error the gateway raises.

    ``retryable`` tells orchestration (Airflow retries, the delivery loop) whether trying the
    same operation again later may succeed.
    """

    retryable: bool = False

    def __init__(self, message: str, *, location: Location | None = None, retryable: bool | None = None):
        self.message = message
        self.location = location
        if retryable is not None:
            self.retryable = retryable
        super().__init__(self.__str__())

    def __str__(self) -> str:
        if self.location is not None and str(self.location):
            return f"{self.location}: {self.message}"
        return self.message


class ConfigurationError(GatewayError):
    """Settings, adapter manifests or signing profiles are wrong; a human must fix them."""


class XmlError(GatewayError):
    """An XML input could not be accepted."""


class XmlSecurityError(XmlError):
    """The input uses an XML feature the gateway refuses on principle (DTD, entity, XInclude)."""


class XmlLimitError(XmlError):
    """The input exceeds a configured size, depth or text-length limit."""


class XmlSyntaxError(XmlError):
    """The input is not well-formed XML (or not XML at all, or truncated)."""


@dataclass(frozen=True, slots=True)
class ValidationIssue:
    """One schema or model violation, with enough context to find it in the file."""

    message: str
    path: str | None = None
    line: int | None = None

    def __str__(self) -> str:
        where = ", ".join(p for p in (f"line {self.line}" if self.line else "", self.path or "") if p)
        return f"{where}: {self.message}" if where else self.message


class SchemaValidationError(GatewayError):
    """Well-formed XML that breaks its schema; carries every issue found, not just the first."""

    def __init__(
        self,
        message: str,
        issues: Sequence[ValidationIssue] = (),
        *,
        location: Location | None = None,
    ):
        self.issues: tuple[ValidationIssue, ...] = tuple(issues)
        super().__init__(message, location=location)

    def __str__(self) -> str:
        head = super().__str__()
        if not self.issues:
            return head
        shown = "; ".join(str(i) for i in self.issues[:5])
        more = f" (+{len(self.issues) - 5} more)" if len(self.issues) > 5 else ""
        return f"{head}: {shown}{more}"


class EdxmlFormatError(SchemaValidationError):
    """The document is not an edXML package at all (wrong namespace, root, missing envelope)."""


@dataclass(frozen=True, slots=True)
class MappingContext:
    """Which adapter, which document of the batch and which legacy path a mapping error concerns."""

    adapter: str | None = None
    document: str | int | None = None
    legacy_path: str | None = None
    field: str | None = None


class MappingError(GatewayError):
    """An adapter could not translate a field between legacy XML and edXML."""

    def __init__(
        self,
        message: str,
        *,
        context: MappingContext | None = None,
        location: Location | None = None,
    ):
        self.context = context or MappingContext()
        super().__init__(message, location=location)

    def __str__(self) -> str:
        c = self.context
        bits = [
            f"adapter {c.adapter}" if c.adapter else "",
            f"document {c.document}" if c.document is not None else "",
            f"legacy path {c.legacy_path}" if c.legacy_path else "",
            f"field {c.field}" if c.field else "",
        ]
        prefix = ", ".join(b for b in bits if b)
        base = super().__str__()
        return f"[{prefix}] {base}" if prefix else base


class TransportError(GatewayError):
    """Talking to another system failed."""


class TransportTimeoutError(TransportError):
    """The other side did not answer in time; the same request may be tried again."""

    retryable = True


class UpstreamUnavailableError(TransportError):
    """5xx, refused or dropped connection; the same request may be tried again."""

    retryable = True


class RemoteRefusalError(TransportError):
    """The other side understood the request and refused it (4xx, SOAP fault, axis FAIL)."""

    def __init__(self, message: str, *, code: str | None = None, location: Location | None = None):
        self.code = code
        super().__init__(message, location=location)


class SigningError(GatewayError):
    """A signature could not be produced."""


class SignerUnavailableError(SigningError):
    """The key source (token, HSM) or the timestamp authority is unreachable for now."""

    retryable = True


class AuthorizationError(GatewayError):
    """The caller is not who it claims to be, or may not do what it asks."""


class LedgerError(GatewayError):
    """The ledger could not record or find something."""


class IllegalTransitionError(LedgerError):
    """The message state machine refused a transition."""


class ConflictError(LedgerError):
    """The same DocumentId and sender arrived again with a different payload."""


class NotFoundError(LedgerError):
    """No such message, blob or record."""


class BlobStoreError(GatewayError):
    """The content-addressed blob store failed to store or read a blob."""


class InputLimitError(XmlLimitError):
    """An input breaks one of the documented budgets of :class:`gateway.limits.InputLimits`.

    ``limit`` is the setting's name (``max_elements``, ``max_inflated_bytes`` …), ``value`` what
    the input has (or at least has: counting stops at the first breach) and ``maximum`` the
    configured ceiling. Never retryable: the same input breaks the same limit again.
    """

    def __init__(
        self,
        what: str,
        *,
        limit: str,
        value: float,
        maximum: float,
        location: Location | None = None,
    ):
        self.limit = limit
        self.value = value
        self.maximum = maximum
        super().__init__(f"{what} is {_num(value)}, over the limit of {_num(maximum)} ({limit})", location=location)


def _num(value: float) -> str:
    return f"{value:,}" if isinstance(value, int) else f"{value:,.1f}"


class AttachmentFormatError(SchemaValidationError):
    """An attachment's container cannot be read: a damaged, encrypted or unsupported ZIP."""
class FieldTooLongError(SchemaValidationError):
    """A package field is longer than the ledger column that stores it (refused alone, 422).

    ``field`` is the package's name for it (``DocumentId``, ``Code``, ``From/OrganId`` ...),
    ``limit`` the column length from the ledger models, ``length`` the value's length.
    """

    def __init__(self, field: str, length: int, limit: int):
        self.field, self.length, self.limit = field, length, limit
        super().__init__(f"{field} is {length} characters long; the limit is {limit}")


class DiskFullError(BlobStoreError):
    """The data directory's filesystem is (nearly) full: new work is refused until space is freed.

    Retryable (answered 503): the package is fine, the hub cannot store it now. The message never
    carries a filesystem path.
    """

    retryable = True


class RequestBudgetError(GatewayError):
    """A request's document took more CPU time than its budget (``request_cpu_seconds``): refused."""


class SandboxError(GatewayError):
    """Work run in a sandbox process failed there (the worker's error type and message, no traceback)."""


__all__ = [
    "AttachmentFormatError",
    "AuthorizationError",
    "BlobStoreError",
    "ConfigurationError",
    "ConflictError",
    "DiskFullError",
    "EdxmlFormatError",
    "FieldTooLongError",
    "GatewayError",
    "IllegalTransitionError",
    "InputLimitError",
    "LedgerError",
    "Location",
    "MappingContext",
    "MappingError",
    "NotFoundError",
    "RemoteRefusalError",
    "RequestBudgetError",
    "SandboxError",
    "SchemaValidationError",
    "SignerUnavailableError",
    "SigningError",
    "TransportError",
    "TransportTimeoutError",
    "UpstreamUnavailableError",
    "ValidationIssue",
    "XmlError",
    "XmlLimitError",
    "XmlSecurityError",
    "XmlSyntaxError",
]


class RequestRefusedError(AuthorizationError):
    """A correctly signed request the hub still refuses: its signature does not bind this operation,
    its timestamp is outside the system's policy, or it replays a request seen on another operation.

    ``reason`` is a short label for logs and ``/metrics`` (``unbound``, ``timestamp_old`` …).
    """

    def __init__(self, message: str, *, reason: str, http_status: int = 401):
        self.reason = reason
        self.http_status = http_status
        super().__init__(message)


class RecipientError(SchemaValidationError):
    """The ``to`` header names a recipient the package does not address."""


__all__ += ["RecipientError", "RequestRefusedError"]
