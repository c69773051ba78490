"""Helpers for the input-budget tests: peak RSS of a child process, packages with ZIP attachments."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import zipfile
from dataclasses import replace
from pathlib import Path

from gateway.edxml import build_package
from gateway.edxml.model import Attachment, BytesPayload
from gateway.edxml.samples import sample_edoc

_WRAPPER = r"""
import json, resource, subprocess, sys, time
t = time.monotonic()
p = subprocess.run(sys.argv[1:], capture_output=True, text=True)
print(json.dumps({"rc": p.returncode, "out": p.stdout[-20000:], "err": p.stderr[-20000:],
                  "rss_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
                  "seconds": time.monotonic() - t}))
"""

LIENTHONG = [str(Path(sys.executable).with_name("lienthong"))]


def measured(argv: list[str], timeout: float = 300) -> dict:
    """Run ``argv`` as the only child of a fresh wrapper; its peak RSS comes from RUSAGE_CHILDREN."""
    done = subprocess.run([sys.executable, "-c", _WRAPPER, *argv], capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def package_with(payload: bytes, name: str = "quyet-dinh.pdf", n: int = 1, extra: tuple[bytes, ...] = ()) -> bytes:
    """A document package whose attachments carry exactly these bytes (a ZIP stays a ZIP)."""
    base = sample_edoc(n, attachments=1 + len(extra))
    atts = []
    for i, (att, data) in enumerate(zip(base.attachments, (payload, *extra), strict=True)):
        atts.append(Attachment(att.content_id, name if i == 0 else att.name, att.content_type, BytesPayload(data),
                               att.description))
    return build_package(replace(base, attachments=tuple(atts)))


def one_entry_zip(data: bytes, *, method: int = zipfile.ZIP_DEFLATED, name: str = "quyet-dinh.pdf") -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=method) as zf:
        zf.writestr(name, data)
    return buf.getvalue()


def zeros_zip(size: int) -> bytes:
    """A one-entry ZIP inflating to ``size`` zero bytes, written in chunks (no big buffer)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf, zf.open("bomb.pdf", "w", force_zip64=True) as w:
        block = b"\0" * (1 << 20)
        for _ in range(size >> 20):
            w.write(block)
    return buf.getvalue()


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path
