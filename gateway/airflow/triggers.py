"""An Airflow asset watcher on a file-drop inbox: the outbound DAG starts as soon as a batch is complete.

:class:`InboxTrigger` is a ``BaseEventTrigger``: Airflow 3's triggerer runs it for as long as the
Asset that names it in ``AssetWatcher(trigger=…)`` is scheduled, and every ``TriggerEvent`` it yields
becomes an asset event, so the DAG scheduled on that Asset gets a run (``run_type=asset_triggered``).

Why a polling watcher in the triggerer (and not inotify, nor a sensor task): the triggerer is already
part of every Airflow deployment, runs asyncio code cheaply, and keeps watching while no run is
active; inotify does not see writes made over NFS/SMB shares, which is how legacy systems usually
deliver their exports. A listing every ``poke_interval`` seconds costs one ``scandir``.

"Complete" follows the file-drop convention (:mod:`gateway.transport.filedrop`): writers write
``*.tmp``/``*.part`` or dot-files and rename, so those are never reported; in addition an entry must
look the same (size and mtime) on two listings in a row, for writers that copy in place. The trigger
does not move or delete anything (the run claims the files); it remembers what it reported so a file
still waiting for its run is not reported again, and forgets a name once it left the inbox.
"""

from __future__ import annotations

import asyncio
import fnmatch
import os
import stat
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from airflow.triggers.base import BaseEventTrigger, TriggerEvent

Entry = tuple[int, int]  # (size, mtime_ns)


def inbox_entries(directory: str, pattern: str) -> dict[str, Entry]:
    """The candidate items of ``directory``: files matching ``pattern`` and bundle folders, no temporaries."""
    found: dict[str, Entry] = {}
    try:
        with os.scandir(directory) as it:
            for entry in it:
                name = entry.name
                if name.startswith(".") or name.endswith((".tmp", ".part")):
                    continue
                try:
                    info = entry.stat(follow_symlinks=False)
                except FileNotFoundError:  # claimed between listing and stat
                    continue
                if stat.S_ISDIR(info.st_mode):
                    size = sum(1 for _ in os.scandir(entry.path))
                elif stat.S_ISREG(info.st_mode) and fnmatch.fnmatch(name, pattern):
                    size = info.st_size
                else:
                    continue  # symlinks, FIFOs, devices: the run refuses them; never a reason to start
                found[name] = (size, info.st_mtime_ns)
    except FileNotFoundError:
        return {}
    return found


class InboxState:
    """What one watcher has seen: an item is reported when it is unchanged over two listings, once."""

    def __init__(self) -> None:
        self.previous: dict[str, Entry] = {}
        self.reported: dict[str, Entry] = {}

    def observe(self, current: dict[str, Entry]) -> list[str]:
        """Feed one listing; returns the names newly complete (sorted)."""
        stable = {n: e for n, e in current.items() if self.previous.get(n) == e}
        new = sorted(n for n, e in stable.items() if self.reported.get(n) != e)
        self.reported = {n: e for n, e in self.reported.items() if n in current}  # forget what left
        self.reported.update({n: stable[n] for n in new})
        self.previous = current
        return new


class InboxTrigger(BaseEventTrigger):
    """Yield one event per newly complete item of a file-drop inbox (names in the event's payload)."""

    def __init__(self, directory: str, pattern: str = "*.xml", poke_interval: float = 2.0) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.directory = str(directory)
        self.pattern = pattern
        self.poke_interval = float(poke_interval)

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return ("gateway.airflow.triggers.InboxTrigger",
                {"directory": self.directory, "pattern": self.pattern, "poke_interval": self.poke_interval})

    async def run(self) -> AsyncIterator[TriggerEvent]:
        state = InboxState()
        while True:
            new = state.observe(await asyncio.to_thread(inbox_entries, self.directory, self.pattern))
            if new:
                self.log.info("inbox %s: %d complete item(s): %s", self.directory, len(new), ", ".join(new[:20]))
                payload = {"inbox": self.directory, "items": new[:100], "count": len(new)}
                yield TriggerEvent(payload)  # type: ignore[no-untyped-call]
            await asyncio.sleep(self.poke_interval)


def inbox_folder(root: str) -> str:
    """The inbox of a file-drop root (``<root>/inbox``), as :class:`gateway.transport.filedrop.FileDrop` lays it out."""
    return str(Path(root.removeprefix("file://")) / "inbox")


__all__ = ["InboxState", "InboxTrigger", "inbox_entries", "inbox_folder"]
