"""Benchmark of the edXML core (issue: foundation). Prints figures and ratios; asserts nothing.

(a) floor: lxml parse + lxml XMLSchema validation of 1,000 generated ~50 KB packages;
(b) lienthong: parse_package (lenient read + strict XSD check + attachments decoded) + build_package;
their ratio (goal: b within 2x of a); then the peak RSS of a separate process parsing a package
with a 300 MB attachment into the blob store (goal: under 100 MB).

Run: .venv/bin/python bench/bench_edxml.py [--count 1000] [--big-mb 300]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from lxml import etree

from gateway.blobstore import BlobStore
from gateway.edxml import build_package, parse_package
from gateway.edxml.bigfile import write_big_package
from gateway.edxml.samples import sample_edoc
from gateway.edxml.schema import load_schema

RSS_PROBE = r"""
import json, resource, sys
from pathlib import Path
from gateway.blobstore import BlobStore
from gateway.edxml import parse_package
result = parse_package(Path(sys.argv[1]), store=BlobStore(sys.argv[2], fsync=False))
print(json.dumps({"peak_rss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                  "size": result.package.attachments[0].size}))
"""
BASELINE_PROBE = r"""
import json, resource
import gateway.edxml, gateway.blobstore
print(json.dumps({"peak_rss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
"""


def make_packages(count: int) -> list[bytes]:
    return [build_package(sample_edoc(number=1000 + i, attachments=2, attachment_size=17_500)) for i in range(count)]


def floor(packages: list[bytes]) -> float:
    schema = load_schema("edoc")
    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)
    start = time.perf_counter()
    for data in packages:
        root = etree.fromstring(data, parser)
        if not schema.validate(root):
            raise SystemExit("floor: a generated package is invalid")
    return time.perf_counter() - start


def lienthong(packages: list[bytes]) -> float:
    start = time.perf_counter()
    for data in packages:
        result = parse_package(data)
        if result.schema_issues:
            raise SystemExit("lienthong: a generated package is invalid")
        build_package(result.package)
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=1000)
    ap.add_argument("--big-mb", type=int, default=300)
    args = ap.parse_args()

    packages = make_packages(args.count)
    avg_kb = sum(map(len, packages)) / len(packages) / 1024
    floor(packages[:50]), lienthong(packages[:50])  # warm up caches and schema compilation
    a = min(floor(packages) for _ in range(3))
    b = min(lienthong(packages) for _ in range(3))
    print(f"packages: {args.count} x {avg_kb:.1f} KB")
    print(f"(a) floor  lxml parse + XMLSchema validate : {a:.3f} s  {args.count / a:8.0f} packages/s")
    print(f"(b) lienthong parse + validate + build     : {b:.3f} s  {args.count / b:8.0f} packages/s")
    print(f"ratio b/a: {b / a:.2f}x  (goal <= 2.0x)")

    with tempfile.TemporaryDirectory(prefix="lienthong-bench-") as tmp:
        tmpdir = Path(tmp)
        pkg = tmpdir / "big.edxml"
        write_big_package(pkg, BlobStore(tmpdir / "src", fsync=False), args.big_mb * 1024 * 1024)
        base = json.loads(subprocess.run([sys.executable, "-c", BASELINE_PROBE], check=True,
                                         capture_output=True, text=True).stdout)
        start = time.perf_counter()
        out = subprocess.run([sys.executable, "-c", RSS_PROBE, str(pkg), str(tmpdir / "dst")], check=True,
                             capture_output=True, text=True)
        took = time.perf_counter() - start
        report = json.loads(out.stdout)
        print(f"{args.big_mb} MB attachment ({pkg.stat().st_size / 2**20:.0f} MB package): parsed into the blob store "
              f"in {took:.1f} s, peak RSS {report['peak_rss_kb'] / 1024:.0f} MB "
              f"(interpreter + imports alone: {base['peak_rss_kb'] / 1024:.0f} MB; goal < 100 MB)")


if __name__ == "__main__":
    main()
