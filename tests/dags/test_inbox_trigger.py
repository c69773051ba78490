"""The file-drop inbox watcher: what counts as a complete item, and that each is reported once.

The completeness rule is driven here listing by listing on real folders, ``run()`` once; the real triggerer runs it in
tests/dags/test_celery_deployment.py. The DAG wiring (an AssetWatcher on the outbound DAG's Asset
only when ``inbox_root`` is configured) is checked on generated DAGs.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from gateway.airflow.triggers import InboxState, InboxTrigger, inbox_entries


def test_only_complete_items_are_reported_once(tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    state = InboxState()

    def listing() -> list[str]:
        return state.observe(inbox_entries(str(inbox), "*.xml"))

    (inbox / "a.xml.part").write_text("<a/>")
    (inbox / ".hidden.xml").write_text("<a/>")
    (inbox / "notes.txt").write_text("not the pattern")
    os.symlink("/etc/hostname", inbox / "link.xml")
    (inbox / "growing.xml").write_text("<a>")
    assert listing() == []  # first sight: nothing is complete yet
    (inbox / "growing.xml").write_text("<a>still being copied")
    assert listing() == []  # it changed since the last listing: not complete
    (inbox / "a.xml.part").rename(inbox / "a.xml")  # the writer's rename: complete from now
    assert listing() == ["growing.xml"]  # unchanged over two listings
    assert listing() == ["a.xml"]
    assert listing() == []  # reported once, however long it waits for its run
    (inbox / "a.xml").unlink()  # the run claimed it
    assert listing() == []
    (inbox / "a.xml").write_text("<a>second batch</a>")
    assert listing() == []
    assert listing() == ["a.xml"]  # the same name again is a new item


def test_the_trigger_fires_for_a_complete_file(tmp_path: Path) -> None:
    (tmp_path / "doc.xml").write_text("<a/>")
    (tmp_path / "doc2.xml.tmp").write_text("<a/>")

    async def first_event() -> dict:
        async for event in InboxTrigger(str(tmp_path), "*.xml", poke_interval=0.05).run():
            return event.payload
        raise AssertionError("the trigger stopped without an event")

    payload = asyncio.run(asyncio.wait_for(first_event(), 60))
    assert payload == {"inbox": str(tmp_path), "items": ["doc.xml"], "count": 1}


def test_entries_of_a_missing_folder_and_bundle_folders(tmp_path: Path) -> None:
    assert inbox_entries(str(tmp_path / "absent"), "*.xml") == {}
    bundle = tmp_path / "batch-1"
    bundle.mkdir()
    (bundle / "doc.xml").write_text("<a/>")
    assert set(inbox_entries(str(tmp_path), "*.xml")) == {"batch-1"}
    assert InboxTrigger(str(tmp_path)).serialize() == (
        "gateway.airflow.triggers.InboxTrigger", {"directory": str(tmp_path), "pattern": "*.xml", "poke_interval": 2.0})


def test_watcher_is_wired_only_where_an_inbox_is_configured(tmp_path: Path) -> None:
    from gateway.airflow.factory import build_dags

    config = {"defaults": {"schedule": ""}, "exchange": [
        {"adapter": "flat_xml_export", "inbox_root": str(tmp_path / "drop"), "watch_seconds": 1.5},
        {"adapter": "qlvb_soap", "inbox_root": "/ignored/for/soap"}]}
    dags = build_dags(config=config)

    def watchers(dag_id: str) -> list:
        (asset,) = dags[dag_id].timetable.asset_condition.objects
        return list(asset.watchers)

    (watcher,) = watchers("lienthong_outbound_flat_xml_export")
    assert isinstance(watcher.trigger, InboxTrigger)
    assert watcher.trigger.directory == str(tmp_path / "drop" / "inbox") and watcher.trigger.poke_interval == 1.5
    assert watchers("lienthong_outbound_edxml_2011") == []  # no inbox_root: cron/REST events only
    assert watchers("lienthong_outbound_qlvb_soap") == []  # SOAP pull: nothing to watch
    assert watchers("lienthong_inbound_flat_xml_export") == []
