"""Who a package goes to: the package's own recipients, checked against the ``to`` header.

What the SDK does with ``to`` (``KnobstickServiceImp.sendEdoc``, see docs/hub.md): it is one more
key of the caller's header object, serialised as JSON (``["G22","G12"]``, or ``"G22"`` for a plain
string) and signed like the others. The SDK never reads it and never clears it: the headers live
in the client *instance*, so a ``to`` set for one call is sent again with every later call of
that instance. The SDK's own example sends no ``to``. So ``to`` is a routing hint that may be a
subset of the package's recipients (a hub forwarding a package names the recipients it routes
that way, exactly as lienthong's delivery does), never a way to add recipients, and from an
agency system a stale leftover as often as an intention. Hence:

* a ``to`` naming an OrganId the package does not address (``To``; for a status package
  ``ResponseFor/OrganId``; for a revocation/update/replacement also the recipients the document
  already went to) is refused — that is the stale-header case, and the reason says so;
* a ``to`` that names only some of the package's recipients is honoured, and **from an agency
  system the send is partial**: the answer says which recipients were left out (ErrorDesc of the
  OK answer), the ledger's audit trail records ``submission.partial`` with both lists, and the
  operator view shows it with the document. Sending the same package again without ``to`` (or
  with the others) adds the missing recipients to the same submission.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from gateway.edxml.directory import Directory
from gateway.errors import RecipientError


@dataclass(frozen=True, slots=True)
class Recipients:
    chosen: tuple[str, ...]
    omitted: tuple[str, ...] = ()  # addressed by the package, left out by ``to``

    @property
    def partial(self) -> bool:
        return bool(self.omitted)


def parse_to(header: str | None) -> list[str] | None:
    """The ``to`` header as a list (JSON array, JSON string, or comma list); ``None`` if absent/empty."""
    if header is None or not header.strip():
        return None
    try:
        parsed = json.loads(header)
    except ValueError:
        parsed = [p for p in header.split(",") if p.strip()]
    if isinstance(parsed, str):
        parsed = [parsed]
    if not isinstance(parsed, list) or not all(isinstance(p, str) for p in parsed):
        raise RecipientError("the 'to' header must be a JSON array of OrganIds")
    names = [p.strip() for p in parsed if p.strip()]
    return names or None


def _match(name: str, candidates: Iterable[str], directory: Directory) -> str | None:
    for c in candidates:
        if c == name or directory.same_body(c, name):
            return c
    return None


def resolve(
    package_recipients: Sequence[str],
    header_to: str | None,
    directory: Directory,
    *,
    also_allowed: Sequence[str] = (),
    check: bool = True,
    flag_partial: bool = True,
) -> Recipients:
    """Recipients of one package given its own list and the signed ``to`` header (rules above).

    ``check=False`` accepts any ``to`` (a status package relayed by a hub, whose previous hop
    routed it by the original document's recipients). ``flag_partial=False`` for hubs: a subset
    is their normal routing, not a partial send.
    """
    own = list(dict.fromkeys(package_recipients))
    names = parse_to(header_to)
    if names is None:
        return Recipients(tuple(own))
    allowed = own + [a for a in also_allowed if a not in own]
    if check:
        foreign = [n for n in names if _match(n, allowed, directory) is None]
        if foreign:
            raise RecipientError(
                f"the 'to' header names {', '.join(foreign)}, which the package does not address "
                f"(it addresses {', '.join(allowed) or 'nobody'}); an SDK client instance keeps the 'to' "
                "of an earlier call: leave 'to' out or set it for this package"
            )
    chosen = list(dict.fromkeys(names))
    omitted = [o for o in own if _match(o, chosen, directory) is None] if flag_partial else []
    return Recipients(tuple(chosen), tuple(omitted))


def partial_note(r: Recipients) -> str:
    """The ErrorDesc of an OK answer to a partial send."""
    return (
        f"partial send: only to {', '.join(r.chosen)} as the 'to' header asks; NOT sent to "
        f"{', '.join(r.omitted)}, which the package also addresses (send it again without 'to' to add them)"
    )


__all__ = ["Recipients", "parse_to", "partial_note", "resolve"]
