"""Test kit: real hubs on 127.0.0.1 (uvicorn in a thread, port chosen by the OS) and a hand-written client.

``sdk_headers`` is written from shared/docs/edxml-qcvn102.md §6.1/§6.2a alone, without importing
the gateway's own signing code, so the tests check the server against an independent reading of
the SDK's scheme.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import uvicorn

from gateway.config import HubSettings
from gateway.server import create_app

VN = timezone(timedelta(hours=7))


def free_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class RunningHub:
    def __init__(self, settings: HubSettings, sock: socket.socket):
        self.settings = settings
        self.sock = sock
        self.port = sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.app = create_app(settings, migrate=True)
        self.server = uvicorn.Server(uvicorn.Config(self.app, log_level="warning", lifespan="on"))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [sock]}, daemon=True)

    @property
    def ledger(self):
        return self.app.state.hub.ledger

    def start(self) -> RunningHub:
        self.thread.start()
        deadline = time.monotonic() + 15
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("hub did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)
        self.sock.close()


@contextmanager
def running_hubs(*settings: HubSettings, socks: list[socket.socket] | None = None) -> Iterator[list[RunningHub]]:
    hubs = [RunningHub(s, sock) for s, sock in zip(settings, socks or [free_socket() for _ in settings], strict=True)]
    try:
        for hub in hubs:
            hub.start()
        yield hubs
    finally:
        for hub in hubs:
            hub.stop()


# -- an independent client, from the doc ---------------------------------------------------------

def sdk_timestamp(moment: datetime | None = None) -> str:
    moment = (moment or datetime.now(VN)).astimezone(VN)
    return moment.strftime("%d%m%YT%H%M%S") + "+" + f"{moment.microsecond // 1000:04d}"


def sdk_hash_file(data: bytes) -> str:
    return "".join(hex(b)[2:] for b in hashlib.sha256(data).digest())


def sdk_headers(system_id: str, secret: str, header_object: dict[str, str], content_type: str,
                timestamp: str | None = None) -> dict[str, str]:
    names = {"timestamp": timestamp or sdk_timestamp(), "systemid": system_id, "Content-Type": content_type,
             **header_object}
    signed = {"XroadVnpt-" + k: v for k, v in names.items()}
    sign_header = json.dumps(signed, separators=(",", ":"), ensure_ascii=False)
    headers = dict(signed)
    headers["XroadVnpt-sign-header-key"] = ";".join(names)
    headers["XroadVnpt-sign-header"] = sign_header
    headers["XroadVnpt-hash-header"] = hmac.new(secret.encode(), sign_header.encode(), hashlib.sha256).hexdigest()
    headers["XroadVnpt-version"] = "3.0.201608"
    headers["User-Agent"] = "JAVASDKAgent/1.0.0 XRoad/VPCP"
    headers["Content-Type"] = content_type
    return headers


def sdk_send(url: str, system_id: str, secret: str, data: bytes, messagetype: str = "edoc",
             timestamp: str | None = None, tamper: dict[str, str] | None = None) -> httpx.Response:
    """sendEdoc as the SDK's example does it: no ``to`` header, body = file + CRLF."""
    headers = sdk_headers(system_id, secret, {"from": system_id, "servicetype": "eDoc", "messagetype": messagetype,
                                              "hash-file": sdk_hash_file(data)},
                          "application/octet-stream", timestamp)
    headers.update(tamper or {})
    # generous: a heavy package's first parse starts a sandbox worker (tens of seconds at load 20)
    return httpx.post(f"{url}/sendEdoc", content=data + b"\r\n", headers=headers, timeout=120)


def sdk_call(url: str, op: str, system_id: str, secret: str, header_object: dict[str, str],
             body: bytes = b"{}", method: str = "POST") -> httpx.Response:
    headers = sdk_headers(system_id, secret, header_object, "application/json")
    return httpx.request(method, f"{url}/{op}", content=body if method == "POST" else None, headers=headers,
                         timeout=30)


