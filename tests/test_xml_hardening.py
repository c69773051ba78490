"""Hostile inputs against the hardened XML parser (gateway/xml.py), through both entry points.

Every case must end in a typed error (XmlSecurityError / XmlLimitError / XmlSyntaxError) whose
message names the source, without reading local files, without touching the network, and within
bounded memory. File reads are caught by a FIFO tripwire (a reader opening the FIFO is detected
by a writer thread), network access by a real listening socket on 127.0.0.1, memory by measuring
peak RSS in a child process. pytest-timeout guards against hangs.
"""

from __future__ import annotations

import io
import json
import os
import socket
import subprocess
import sys
import threading
import urllib.request
import zlib
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from lxml import etree

from gateway.errors import XmlError, XmlLimitError, XmlSecurityError, XmlSyntaxError
from gateway.xml import XmlLimits, feed_target, parse_xml

pytestmark = pytest.mark.timeout(120)

REPO = Path(__file__).resolve().parents[1]
SOURCE = "upload-42.edxml"
ETC_PASSWD = Path("/etc/passwd")
PASSWD_MARKERS = ("root:x:0:0", "root:*:0:0", "/bin/bash", "/usr/sbin/nologin")


# -- helpers ---------------------------------------------------------------------------------------


class Recorder:
    """A target that keeps everything the parser hands over, to prove nothing leaked into output."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str]] = []

    def start(self, tag: str, attrib: dict[str, str], nsmap: dict[str | None, str] | None = None) -> None:
        self.events.append(("start", tag))
        for key, value in attrib.items():
            self.events.append(("attr", f"{key}={value}"))

    def end(self, tag: str) -> None:
        self.events.append(("end", tag))

    def data(self, data: str) -> None:
        self.events.append(("data", data))

    def close(self) -> list[tuple[str, str]]:
        return self.events

    def text(self) -> str:
        return "".join(v for _, v in self.events)


def run_parse(data: bytes, limits: XmlLimits | None = None) -> str:
    root = parse_xml(data, source=SOURCE, limits=limits)
    return etree.tostring(root, encoding="unicode")


def run_feed(data: bytes, limits: XmlLimits | None = None) -> str:
    rec = Recorder()
    feed_target(io.BytesIO(data), rec, source=SOURCE, limits=limits)
    return rec.text()


ENTRY_POINTS = {"parse_xml": run_parse, "feed_target": run_feed}
Runner = Callable[..., str]


@pytest.fixture(params=sorted(ENTRY_POINTS))
def run(request: pytest.FixtureRequest) -> Runner:
    return ENTRY_POINTS[request.param]


def expect(
    error: type[XmlError], runner: Runner, data: bytes, *fragments: str, limits: XmlLimits | None = None
) -> XmlError:
    """Assert ``runner(data)`` raises exactly ``error`` (not a sibling) naming the source."""
    with pytest.raises(XmlError) as info:
        runner(data, limits)
    err = info.value
    assert type(err) is error, f"expected {error.__name__}, got {type(err).__name__}: {err}"
    message = str(err)
    assert SOURCE in message, message
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"
    return err


def all_text_of(err: BaseException) -> str:
    """The message of an error and of every error chained to it."""
    parts: list[str] = []
    seen: set[int] = set()
    node: BaseException | None = err
    while node is not None and id(node) not in seen:
        seen.add(id(node))
        parts.append(f"{type(node).__name__}: {node!s} {node!r}")
        node = node.__cause__ or node.__context__
    return "\n".join(parts)


def assert_no_passwd(text: str) -> None:
    for marker in PASSWD_MARKERS:
        assert marker not in text


class FifoTripwire:
    """A named pipe that records whether anybody opened it for reading.

    A writer thread keeps trying a non-blocking open for writing, which only succeeds once a
    reader has the FIFO open; it then feeds a harmless DTD line so the reader is not left hanging.
    """

    def __init__(self, path: Path):
        self.path = path
        os.mkfifo(path)
        self.opened = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return self.path.as_uri()

    def _watch(self) -> None:
        while not self._stop.is_set():
            try:
                fd = os.open(self.path, os.O_WRONLY | os.O_NONBLOCK)
            except OSError:
                self._stop.wait(0.002)
                continue
            self.opened.set()
            try:
                os.write(fd, b'<!ENTITY leak "TRIPWIRE-CONTENT">\n')
            except OSError:
                pass
            finally:
                os.close(fd)
            return

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


@pytest.fixture
def tripwire(tmp_path: Path) -> Iterator[FifoTripwire]:
    wire = FifoTripwire(tmp_path / "secret.dtd")
    yield wire
    wire.close()


class RecordingServer(ThreadingHTTPServer):
    """An HTTP server on 127.0.0.1 that records every TCP connection it accepts."""

    daemon_threads = True

    def __init__(self) -> None:
        self.connections: list[Any] = []
        super().__init__(("127.0.0.1", 0), _DtdHandler)

    def get_request(self) -> tuple[socket.socket, Any]:
        request = super().get_request()
        self.connections.append(request[1])
        return request

    @property
    def base(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"


class _DtdHandler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b'<!ENTITY leak "FROM-THE-NETWORK">'
        self.send_response(200)
        self.send_header("Content-Type", "application/xml-dtd")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def http_server() -> Iterator[RecordingServer]:
    server = RecordingServer()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


# -- entity attacks --------------------------------------------------------------------------------

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<lolz>&lol9;</lolz>
"""


