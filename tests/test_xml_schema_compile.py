"""XSD compiles under threads: libxml2's first compile in a process must not race (gateway.xml.compile_schema).

Without the import-time compile and the lock, four threads compiling edoc.xsd and status.xsd at
once broke libxml2's built-in type table in 4 of 30 fresh processes, and every later compile of
that process failed — a hub then answered HTTP 500 to every sendEdoc. The race is only in a
process's *first* compiles, so the check runs many fresh interpreters.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

from lxml import etree

from gateway import xml as gxml

ROOT = Path(__file__).resolve().parents[1]
FRESH_PROCESSES = 32  # unguarded, P(no process breaks) = (26/30) ** 32 ≈ 1 %
CHILD = """
import sys, threading
from pathlib import Path
from gateway.xml import compile_schema, parse_schema_document
folder = Path("schemas/edxml")
docs = [parse_schema_document(folder / f"{kind}.xsd", folder=folder) for kind in ("edoc", "status") * 2]
errors, barrier = [], threading.Barrier(len(docs))
def compile_one(doc):
    barrier.wait()
    try:
        compile_schema(doc)
    except Exception as exc:
        errors.append(str(exc))
threads = [threading.Thread(target=compile_one, args=(doc,)) for doc in docs]
[t.start() for t in threads]
[t.join() for t in threads]
try:
    compile_schema(parse_schema_document(folder / "edoc.xsd", folder=folder))
except Exception as exc:
    errors.append("later: " + str(exc))
print("FAIL " + "; ".join(errors) if errors else "OK")
"""


def test_first_compiles_on_four_threads_never_break_a_fresh_process() -> None:
    # one child at a time: its four threads need both cores to race (four children at once hid it)
    outcomes = [subprocess.run([sys.executable, "-c", CHILD], cwd=ROOT, capture_output=True, text=True,
                               timeout=120).stdout.strip() for _ in range(FRESH_PROCESSES)]
    assert outcomes == ["OK"] * FRESH_PROCESSES, [o for o in outcomes if o != "OK"][:3]


def test_compiles_run_one_at_a_time(monkeypatch) -> None:
    inside, most = [0], [0]
    lock = threading.Lock()

    def slow_compile(doc: object) -> str:
        with lock:
            inside[0] += 1
            most[0] = max(most[0], inside[0])
        time.sleep(0.02)
        with lock:
            inside[0] -= 1
        return "compiled"

    monkeypatch.setattr(gxml.etree, "XMLSchema", slow_compile)
    results: list[object] = []
    threads = [threading.Thread(target=lambda: results.append(gxml.compile_schema(etree.Element("x"))))
               for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == ["compiled"] * 6
    assert most[0] == 1


def test_a_schema_that_does_not_compile_raises_lxmls_error_and_the_next_one_compiles() -> None:
    import pytest

    broken = etree.fromstring(b'<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema">'
                              b'<xs:element name="a" type="xs:nosuchtype"/></xs:schema>')
    with pytest.raises(etree.XMLSchemaParseError):
        gxml.compile_schema(broken)
    good = gxml.compile_schema(etree.fromstring(
        b'<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema"><xs:element name="a" type="xs:int"/></xs:schema>'))
    assert good.validate(etree.fromstring(b"<a>3</a>")) and not good.validate(etree.fromstring(b"<a>x</a>"))