def send_through_relay(hub_a: RunningHub, hub_b: RunningHub, count: int, first: int,
                       recipient: str = "000.00.00.G22") -> list:
    """Register the relay pair's systems (sys-h41 on A, A's upstream account and ``recipient``'s
    system on B) and send ``count`` one-attachment documents to A; every answer must be OK."""
    from gateway.edxml import Organization, build_package
    from gateway.edxml.samples import sample_edoc

    hub_a.ledger.add_system("sys-h41", "s-h41", ["000.00.00.H41"])
    hub_b.ledger.add_system("A-at-B", "secret-ab", ["*"], kind="hub")
    hub_b.ledger.add_system("sys-g22", "s-g22", [recipient])
    edocs = [sample_edoc(first + i, attachments=1, recipients=(Organization(recipient),)) for i in range(count)]
    for edoc in edocs:
        r = sdk_send(hub_a.url, "sys-h41", "s-h41", build_package(edoc))
        assert r.json()["status"] == "OK", r.text
    return edocs


def wait_for(predicate, timeout: float = 20.0, interval: float = 0.05):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(interval)


# -- the official SDK's client *instance*, replayed from its decompiled code ----------------------

class SdkResult:
    """What the SDK's result object would hold: ``None`` fields where it read nothing."""

    def __init__(self, status=None, error_code=None, error_desc=None, doc_id=None, data=None, count=None):
        self.status, self.error_code, self.error_desc = status, error_code, error_desc
        self.doc_id, self.data, self.count = doc_id, data, count

    def __repr__(self) -> str:
        return f"SdkResult({vars(self)!r})"


def _gson(value: str) -> str:
    """Gson's JsonObject.toString escaping of one string (HTML-safe: < > & = ' as \\uXXXX)."""
    out = json.dumps(value, ensure_ascii=False)
    for ch in "<>&='":
        out = out.replace(ch, f"\\u{ord(ch):04x}")
    return out