def quadratic_blowup(entity_size: int = 100_000, references: int = 20_000) -> bytes:
    """One big entity referenced many times: ~2 GB once expanded, from a ~160 KB document."""
    return (
        b'<?xml version="1.0"?>\n<!DOCTYPE kaboom [<!ENTITY a "'
        + b"x" * entity_size
        + b'">]>\n<kaboom>'
        + b"&a;" * references
        + b"</kaboom>"
    )


def test_billion_laughs(run: Runner) -> None:
    expect(XmlSecurityError, run, BILLION_LAUGHS, "DTD")


def test_quadratic_blowup(run: Runner) -> None:
    expect(XmlSecurityError, run, quadratic_blowup(), "DTD")


def test_a_bare_doctype_is_refused(run: Runner) -> None:
    expect(XmlSecurityError, run, b"<!DOCTYPE r>\n<r/>", "DTD")


def test_undeclared_entity_reference(run: Runner) -> None:
    expect(XmlSecurityError, run, b"<r>&ext;</r>", "entities are not allowed", "line 1")


def test_predefined_and_character_references_still_work(run: Runner) -> None:
    out = run(b"<r a='&lt;&#233;'>&amp; &#x1EA1;<!-- c --><?pi x?></r>", None)
    assert "&" in out and "ạ" in out


# -- local files: external entities, external DTDs, parameter entities, XInclude ------------------


def _file_attacks(url: str) -> dict[str, bytes]:
    return {
        "external general entity": f'<?xml version="1.0"?>\n<!DOCTYPE r [<!ENTITY x SYSTEM "{url}">]>\n<r>&x;</r>',
        "entity in attribute": f'<!DOCTYPE r [<!ENTITY x SYSTEM "{url}">]>\n<r a="&x;"/>',
        "external DTD (SYSTEM)": f'<?xml version="1.0"?>\n<!DOCTYPE r SYSTEM "{url}">\n<r>&leak;</r>',
        "external DTD (PUBLIC)": f'<!DOCTYPE r PUBLIC "-//Evil//DTD//EN" "{url}">\n<r/>',
        "parameter entity": f'<!DOCTYPE r [<!ENTITY % p SYSTEM "{url}"> %p;]>\n<r>&leak;</r>',
        "XInclude text": (f'<r xmlns:xi="http://www.w3.org/2001/XInclude"><xi:include href="{url}" parse="text"/></r>'),
        "XInclude xml": f'<r xmlns:xi="http://www.w3.org/2001/XInclude"><a><xi:include href="{url}"/></a></r>',
    }  # type: ignore[return-value]


FILE_ATTACKS = sorted(_file_attacks("x"))


@pytest.mark.parametrize("attack", FILE_ATTACKS)
def test_local_file_is_never_opened(run: Runner, attack: str, tripwire: FifoTripwire) -> None:
    data = _file_attacks(tripwire.url)[attack].encode()
    with pytest.raises((XmlSecurityError,)) as info:
        run(data, None)
    assert SOURCE in str(info.value)
    assert not tripwire.opened.is_set(), f"{attack}: the parser opened {tripwire.path}"
    assert "TRIPWIRE-CONTENT" not in all_text_of(info.value)


