"""Directory stages: fetch the hub's agency lists, then publish the directory file atomically.

``fetch_lists`` stores the raw answers of getAgenciesList and getSynchronizeUnit under
``<work>/directory/``; ``publish`` merges them with :class:`gateway.edxml.directory.Directory`
(the same loader routing uses), refuses a list that shrank suspiciously (a hub answering with a
partial list must not wipe the routing table), and replaces the directory file in one rename.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from gateway.edxml.directory import Directory
from gateway.errors import ConfigurationError, GatewayError, SchemaValidationError
from gateway.exchange.common import now_iso, read_json, write_json
from gateway.transport.axis import AxisClient

LISTS = ("getAgenciesList", "getSynchronizeUnit")


def fetch_lists(client: AxisClient, work: Path) -> dict[str, int]:
    """Fetch both lists into ``<work>/directory/<list>.json``; returns the record count of each."""
    folder = work / "directory"
    counts: dict[str, int] = {}
    for op in LISTS:
        records = client.agencies() if op == "getAgenciesList" else client.synchronize_unit()
        write_json(folder / f"{op}.json", {"fetched_at": now_iso(), op: records})
        counts[op] = len(records)
    return counts


def publish(work: Path, target: Path, *, min_ratio: float = 0.5) -> dict[str, Any]:
    """Merge the fetched lists and write ``target`` atomically (temp file + rename).

    Refused (non-retryable) when the merged list has fewer than ``min_ratio`` × the agencies of
    the file it would replace; ``min_ratio = 0`` turns the check off.
    """
    folder = work / "directory"
    merged: dict[str, Any] = {}
    for op in LISTS:
        source = folder / f"{op}.json"
        merged[op] = read_json(source)[op]
    text = json.dumps(merged, ensure_ascii=False, indent=1)
    directory = Directory.from_json(text, source="fetched agency lists")
    if len(directory) == 0:
        raise SchemaValidationError("the hub's agency lists hold no usable record; directory left as it was")
    previous = _count(target)
    if previous and len(directory) < previous * min_ratio:
        raise ConfigurationError(
            f"{target}: the new list has {len(directory)} agencies, the published one {previous}; "
            f"refusing to publish (lower min_ratio {min_ratio} to accept it)"
        )
    write_json(target, merged)
    return {"agencies": len(directory), "previous": previous, "warnings": len(directory.warnings),
            "target": str(target)}


def _count(target: Path) -> int:
    if not target.exists():
        return 0
    try:
        return len(Directory.from_json(target))
    except GatewayError:
        return 0  # an unreadable file is replaced, not protected


__all__ = ["LISTS", "fetch_lists", "publish"]
