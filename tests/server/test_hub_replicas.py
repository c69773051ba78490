"""Three ``lienthong serve`` processes over one database and one blob store (docs/scaling.md).

The replica layout of a larger deployment, on one machine: three real server processes on
127.0.0.1 share one ledger database (PostgreSQL under ``make test-pg``, one SQLite file otherwise:
the ledger queues SQLite writers of several processes on a file lock) and one data directory
(blob store + ledger key), as replicas behind a load balancer share a database and a shared
filesystem. Concurrent SDK-style clients spread their sendEdoc calls over the three; the test then
shows, with no timing assertion:

* every process accepted work, and what each process logged as accepted adds up to the total;
* every accepted DocumentId is in the ledger exactly once, under the DocId its client was given,
  with one delivery message, its blob present and intact, and the audit chain verifies;
* the same package sent again to another process is the same submission (same DocId);
* the receiving system, listing / fetching / acknowledging through different processes in turn,
  gets each document exactly once, and nothing is listed after it was acknowledged.

Throughput of the same layout is printed by ``bench/bench_scaling.py`` (not asserted here).
"""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import threading
from collections import Counter
from pathlib import Path

import httpx
import pytest
from hubkit import free_port, sdk_call, sdk_send, wait_for
from sqlalchemy import func, select

from gateway.blobstore import BlobStore
from gateway.config import HubSettings
from gateway.edxml import Organization, build_package, parse_package
from gateway.edxml.samples import sample_edoc
from gateway.ledger import Ledger, verify_chain
from gateway.ledger.models import Message, Submission

pytestmark = [pytest.mark.db, pytest.mark.slow]

H41, G22 = "000.00.00.H41", "000.00.00.G22"
REPLICAS = 3
PACKAGES = 45
CLIENTS = 6


class Replica:
    """One ``lienthong serve`` process; its stderr (JSON log lines) goes to its own file."""

    def __init__(self, n: int, settings: HubSettings, log_dir: Path):
        self.n = n
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log_dir / f"serve-{n}.log"
        env = {**os.environ, "LIENTHONG_DATA_DIR": str(settings.data_dir),
               "LIENTHONG_DATABASE_URL": settings.database_url, "LIENTHONG_NODE_ID": "REPLICAS.W00"}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "gateway", "serve", "--port", str(self.port), "--no-migrate"],
            env=env, stdout=subprocess.DEVNULL, stderr=self.log.open("wb"),
        )

    def up(self) -> bool:
        if self.proc.poll() is not None:
            raise AssertionError(f"replica {self.n} exited: {self.log.read_text()[-2000:]}")
        try:
            return httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)

    def accepted_in_log(self) -> list[str]:
        """DocIds this process logged as newly accepted (its own server-side count)."""
        out = []
        for line in self.log.read_text(encoding="utf-8").splitlines():
            if line.strip():
                record = json.loads(line)
                if record.get("msg") == "package accepted":
                    out.append(record["doc_id"])
        return out


def _ok(response: httpx.Response) -> dict:
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "OK", body
    return body


