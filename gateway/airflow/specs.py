"""Which exchange DAGs exist: one per adapter, connection and flow, from the manifests and a small config.

Plain data, no Airflow import, so the CLI and tests can list the DAGs a config yields. Every
adapter found by :func:`gateway.adapters.discovery.discover` gets DAGs for the flows its
directions allow (``to_edxml`` → outbound; ``to_legacy`` → inbound and statuses) and its
transport can pull (``soap`` with ``pull``, or ``filedrop``). The config file
(``$LIENTHONG_EXCHANGES``, default ``dags/exchanges.toml``) names, per adapter, one or more
connections::

    [defaults]
    schedule = "*/5 * * * *"          # cron, Asia/Ho_Chi_Minh; "" = only asset events and manual runs
    hub_conn_id = "lienthong_hub"

    [[exchange]]
    adapter = "qlvb_soap"
    name = ""                          # "" for the first connection; else a suffix of the DAG ids
    agency = "000.00.00.H41"           # the agency this connection serves (documentation, tags)
    legacy_conn_id = "lienthong_legacy"
    hub_conn_id = "lienthong_hub"
    signing_profile = "ubnd-thu-nghiem"
    schedule = "*/5 * * * *"
    flows = ["outbound", "inbound", "statuses"]
    inbox_root = "/srv/drop/flat"      # file-drop adapters only: watch <root>/inbox (asset watcher)
    watch_seconds = 2.0                # how often the triggerer lists it

An adapter without an ``[[exchange]]`` entry still gets its DAGs with the defaults and the
connection id ``lienthong_legacy_<adapter>``. DAG ids name flow, adapter and connection:
``lienthong_outbound_qlvb_soap``, ``lienthong_inbound_flat_xml_export_vpcp``.

Each DAG is also scheduled on an Asset, so a pushed or dropped batch triggers it at once
(``POST /api/v2/assets/events`` or an asset watcher): outbound DAGs on
``lienthong://legacy/<adapter>/<name>``, inbound and statuses DAGs on ``lienthong://hub/<hub conn id>``.
A file-drop outbound DAG with ``inbox_root`` also gets an ``AssetWatcher`` on that Asset
(:class:`gateway.airflow.triggers.InboxTrigger`), so a complete file in the inbox starts it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gateway.errors import ConfigurationError
from gateway.files import read_toml

DEFAULT_CONFIG = Path(__file__).resolve().parents[2] / "dags" / "exchanges.toml"
DEFAULT_SCHEDULE = "*/5 * * * *"
FLOW_NAMES = ("outbound", "inbound", "statuses")
SETTING_KEYS = ("work_dir", "signing_profile", "signing_profiles", "placeholder", "chunk_size", "max_documents",
                "reject_invalid_signatures", "organ_ids", "max_failed_documents", "lease_database_url",
                "lease_minutes", "send_concurrency")
_NAME = re.compile(r"^[a-z0-9_]*$")


@dataclass(frozen=True)
class DagSpec:
    """One generated DAG: what the factory wires and what every task gets as ``spec``."""

    dag_id: str
    flow: str
    adapter: str
    name: str
    transport: str
    agency: str
    hub_conn_id: str
    legacy_conn_id: str
    schedule: str
    asset_uri: str
    settings: Mapping[str, Any] = field(default_factory=dict)
    watch_root: str = ""
    watch_pattern: str = "*.xml"
    watch_seconds: float = 2.0

    def task_spec(self) -> dict[str, Any]:
        """What the tasks receive (plain JSON: it is stored in the serialized DAG)."""
        return {"dag_id": self.dag_id, "flow": self.flow, "hub_conn_id": self.hub_conn_id,
                "legacy_conn_id": self.legacy_conn_id,
                "settings": {"adapter": self.adapter, **dict(self.settings)}}


def _flows_for(directions: frozenset[str], transport: str, settings: Mapping[str, Any]) -> list[str]:
    pulls = transport == "filedrop" or (transport == "soap" and bool(settings.get("pull", True)))
    if not pulls:
        return []
    out = ["outbound"] if "to_edxml" in directions else []
    return out + (["inbound", "statuses"] if "to_legacy" in directions else [])


def load_config(path: Path | None = None) -> dict[str, Any]:
    path = path or Path(os.environ.get("LIENTHONG_EXCHANGES", str(DEFAULT_CONFIG)))
    return read_toml(path, "exchange DAG config") if path.exists() else {}


def dag_specs(config: Mapping[str, Any] | None = None, adapter_dirs: Sequence[Path] | None = None) -> list[DagSpec]:
    """Every exchange DAG the adapters and the config call for (sorted by DAG id)."""
    from gateway.adapters.discovery import discover

    config = load_config() if config is None else config
    defaults = dict(config.get("defaults", {}))
    entries = list(config.get("exchange", []))
    found = {f.code: f.manifest for f in discover(adapter_dirs) if f.manifest is not None and f.problem is None}
    for entry in entries:
        if entry.get("adapter") not in found:
            raise ConfigurationError(f"exchange DAG config: unknown adapter {entry.get('adapter')!r}; "
                                     f"found {', '.join(sorted(found)) or 'none'}")
    specs: list[DagSpec] = []
    for code, manifest in sorted(found.items()):
        mine = [e for e in entries if e["adapter"] == code] or [{"adapter": code}]
        for entry in mine:
            merged = {**defaults, **entry}
            name = str(entry.get("name", ""))
            if not _NAME.match(name):
                raise ConfigurationError(f"exchange {code}: name {name!r} must be lower-case letters, digits, _")
            legacy = str(merged.get("legacy_conn_id") or f"lienthong_legacy_{code}")
            hub = str(merged.get("hub_conn_id") or "lienthong_hub")
            possible = _flows_for(manifest.directions, manifest.transport.kind, manifest.transport.settings)
            wanted = list(merged.get("flows", possible))
            unknown = set(wanted) - set(FLOW_NAMES)
            if unknown:
                raise ConfigurationError(f"exchange {code}: unknown flows {sorted(unknown)}")
            settings = {k: merged[k] for k in SETTING_KEYS if k in merged}
            suffix = f"_{name}" if name else ""
            for flow in (f for f in FLOW_NAMES if f in wanted and f in possible):
                asset = (f"lienthong://legacy/{code}/{name or 'default'}" if flow == "outbound"
                         else f"lienthong://hub/{hub}")
                watched = flow == "outbound" and manifest.transport.kind == "filedrop"
                specs.append(DagSpec(
                    dag_id=f"lienthong_{flow}_{code}{suffix}", flow=flow, adapter=code, name=name,
                    transport=manifest.transport.kind, agency=str(merged.get("agency", "")),
                    hub_conn_id=hub, legacy_conn_id=legacy,
                    schedule=str(merged.get("schedule", DEFAULT_SCHEDULE)), asset_uri=asset, settings=settings,
                    watch_root=str(merged.get("inbox_root", "")) if watched else "",
                    watch_pattern=str(manifest.transport.settings.get("pattern", "*.xml")),
                    watch_seconds=float(merged.get("watch_seconds", 2.0))))
    ids = [s.dag_id for s in specs]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise ConfigurationError(f"exchange DAG config: two connections make the same DAG ids {duplicates}; "
                                 "give them different names")
    return sorted(specs, key=lambda s: s.dag_id)


__all__ = ["DEFAULT_CONFIG", "FLOW_NAMES", "DagSpec", "dag_specs", "load_config"]