class SdkInstance:
    """One ``KnobstickServiceImp``/``AgencyServiceImp`` object, as agency software keeps it.

    Reproduces VnptService: the header map lives in the instance and is never cleared (every
    call ``put``s its keys over the previous ones, ``hash-file`` included); ``timestamp`` is set
    once, in the constructor, as ``SimpleDateFormat("ddMMyyyy'T'HHmmss+SSSS")`` of the JVM's
    local time (``zone``); the signed JSON follows the HashMap's iteration order (arbitrary:
    here, sorted by a hash of the name); sendEdoc's body is the file + CRLF; each result parser
    reads its keys with ``get(k).getAsString()`` and returns ``None`` when one is missing (the
    NullPointerException the SDK swallows).
    """

    def __init__(self, url: str, system_id: str, secret: str, *, zone: timezone = VN,
                 created: datetime | None = None):
        self.url, self.secret = url, secret
        moment = (created or datetime.now(zone)).astimezone(zone)
        self.headers: dict[str, str] = {
            "timestamp": moment.strftime("%d%m%YT%H%M%S") + "+" + f"{moment.microsecond // 1000:04d}",
            "systemid": system_id,
        }
        self.last_request: dict[str, str] = {}

    # the HashMap order: arbitrary but stable for a given key set
    def _ordered(self) -> list[tuple[str, str]]:
        return sorted(self.headers.items(), key=lambda kv: hashlib.md5(kv[0].encode()).hexdigest())

    def signed_headers(self) -> dict[str, str]:
        items = self._ordered()
        sign_header = "{" + ",".join(f"{_gson('XroadVnpt-' + k)}:{_gson(v)}" for k, v in items) + "}"
        out = {"XroadVnpt-" + k: v.encode().decode("latin-1") for k, v in items}
        out["Content-Type"] = self.headers["Content-Type"]
        out["XroadVnpt-sign-header-key"] = ";".join(k for k, _ in items)
        out["XroadVnpt-sign-header"] = sign_header.encode().decode("latin-1")
        out["XroadVnpt-hash-header"] = hmac.new(self.secret.encode(), sign_header.encode(), hashlib.sha256).hexdigest()
        out["User-Agent"] = "JAVASDKAgent/1.0.0 XRoad/VPCP"
        out["XroadVnpt-version"] = "3.0.201608"
        return out

    def _put(self, header_object: dict, content_type: str, to_as_json: bool = False) -> None:
        self.headers["Content-Type"] = content_type
        for k, v in header_object.items():
            self.headers[k] = json.dumps(v, separators=(",", ":")) if (to_as_json and k == "to") else str(v)

    def _post(self, op: str, body: bytes | None, method: str = "POST") -> httpx.Response:
        self.last_request = self.signed_headers()
        return httpx.request(method, f"{self.url}/{op}", content=body, headers=self.last_request, timeout=30)

    @staticmethod
    def _read(response: httpx.Response, *keys: str) -> SdkResult | None:
        try:
            obj = json.loads(response.text)
            base = [obj[k] for k in ("status", "ErrorCode", "ErrorDesc")]
            if any(not isinstance(v, str) for v in base):
                return None  # getAsString on a non-string element throws
            result = SdkResult(*base)
            if "DocId" in keys:
                if not isinstance(obj["DocId"], str):
                    return None
                result.doc_id = obj["DocId"]
            if "data" in keys and result.error_code == "0":
                result.data = obj["data"]
            if "data64" in keys and result.status != "FAIL":
                result.data = base64.b64decode(obj["data"])
            if "count" in keys and result.status != "FAIL":
                result.count = int(obj["count"])
            return result
        except (KeyError, ValueError, TypeError):
            return None

    # KnobstickServiceImp
    def send_edoc(self, header_object: dict, data: bytes) -> SdkResult | None:
        self._put(header_object, "application/octet-stream", to_as_json=True)
        self.headers["hash-file"] = "".join(format(b, "x") for b in hashlib.sha256(data).digest())
        return self._read(self._post("sendEdoc", data + b"\r\n"), "DocId")

    def get_received_edoc_list(self, header_object: dict) -> SdkResult | None:
        self._put(header_object, "application/json")
        return self._read(self._post("getReceivedEdocList", b""), "data")

    def get_sent_edoc_list(self, header_object: dict) -> SdkResult | None:
        self._put(header_object, "application/json")
        return self._read(self._post("getSentEdocList", b""), "data")

    def get_edoc(self, header_object: dict) -> SdkResult | None:
        self._put(header_object, "application/json")
        return self._read(self._post("getEdoc", b"{}"), "data64")

    def download_edoc(self, header_object: dict) -> SdkResult:
        """SUCCESS whenever the body written to ``<docId>.edxml`` is not empty (the SDK's rule)."""
        self._put(header_object, "application/json")
        body = self._post("downloadEdoc", None, "GET").content
        return SdkResult("SUCCESS", "0", data=body) if body else SdkResult("FAIL", "100")

    def update_status(self, header_object: dict) -> SdkResult | None:
        self._put(header_object, "application/json")
        return self._read(self._post("updateStatus", b"{}"))

    def count_receive_edoc(self, header_object: dict | None = None) -> SdkResult | None:
        self._put(header_object or {}, "application/json")
        return self._read(self._post("countReceiveEdoc", None, "GET"), "count")

    # AgencyServiceImp
    def get_agencies_list(self, header_object: dict | None = None) -> SdkResult | None:
        self._put(header_object or {}, "application/json")
        return self._read(self._post("getAgenciesList", b""), "data")

    def register_agency(self, header_object: dict, data: dict) -> SdkResult | None:
        self._put(header_object, "application/json")
        return self._read(self._post("registerAgency", json.dumps(data).encode()))

    def delete_agency(self, header_object: dict) -> SdkResult | None:
        self._put(header_object, "application/json")
        return self._read(self._post("deleteAgency", b""))


class CyclingProxy(ThreadingHTTPServer):
    """A proxy on 127.0.0.1 in front of ``target``: every other request gets the next failure mode.

    Deterministic (ok, modes[0], ok, modes[1], …) so every mode shows in a short run; ``counts``
    says how often each was served. Subclasses set ``modes`` and pass their request handler.
    """

    daemon_threads = True
    modes: tuple[str, ...] = ()

    def __init__(self, target: str, handler: type[BaseHTTPRequestHandler]):
        self.target = target
        self.lock = threading.Lock()
        self.counts: dict[str, int] = {}
        super().__init__(("127.0.0.1", 0), handler)

    def pick(self) -> str:
        with self.lock:
            k = sum(self.counts.values())
            mode = "ok" if k % 2 == 0 else self.modes[(k // 2) % len(self.modes)]
            self.counts[mode] = self.counts.get(mode, 0) + 1
            return mode