@pytest.mark.parametrize("attack", FILE_ATTACKS)
def test_etc_passwd_never_appears(run: Runner, attack: str) -> None:
    data = _file_attacks(ETC_PASSWD.as_uri())[attack].encode()
    with pytest.raises(XmlError) as info:
        run(data, None)
    assert type(info.value) is XmlSecurityError
    assert_no_passwd(all_text_of(info.value))


def test_etc_passwd_never_reaches_the_target() -> None:
    rec = Recorder()
    data = _file_attacks(ETC_PASSWD.as_uri())["external general entity"].encode()
    with pytest.raises(XmlSecurityError):
        feed_target(io.BytesIO(data), rec, source=SOURCE)
    assert_no_passwd(rec.text())
    assert not any(kind == "data" for kind, _ in rec.events)


ENDLESS_PROBE = r"""
import io, sys
from gateway.errors import XmlError
from gateway.xml import feed_target, parse_xml

class Sink:
    def start(self, *a): pass
    def end(self, *a): pass
    def data(self, d): pass
    def close(self): return None

data = sys.stdin.buffer.read()
for name, call in (("parse_xml", lambda: parse_xml(data, source="s")),
                   ("feed_target", lambda: feed_target(io.BytesIO(data), Sink(), source="s"))):
    try:
        call()
        print(name, "accepted")
    except XmlError as exc:
        print(name, type(exc).__name__)
"""


@pytest.mark.parametrize("device", ["/dev/zero", "/dev/urandom"])
@pytest.mark.parametrize("attack", ["parameter entity", "external DTD (SYSTEM)", "external general entity"])
def test_endless_device_behind_an_entity_does_not_hang(device: str, attack: str) -> None:
    """A parameter entity or external DTD on an endless file used to spin libxml2 forever.

    Run in a child process: a hang inside libxml2's C code cannot be interrupted by
    pytest-timeout's signal handler, but a subprocess timeout always fires.
    """
    data = _file_attacks(Path(device).as_uri())[attack].encode()
    try:
        proc = subprocess.run(
            [sys.executable, "-c", ENDLESS_PROBE],
            input=data,
            capture_output=True,
            timeout=20,
            cwd=REPO,
            env={**os.environ, "PYTHONPATH": str(REPO)},
            check=False,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"parsing a {attack} on {device} did not finish within 20 s")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.decode().split() == ["parse_xml", "XmlSecurityError", "feed_target", "XmlSecurityError"]


def test_xinclude_error_points_at_the_element(tripwire: FifoTripwire) -> None:
    data = _file_attacks(tripwire.url)["XInclude xml"].encode()
    err = expect(XmlSecurityError, run_parse, data, "XInclude")
    assert err.location is not None and err.location.path == "/r/a/xi:include"


def test_utf16_encoded_attack_is_refused_too(run: Runner, tripwire: FifoTripwire) -> None:
    text = _file_attacks(tripwire.url)["external DTD (SYSTEM)"].replace('<?xml version="1.0"?>', "")
    data = '<?xml version="1.0" encoding="UTF-16"?>'.encode("utf-16") + text.encode("utf-16-le")
    expect(XmlSecurityError, run, data, "DTD")
    assert not tripwire.opened.is_set()


def test_tripwire_detects_a_careless_parser(tripwire: FifoTripwire) -> None:
    """Control: a parser that loads DTDs does open the FIFO, so the tripwire can fail."""
    careless = etree.XMLParser(load_dtd=True, resolve_entities=True)
    data = _file_attacks(tripwire.url)["external DTD (SYSTEM)"].encode()
    root = etree.fromstring(data, careless)
    assert tripwire.opened.wait(5)
    assert root.text == "TRIPWIRE-CONTENT"


# -- network: external DTD / entities over http to a real listening socket ----------------------


def _network_attacks(base: str) -> dict[str, bytes]:
    return {
        "external DTD": f'<?xml version="1.0"?>\n<!DOCTYPE r SYSTEM "{base}/evil.dtd">\n<r>&leak;</r>'.encode(),
        "parameter entity": f'<!DOCTYPE r [<!ENTITY % p SYSTEM "{base}/p.dtd"> %p;]>\n<r>&leak;</r>'.encode(),
        "general entity": f'<!DOCTYPE r [<!ENTITY x SYSTEM "{base}/x.xml">]>\n<r>&x;</r>'.encode(),
        "XInclude": (f'<r xmlns:xi="http://www.w3.org/2001/XInclude"><xi:include href="{base}/i.xml"/></r>').encode(),
    }


