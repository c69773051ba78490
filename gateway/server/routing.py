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

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gateway.config import HubSettings
from gateway.errors import ConfigurationError, RemoteRefusalError
from gateway.ledger import Ledger


@dataclass(frozen=True, slots=True)
class Agency:
    """One entry of the agency directory (getAgenciesList / getSynchronizeUnit fields)."""

    code: str
    name: str = ""
    pid: str = ""
    center_code: str = ""
    old_code: str = ""
    mail: str = ""

    def as_axis(self, index: int) -> dict[str, Any]:
        return {
            "id": index,
            "pid": self.pid,
            "code": self.code,
            "name": self.name,
            "mail": self.mail,
            "oldCode": self.old_code,
            "code102": self.old_code or self.code,
            "centerCode": self.center_code,
        }


class AgencyDirectory:
    """Agencies by code (old QCVN 102 codes resolve to the same entry)."""

    def __init__(self, agencies: Iterable[Agency] = ()):
        self._by_code: dict[str, Agency] = {}
        for agency in agencies:
            self._by_code[agency.code] = agency
            if agency.old_code:
                self._by_code.setdefault(agency.old_code, agency)

    @classmethod
    def from_records(cls, records: Iterable[dict[str, Any]]) -> AgencyDirectory:
        out = []
        for i, rec in enumerate(records):
            if not isinstance(rec, dict) or not rec.get("code"):
                raise ConfigurationError(f"directory record #{i + 1} has no 'code'")
            out.append(
                Agency(
                    code=str(rec["code"]),
                    name=str(rec.get("name") or ""),
                    pid=str(rec.get("pid") or ""),
                    center_code=str(rec.get("centerCode") or ""),
                    old_code=str(rec.get("oldCode") or rec.get("code102") or ""),
                    mail=str(rec.get("mail") or ""),
                )
            )
        return cls(out)

    @classmethod
    def load(cls, path: Path | None) -> AgencyDirectory:
        if path is None:
            return cls()
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ConfigurationError(f"cannot read the agency directory {path}: {exc}") from exc
        records = data.get("data", data) if isinstance(data, dict) else data
        if not isinstance(records, list):
            raise ConfigurationError(f"{path}: expected a JSON list of agencies (or {{'data': [...]}})")
        return cls.from_records(records)

    def get(self, code: str) -> Agency | None:
        return self._by_code.get(code)

    def __iter__(self) -> Any:
        seen: set[str] = set()
        for agency in self._by_code.values():
            if agency.code not in seen:
                seen.add(agency.code)
                yield agency


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
    def __init__(self, settings: HubSettings, ledger: Ledger, directory: AgencyDirectory):
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
            agency = self.directory.get(organ_id)
            if local is None and agency is not None and agency.code != organ_id:
                local = self.ledger.local_system_for(agency.code)
            if local is not None:
                key = ("local", local.system_id)
            else:
                peer = (
                    self.settings.peer_for_center(agency.center_code)
                    if agency and agency.center_code
                    else None
                )
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


__all__ = ["Agency", "AgencyDirectory", "LoopError", "NoRouteError", "Route", "Router"]
