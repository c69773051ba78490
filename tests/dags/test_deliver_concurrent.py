"""The delivery stage with several sendEdoc calls in flight, against a real hub on 127.0.0.1.

Sequential sends spend most of their time waiting for the hub's group commit, so ``deliver``
keeps up to ``concurrency`` packages in flight. What must not change with it: every package the
hub accepted has its receipt, the outcomes are reported in the order of the names, and refused
credentials stop the batch (nothing more is sent) without losing a receipt.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pytest
from exchange_kit import G22, H41
from patience import PATIENCE_S
from sqlalchemy import select

from gateway.airflow.defaults import exchange_params
from gateway.airflow.hook import ExchangeSettings
from gateway.edxml import Organization, build_package
from gateway.edxml.samples import sample_edoc
from gateway.errors import AuthorizationError, ConfigurationError
from gateway.exchange.outbound import DEFAULT_SEND_CONCURRENCY, OutboundFolders, deliver
from gateway.ledger.models import Submission
from gateway.transport.axis import AxisClient, DeliveryOutcome

pytestmark = pytest.mark.db


class _Watched:
    """A real AxisClient whose ``deliver`` records which package went out, and can be told to
    hold the first calls at a barrier (they only pass if that many are in flight together) or to
    answer one package with a refusal of the credentials."""

    def __init__(self, client: AxisClient, names_by_body: dict[bytes, str], *, together: int = 0,
                 refuse_credentials_for: str | None = None):
        self.client = client
        self.names_by_body = names_by_body
        self.barrier = threading.Barrier(together) if together > 1 else None
        self.refuse = refuse_credentials_for
        self.sent: list[str] = []
        self.calls = 0
        self.lock = threading.Lock()

    def deliver(self, data: bytes, **kw: Any) -> DeliveryOutcome:
        name = self.names_by_body[data]
        with self.lock:
            self.calls += 1
            first = self.calls <= (self.barrier.parties if self.barrier else 0)
        if first and self.barrier is not None:
            self.barrier.wait(PATIENCE_S)  # BrokenBarrierError if the sends were not concurrent
        if name == self.refuse:
            return DeliveryOutcome("refused", reason="refused:401", error="HTTP 401: wrong secret")
        with self.lock:
            self.sent.append(name)
        return self.client.deliver(data, **kw)


def _packages(folders: OutboundFolders, count: int) -> tuple[list[str], dict[bytes, str]]:
    names, bodies = [], {}
    for i in range(count):
        body = build_package(sample_edoc(600 + i, sender=Organization(H41, "UBND"),
                                         recipients=(Organization(G22, "VPCP"),)))
        name = f"doc{i:02d}"
        (folders.signed / f"{name}.edxml").write_bytes(body)
        names.append(name)
        bodies[body] = name
    return names, bodies


def _accepted_ids(hub: Any) -> set[str]:
    with hub.ledger.reader() as s:
        return set(s.scalars(select(Submission.document_id)))


def test_packages_go_out_together_and_are_reported_in_order_each_with_its_receipt(hub, tmp_path: Path) -> None:
    hub.ledger.add_system("sys-h41", "secret-h41", [H41])
    hub.ledger.add_system("sys-g22", "secret-g22", [G22])
    folders = OutboundFolders(tmp_path).make()
    names, bodies = _packages(folders, 12)
    with AxisClient(hub.url, "sys-h41", "secret-h41", retries=0, timeout=10) as real:
        watched = _Watched(real, bodies, together=4)
        result = deliver(watched, [*names[:6], "missing", *names[6:]], folders, concurrency=4)  # type: ignore[arg-type]
    assert [(i["source"], i["outcome"]) for i in result.report.items] == [
        *((n, "ok") for n in names[:6]), ("missing", "failed"), *((n, "ok") for n in names[6:])]
    receipts = {n: json.loads(folders.sent(n).read_text())["docId"] for n in names}
    assert len(set(receipts.values())) == 12 and all(receipts.values())
    assert [i.get("doc_id") for i in result.report.items if i["outcome"] == "ok"] == [receipts[n] for n in names]
    assert len(_accepted_ids(hub)) == 12 and sorted(watched.sent) == names
    # delivered ones are never sent again
    with AxisClient(hub.url, "sys-h41", "secret-h41", retries=0, timeout=10) as real:
        again = _Watched(real, bodies)
        result = deliver(again, names, folders, concurrency=4)  # type: ignore[arg-type]
    assert again.sent == [] and {i["outcome"] for i in result.report.items} == {"skipped"}


@pytest.mark.parametrize("concurrency", [1, 4])
def test_refused_credentials_stop_the_batch_and_every_accepted_package_keeps_its_receipt(
    hub, tmp_path: Path, concurrency: int
) -> None:
    hub.ledger.add_system("sys-h41", "secret-h41", [H41])
    hub.ledger.add_system("sys-g22", "secret-g22", [G22])
    folders = OutboundFolders(tmp_path).make()
    names, bodies = _packages(folders, 10)
    with AxisClient(hub.url, "sys-h41", "secret-h41", retries=0, timeout=10) as real:
        watched = _Watched(real, bodies, refuse_credentials_for=names[3])
        with pytest.raises(AuthorizationError, match="refused this system's credentials: HTTP 401"):
            deliver(watched, names, folders, concurrency=concurrency)  # type: ignore[arg-type]
    with_receipt = {n for n in names if folders.sent(n).exists()}
    assert with_receipt == set(watched.sent)  # accepted ⇔ receipt written, however many were in flight
    assert len(_accepted_ids(hub)) == len(watched.sent)
    assert names[3] not in with_receipt and not (folders.signed / f"{names[3]}.send.error.json").exists()
    if concurrency == 1:
        assert watched.sent == names[:3]  # nothing after the refusal went out
    else:
        assert len(watched.sent) < len(names) - 1  # the refusal stopped what was not yet sent


def test_the_send_concurrency_is_configurable_and_checked(tmp_path: Path) -> None:
    folders = OutboundFolders(tmp_path).make()
    with pytest.raises(ConfigurationError, match="send concurrency must be at least 1, not 0"):
        deliver(None, [], folders, concurrency=0)  # type: ignore[arg-type]
    assert ExchangeSettings().send_concurrency == DEFAULT_SEND_CONCURRENCY
    assert ExchangeSettings.resolve({"send_concurrency": "8"}, {}).send_concurrency == 8
    with pytest.raises(ConfigurationError, match="send_concurrency must be at least 1"):
        ExchangeSettings.resolve({"send_concurrency": 0}, {})
    param = exchange_params("outbound")["send_concurrency"]
    assert f"default {DEFAULT_SEND_CONCURRENCY}" in param.description