@pytest.mark.parametrize("attack", sorted(_network_attacks("http://x")))
def test_no_network_access(run: Runner, attack: str, http_server: RecordingServer) -> None:
    data = _network_attacks(http_server.base)[attack]
    with pytest.raises(XmlSecurityError) as info:
        run(data, None)
    assert SOURCE in str(info.value)
    assert "FROM-THE-NETWORK" not in all_text_of(info.value)
    assert http_server.connections == [], f"{attack}: the parser connected to {http_server.base}"


def test_http_server_detects_connections(http_server: RecordingServer) -> None:
    """Control: the listening server does record a client, so the check above can fail.

    (libxml2 2.14, as installed here, no longer ships an HTTP client at all, so even a parser
    with ``no_network=False`` cannot fetch; the check still guards other builds and resolvers.)
    """
    with urllib.request.urlopen(f"{http_server.base}/evil.dtd", timeout=5) as response:
        assert response.read() == b'<!ENTITY leak "FROM-THE-NETWORK">'
    assert len(http_server.connections) == 1


# -- structure: depth, non-XML, truncation ---------------------------------------------------------


def nested(depth: int) -> bytes:
    return b"<a>" * depth + b"</a>" * depth


def test_ten_thousand_deep_nesting(run: Runner) -> None:
    expect(XmlLimitError, run, nested(10_000), "nest")


def test_ten_thousand_deep_nesting_even_with_a_raised_limit(run: Runner) -> None:
    expect(XmlLimitError, run, nested(10_000), limits=XmlLimits(max_depth=5_000))


def _png() -> bytes:
    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body).to_bytes(4, "big")
        return len(body).to_bytes(4, "big") + kind + body + crc

    ihdr = (1).to_bytes(4, "big") + (1).to_bytes(4, "big") + bytes([8, 0, 0, 0, 0])
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0\0")) + chunk(b"IEND", b"")


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(_png(), id="png"),
        pytest.param(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\n", id="pdf"),
        pytest.param(b"PK\x03\x04\x14\x00\x00\x00\x08\x00", id="zip"),
        pytest.param(b'{"edXML": "not really"}', id="json"),
        pytest.param(b"\x00" * 64, id="zeros"),
    ],
)
def test_non_xml_input(run: Runner, data: bytes) -> None:
    expect(XmlSyntaxError, run, data, "not")


def test_empty_input(run: Runner) -> None:
    expect(XmlSyntaxError, run, b"", "empty")


TRUNCATED = (
    '<?xml version="1.0" encoding="UTF-8"?>\n<edXML xmlns="http://www.mic.gov.vn/TBT/QCVN_102_2016">\n'
    '  <edXML:edXMLEnvelope xmlns:edXML="http://www.mic.gov.vn/TBT/QCVN_102_2016">\n'
    "    <edXML:edXMLHeader>\n      <edXML:MessageHeader>\n        <edXML:Subject>Về việc triển khai"
).encode()


def test_truncated_document(run: Runner) -> None:
    err = expect(XmlSyntaxError, run, TRUNCATED, "truncated")
    assert err.location is not None and err.location.line == 6


def test_truncated_inside_a_multibyte_character(run: Runner) -> None:
    data = "<r>Việt</r>".encode()
    cut = data[: data.index("ệ".encode()) + 1]
    expect(XmlSyntaxError, run, cut)


def test_junk_after_the_root_is_malformed(run: Runner) -> None:
    expect(XmlSyntaxError, run, b"<r/><r/>", "malformed")


# -- each limit, both entry points -----------------------------------------------------------------


@pytest.mark.parametrize("cap", [64, 4_096])
def test_max_bytes(run: Runner, cap: int) -> None:
    body = b"<r>" + b"x" * (cap - 7) + b"</r>"
    assert len(body) == cap
    limits = XmlLimits(max_bytes=cap)
    run(body, limits)
    expect(XmlLimitError, run, body + b" ", "max_bytes", str(cap), limits=limits)


