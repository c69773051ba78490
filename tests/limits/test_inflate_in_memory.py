"""In-memory parses keep at most ``max_inflated_in_memory_bytes`` of an inflated ZIP attachment in memory.

``parse_package(..., store=None)`` used to read every inflated one-entry ZIP whole, so a body of a
few MB could grow ~100× in memory within the inflation budget. Beyond the ceiling the attachment
is now spilled to a temporary file; the peak RSS of a child process shows it.
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

from limitkit import measured, package_with, write, zeros_zip

from gateway.edxml import parse_package
from gateway.edxml.model import BytesPayload
from gateway.edxml.spill import SpilledPayload, read_capped
from gateway.limits import InputLimits

_SCRIPT = r"""
import gc, hashlib, os, sys, tempfile
from gateway.edxml import parse_package
from gateway.limits import InputLimits
data = open(sys.argv[1], "rb").read()
limits = InputLimits(max_inflation_ratio=5000, max_inflated_in_memory_bytes=int(sys.argv[2]))
pkg = parse_package(data, input_limits=limits).package
att = pkg.attachments[0]
digest = hashlib.sha256()
with att.payload.open() as fh:
    while chunk := fh.read(1 << 20):
        digest.update(chunk)
spilled = [n for n in os.listdir(tempfile.gettempdir()) if n.startswith("lienthong-attachment-")]
del pkg, att
gc.collect()
left = [n for n in os.listdir(tempfile.gettempdir()) if n.startswith("lienthong-attachment-")]
print(digest.hexdigest(), len(spilled) - len(left))
"""

SIZE = 400 * 1024 * 1024


def test_a_zip_inflating_to_400_mb_is_spilled_not_held_in_memory(tmp_path: Path) -> None:
    pkg = write(tmp_path / "bomb.edxml", package_with(zeros_zip(SIZE)))
    assert pkg.stat().st_size < 2 * 1024 * 1024  # a small body ...
    run = measured([sys.executable, "-c", _SCRIPT, str(pkg), str(32 * 1024 * 1024)], timeout=600)
    assert run["rc"] == 0, run["err"]
    digest, removed = run["out"].split()
    zeros = hashlib.sha256()
    block = b"\0" * (1 << 20)
    for _ in range(SIZE >> 20):
        zeros.update(block)
    assert digest == zeros.hexdigest()  # ... whose attachment is all there
    assert int(removed) >= 1  # the temporary file went with the package
    assert run["rss_mb"] < 250, run["rss_mb"]  # held in memory whole, it was > 400 MB


def test_small_inflated_attachments_stay_in_memory_and_the_ceiling_is_exact() -> None:
    import io

    small = read_capped(io.BytesIO(b"x" * 1000), 1000)
    assert isinstance(small, BytesPayload) and small.data == b"x" * 1000
    big = read_capped(io.BytesIO(b"y" * 3000), 1000)
    assert isinstance(big, SpilledPayload) and big.size == 3000
    assert big.sha256 == hashlib.sha256(b"y" * 3000).hexdigest() and big.data == b"y" * 3000
    assert big == BytesPayload(b"y" * 3000)
    body = package_with(zeros_zip(2 * 1024 * 1024))
    kept = parse_package(body, input_limits=InputLimits(max_inflation_ratio=5000)).package.attachments[0]
    assert isinstance(kept.payload, BytesPayload) and kept.payload.size == 2 * 1024 * 1024
    limits = InputLimits(max_inflation_ratio=5000, max_inflated_in_memory_bytes=1024 * 1024)
    spilled = parse_package(body, input_limits=limits).package.attachments[0]
    assert isinstance(spilled.payload, SpilledPayload) and spilled.payload == kept.payload
