"""Hierarchical routing: local inbox, a downstream hub, or upstream; and loop refusal.

The four-level interconnection (commune, district, province, national) is a tree of hubs. A hub
knows the agencies it serves directly (its registered agency systems), learns from the directory
(the axis agency list's ``centerCode``) which interconnection centre serves every other agency,
and knows which centres are reachable through each downstream hub (``[[peers]] serves``). A
recipient is therefore delivered locally, forwarded down, or sent upstream, in that order of
preference. Loops are refused using the trace headers: a package that already passed through this
hub, or that is about to be sent back to the hub it came from, has nowhere legitimate to go.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from gateway.config import HubSettings
from gateway.edxml.directory import Directory
from gateway.errors import RemoteRefusalError
from gateway.ledger import Ledger


@dataclass(frozen=True, slots=True)
class Route:
    """Where a group of recipients goes: ``local`` (a system id), ``peer`` (a hub code) or ``upstream``."""

    kind: str
    destination: str
    recipients: tuple[str, ...]


class LoopError(RemoteRefusalError):
    """The package already passed through this hub, or would go back where it came from."""


class NoRouteError(RemoteRefusalError):
    """No local system, downstream hub or upstream can take this recipient."""


class Router:
    def __init__(self, settings: HubSettings, ledger: Ledger, directory: Directory):
        self.settings = settings
        self.ledger = ledger
        self.directory = directory

    def check_loop(self, trace_organ_ids: Sequence[str | None]) -> None:
        if self.settings.node_id in trace_organ_ids:
            raise LoopError(
                f"loop refused: the trace headers show this package already passed through hub "
                f"{self.settings.node_id}",
                code="508",
            )

    def route(self, recipients: Sequence[str], trace_organ_ids: Sequence[str | None]) -> list[Route]:
        """Group ``recipients`` by destination; raise :class:`NoRouteError` for an unreachable one."""
        groups: dict[tuple[str, str], list[str]] = {}
        came_from_upstream = bool(
            self.settings.upstream
            and self.settings.upstream.code
            and self.settings.upstream.code in trace_organ_ids
        )
        for organ_id in dict.fromkeys(recipients):
            local = self.ledger.local_system_for(organ_id)
            agency = self.directory.resolve(organ_id)
            if local is None and agency is not None:
                # The same body under its other code (QĐ 20 ⇄ QCVN 102) may be the registered one.
                for code in agency.codes:
                    if code != organ_id and local is None:
                        local = self.ledger.local_system_for(code)
            if local is not None:
                key = ("local", local.system_id)
            else:
                center = self.directory.center_of(organ_id)
                peer = self.settings.peer_for_center(center) if center else None
                if peer is not None:
                    if peer.code in trace_organ_ids:
                        raise LoopError(
                            f"loop refused: {organ_id} is served by hub {peer.code}, "
                            "which this package already passed through",
                            code="508",
                        )
                    key = ("peer", peer.code)
                elif self.settings.upstream is not None and not came_from_upstream:
                    key = ("upstream", "upstream")
                else:
                    raise NoRouteError(
                        f"no route to {organ_id}: not served here, by a downstream hub, "
                        "or (for packages that came from upstream) upstream",
                        code="502",
                    )
            groups.setdefault(key, []).append(organ_id)
        return [Route(kind, dest, tuple(ids)) for (kind, dest), ids in groups.items()]


__all__ = ["LoopError", "NoRouteError", "Route", "Router"]