def test_max_bytes_for_a_path_is_checked_before_reading(tmp_path: Path) -> None:
    path = tmp_path / "big.xml"
    path.write_bytes(b"<r>" + b"x" * 1000 + b"</r>")
    with pytest.raises(XmlLimitError, match="max_bytes") as info:
        parse_xml(path, limits=XmlLimits(max_bytes=1000))
    assert str(path) in str(info.value)
    assert parse_xml(path, limits=XmlLimits(max_bytes=1007)).tag == "r"


def test_feed_target_max_bytes_argument_overrides_the_limits() -> None:
    data = b"<r>" + b"x" * 100 + b"</r>"
    with pytest.raises(XmlLimitError, match="100 bytes"):
        feed_target(io.BytesIO(data), Recorder(), source=SOURCE, max_bytes=100)
    feed_target(io.BytesIO(data), Recorder(), source=SOURCE, limits=XmlLimits(max_bytes=10), max_bytes=107)


@pytest.mark.parametrize("cap", [1, 10, 128, 256, 300])
def test_max_depth(run: Runner, cap: int) -> None:
    limits = XmlLimits(max_depth=cap)
    run(nested(cap), limits)
    expect(XmlLimitError, run, nested(cap + 1), "max_depth" if cap != 256 else "nest", limits=limits)


@pytest.mark.parametrize("cap", [100, 12_000_000])
@pytest.mark.parametrize("shape", ["text", "tail", "attribute"])
def test_max_text_length(run: Runner, cap: int, shape: str) -> None:
    def doc(n: int) -> bytes:
        filler = b"x" * n
        return {
            "text": b"<r><a>" + filler + b"</a></r>",
            "tail": b"<r><a/>" + filler + b"</r>",
            "attribute": b'<r><a v="' + filler + b'"/></r>',
        }[shape]

    limits = XmlLimits(max_text_length=cap, max_bytes=64 * 1024 * 1024)
    run(doc(cap), limits)
    expect(XmlLimitError, run, doc(cap + 1), "max_text_length", limits=limits)


def test_max_text_length_counts_characters_not_bytes(run: Runner) -> None:
    limits = XmlLimits(max_text_length=10)
    run("<r>ệệệệệệệệệệ</r>".encode(), limits)  # 10 characters, 30 bytes
    expect(XmlLimitError, run, "<r>ệệệệệệệệệệệ</r>".encode(), limits=limits)


def test_streamed_elements_are_exempt_from_max_text_length_but_nothing_else() -> None:
    limits = XmlLimits(max_text_length=100)
    big = b"<r><blob>" + b"A" * 10_000 + b"</blob><small>ok</small></r>"
    rec = Recorder()
    feed_target(io.BytesIO(big), rec, source=SOURCE, limits=limits, streamed=["blob"])
    assert rec.text().count("A") == 10_000
    sibling = b"<r><blob>x</blob><small>" + b"B" * 101 + b"</small></r>"
    with pytest.raises(XmlLimitError, match="small"):
        feed_target(io.BytesIO(sibling), Recorder(), source=SOURCE, limits=limits, streamed=["blob"])
    tail = b"<r><blob>x</blob>" + b"C" * 101 + b"</r>"
    with pytest.raises(XmlLimitError):
        feed_target(io.BytesIO(tail), Recorder(), source=SOURCE, limits=limits, streamed=["blob"])


# -- bounded memory, measured in a child process ---------------------------------------------------

PROBE = r"""
import io, json, resource, sys
from gateway.errors import XmlError
from gateway.xml import XmlLimits, feed_target, parse_xml

case, path = sys.argv[1], sys.argv[2]
MB = 1 << 20

class Counter:
    def __init__(self): self.n = 0
    def start(self, *a): pass
    def end(self, *a): pass
    def data(self, d): self.n += len(d)
    def close(self): return self.n

def feed(limits=None, streamed=()):
    with open(path, "rb") as f:
        return feed_target(f, Counter(), source=path, limits=limits, streamed=streamed)

CASES = {
    "parse_path_default": lambda: parse_xml(path),
    "parse_path_200mb": lambda: parse_xml(path, limits=XmlLimits(max_bytes=200 * MB)),
    "parse_bytes_200mb": lambda: parse_xml(open(path, "rb").read(), source=path, limits=XmlLimits(max_bytes=200 * MB)),
    "parse_path_huge_text_limit": lambda: parse_xml(
        path, limits=XmlLimits(max_bytes=200 * MB, max_text_length=50_000_000)),
    "feed_default": lambda: feed(),
    "feed_200mb": lambda: feed(XmlLimits(max_bytes=200 * MB)),
    "feed_streamed": lambda: feed(XmlLimits(max_bytes=200 * MB), streamed=["big"]),
}

base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
try:
    result = CASES[case]()
    out = {"result": result if isinstance(result, int) else type(result).__name__}
except XmlError as exc:
    out = {"error": type(exc).__name__, "message": str(exc)[:500]}
out["growth_mb"] = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base) / 1024
print(json.dumps(out))
"""