def test_three_replicas_share_the_work_and_lose_or_duplicate_nothing(tmp_path: Path, database_url: str) -> None:
    settings = HubSettings(data_dir=tmp_path / "data", database_url=database_url)
    led = Ledger.open(settings)  # the schema is upgraded once, before the replicas start (--no-migrate)
    led.add_system("sys-h41", "s-h41", [H41])
    led.add_system("sys-g22", "s-g22", [G22])
    led.close()
    packages = [build_package(sample_edoc(30_000 + i, attachments=1, recipients=(Organization(G22),)))
                for i in range(PACKAGES)]
    document_ids = [parse_package(p).package.header.document_id for p in packages]
    replicas = [Replica(n, settings, tmp_path) for n in range(REPLICAS)]
    try:
        for r in replicas:
            wait_for(r.up, timeout=120, interval=0.1)  # a deadline, not a timing goal: start-up under load

        accepted: dict[int, tuple[int, str]] = {}  # package index -> (replica, DocId)
        failures: list[str] = []
        lock = threading.Lock()
        todo = iter(range(PACKAGES))

        def client() -> None:
            while True:
                with lock:
                    i = next(todo, None)
                if i is None:
                    return
                replica = replicas[i % REPLICAS]  # the load balancer's round robin
                r = sdk_send(replica.url, "sys-h41", "s-h41", packages[i])
                body = r.json() if r.status_code == 200 else {}
                with lock:
                    if body.get("status") == "OK":
                        accepted[i] = (replica.n, body["DocId"])
                    else:
                        failures.append(f"#{i} on replica {replica.n}: {r.status_code} {r.text[:200]}")

        threads = [threading.Thread(target=client) for _ in range(CLIENTS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(300)
        assert not failures, failures
        assert len(accepted) == PACKAGES

        # the same package through another replica: the same submission, nothing new
        for i in range(0, PACKAGES, 7):
            n, doc_id = accepted[i]
            again = _ok(sdk_send(replicas[(n + 1) % REPLICAS].url, "sys-h41", "s-h41", packages[i]))
            assert again["DocId"] == doc_id

        # the receiver lists on one replica, fetches on the next, acknowledges on the third
        received: list[str] = []
        turn = 0
        while True:
            lister, fetcher, acker = (replicas[(turn + k) % REPLICAS] for k in range(3))
            turn += 1
            items = _ok(sdk_call(lister.url, "getReceivedEdocList", "sys-g22", "s-g22",
                                 {"servicetype": "eDoc", "messagetype": "edoc"}, body=b""))["data"]
            if not items:
                break
            for item in items[:10]:  # a few per round, so every replica lists some
                data = base64.b64decode(_ok(sdk_call(fetcher.url, "getEdoc", "sys-g22", "s-g22",
                                                     {"docId": item["docId"]}))["data"])
                received.append(parse_package(data).package.header.document_id)
                _ok(sdk_call(acker.url, "updateStatus", "sys-g22", "s-g22",
                             {"docid": item["docId"], "status": "done"}))
            assert turn <= PACKAGES + REPLICAS, "the received list does not drain"
        for r in replicas:  # drained everywhere, not just on the replica asked last
            assert _ok(sdk_call(r.url, "getReceivedEdocList", "sys-g22", "s-g22",
                                {"servicetype": "eDoc", "messagetype": "edoc"}, body=b""))["data"] == []
    finally:
        for r in replicas:
            r.stop()

    # each replica accepted work; the server-side per-process counts add up to the total
    client_side = Counter(n for n, _ in accepted.values())
    logged = {r.n: r.accepted_in_log() for r in replicas}
    print(f"\naccepted per replica (client / server log): "
          f"{[(client_side[r.n], len(logged[r.n])) for r in replicas]}, total {len(accepted)}")
    for r in replicas:
        assert client_side[r.n] > 0 and len(logged[r.n]) == client_side[r.n], (r.n, client_side, logged)
        assert set(logged[r.n]) == {d for n, d in accepted.values() if n == r.n}
    assert sum(len(v) for v in logged.values()) == PACKAGES

    # the receiver got each document exactly once
    assert sorted(received) == sorted(document_ids) and len(set(received)) == PACKAGES

    # the ledger: each DocumentId once, under the DocId its client got; one message each; blobs intact
    blobs = BlobStore(settings.blob_dir)
    led = Ledger.open(settings)
    try:
        with led.reader() as s:
            rows = s.execute(select(Submission.doc_id, Submission.document_id, Submission.payload_sha256)).all()
            messages = s.execute(select(Message.doc_id, Message.payload_sha256, Message.source_sha256)).all()
            per_doc = s.execute(select(Submission.document_id, func.count()).group_by(Submission.document_id)
                                .having(func.count() > 1)).all()
            report = verify_chain(s)
    finally:
        led.close()
    assert per_doc == []
    assert len(rows) == PACKAGES and {d for _, d, _ in rows} == set(document_ids)
    assert {doc_id for doc_id, _, _ in rows} == {d for _, d in accepted.values()}
    assert len(messages) == PACKAGES
    for _doc_id, _document_id, sha in rows:
        with blobs.open(sha, verify=True) as f:  # present, and its bytes still hash to its name
            f.read()
    for _doc_id, sha, source in messages:
        assert blobs.exists(source or sha)
    assert report.ok, report.problems
