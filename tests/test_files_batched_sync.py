"""``batched_dir_sync``: inside a batch stage each file is still fsynced before its rename, and
each folder once, after every rename of the block — also when the block fails."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from gateway import files
from gateway.files import batched_dir_sync, write_atomic


@pytest.fixture
def events(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    log: list[tuple[str, str]] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        log.append(("fsync", os.readlink(f"/proc/self/fd/{fd}")))
        real_fsync(fd)

    def replace(src: str | Path, dst: str | Path, **kw: object) -> None:
        log.append(("replace", str(dst)))
        real_replace(src, dst, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(files.os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    return log


def _check_file_synced_before_its_rename(log: list[tuple[str, str]], target: Path) -> None:
    at = log.index(("replace", str(target)))
    assert log[at - 1][0] == "fsync" and Path(log[at - 1][1]).parent == target.parent  # the temporary file


def test_outside_a_block_every_write_syncs_its_folder(tmp_path: Path, events: list[tuple[str, str]]) -> None:
    for n in range(2):
        write_atomic(tmp_path / f"{n}.json", b"{}")
    assert [e for e in events if e == ("fsync", str(tmp_path))] == [("fsync", str(tmp_path))] * 2
    assert events[-1] == ("fsync", str(tmp_path))


def test_inside_a_block_each_folder_is_synced_once_after_every_rename(tmp_path: Path,
                                                                      events: list[tuple[str, str]]) -> None:
    a, b = tmp_path / "translated", tmp_path / "signed"
    a.mkdir()
    b.mkdir()
    with batched_dir_sync():
        for n in range(3):
            write_atomic(a / f"{n}.edxml", b"x")
        write_atomic(b / "0.edxml", b"y")
        with batched_dir_sync():  # a nested block joins the outer one
            write_atomic(b / "1.edxml", b"z")
        assert ("fsync", str(a)) not in events and ("fsync", str(b)) not in events
    for target in [a / "0.edxml", a / "1.edxml", a / "2.edxml", b / "0.edxml", b / "1.edxml"]:
        _check_file_synced_before_its_rename(events, target)
        assert target.exists()
    last_replace = max(i for i, e in enumerate(events) if e[0] == "replace")
    tail = events[last_replace + 1:]
    assert sorted(tail) == sorted([("fsync", str(a)), ("fsync", str(b))])  # both folders, after the renames
    assert events.count(("fsync", str(a))) == 1 and events.count(("fsync", str(b))) == 1


def test_a_failing_block_still_syncs_what_it_wrote(tmp_path: Path, events: list[tuple[str, str]]) -> None:
    with pytest.raises(RuntimeError), batched_dir_sync():
        write_atomic(tmp_path / "done.json", b"{}")
        raise RuntimeError("stage failed half way")
    assert events[-1] == ("fsync", str(tmp_path))
    write_atomic(tmp_path / "after.json", b"{}")  # the block is over: back to one sync per write
    assert events[-1] == ("fsync", str(tmp_path)) and events.count(("fsync", str(tmp_path))) == 2


def test_publish_now_syncs_the_folder_before_returning_even_inside_a_block(
        tmp_path: Path, events: list[tuple[str, str]]) -> None:
    """A received package is acknowledged right after it is stored: its rename must be durable first."""
    with batched_dir_sync():
        write_atomic(tmp_path / "later.json", b"{}")
        assert ("fsync", str(tmp_path)) not in events
        write_atomic(tmp_path / "package.edxml", b"<x/>", publish_now=True)
        assert events[-1] == ("fsync", str(tmp_path))
        assert events[-2] == ("replace", str(tmp_path / "package.edxml"))