TEXT_NODE_BYTES = 100 * 1024 * 1024


@pytest.fixture(scope="module")
def hundred_mb_text_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    path = tmp_path_factory.mktemp("huge") / "huge-text-node.edxml"
    block = b"QUJD" * (1 << 18)  # 1 MiB of base64-looking text
    with path.open("wb") as f:
        f.write(b'<?xml version="1.0"?>\n<r><big>')
        for _ in range(TEXT_NODE_BYTES // len(block)):
            f.write(block)
        f.write(b"</big></r>\n")
    yield path
    path.unlink()


def probe(case: str, path: Path) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run(
        [sys.executable, "-c", PROBE, case, str(path)],
        capture_output=True,
        text=True,
        timeout=100,
        cwd=REPO,
        env=env,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


@pytest.mark.parametrize(
    ("case", "error", "fragment", "bound_mb"),
    [
        ("parse_path_default", "XmlLimitError", "max_bytes", 16),  # refused before reading
        ("parse_path_200mb", "XmlLimitError", "too", 400),  # libxml2's own 10M text ceiling
        ("parse_bytes_200mb", "XmlLimitError", "too", 400),
        ("parse_path_huge_text_limit", "XmlLimitError", "max_text_length", 400),
        ("feed_default", "XmlLimitError", "max_", 100),
        ("feed_200mb", "XmlLimitError", "max_text_length", 100),
    ],
)
def test_hundred_megabyte_text_node(
    hundred_mb_text_node: Path, case: str, error: str, fragment: str, bound_mb: int
) -> None:
    out = probe(case, hundred_mb_text_node)
    assert out.get("error") == error, out
    assert fragment in out["message"] and str(hundred_mb_text_node) in out["message"], out
    assert out["growth_mb"] < bound_mb, out


def test_hundred_megabyte_text_node_streams_when_exempted(hundred_mb_text_node: Path) -> None:
    """Control: the streamed path really delivers all 100 MB, in bounded memory."""
    out = probe("feed_streamed", hundred_mb_text_node)
    assert out.get("result") == TEXT_NODE_BYTES, out
    assert out["growth_mb"] < 100, out


HOSTILE_SMALL = {
    "billion_laughs": BILLION_LAUGHS,
    "quadratic": quadratic_blowup(),
    "deep": nested(10_000),
}

SMALL_PROBE = r"""
import io, json, resource, sys
from gateway.errors import XmlError
from gateway.xml import feed_target, parse_xml
data = open(sys.argv[2], "rb").read()

class Sink:
    def start(self, *a): pass
    def end(self, *a): pass
    def data(self, d): pass
    def close(self): return None

base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
out = {}
for name, call in (("parse_xml", lambda: parse_xml(data, source="s")),
                   ("feed_target", lambda: feed_target(io.BytesIO(data), Sink(), source="s"))):
    try:
        call()
        out[name] = "accepted"
    except XmlError as exc:
        out[name] = type(exc).__name__
out["growth_mb"] = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base) / 1024
print(json.dumps(out))
"""


@pytest.mark.parametrize("name", sorted(HOSTILE_SMALL))
def test_entity_and_depth_attacks_stay_small_in_memory(tmp_path: Path, name: str) -> None:
    path = tmp_path / f"{name}.xml"
    path.write_bytes(HOSTILE_SMALL[name])
    proc = subprocess.run(
        [sys.executable, "-c", SMALL_PROBE, name, str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    expected = "XmlLimitError" if name == "deep" else "XmlSecurityError"
    assert out["parse_xml"] == out["feed_target"] == expected, out
    assert out["growth_mb"] < 50, out
