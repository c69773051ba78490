"""A stalled ledger writer: sendEdoc answers "retry" in bounded time instead of holding its caller.

The group commit normally answers in milliseconds; a disk that stops or a database lock held
elsewhere would otherwise keep every request (and, on the synchronous path, its thread) waiting
for ever. Here the writer's ``before_commit`` (where the hub syncs the batch's blobs) blocks until
the test lets it go, on both paths: the synchronous one (legacy push receipts) and the event loop's
(the axis sendEdoc).
"""

from __future__ import annotations

import asyncio
import threading
import uuid

import pytest
from patience import PATIENCE_S
from sqlalchemy import select

from gateway.blobstore import BlobStore
from gateway.config import HubSettings
from gateway.edxml import Organization, build_package
from gateway.edxml.directory import Directory
from gateway.edxml.samples import sample_edoc
from gateway.errors import LedgerError
from gateway.ledger import Ledger
from gateway.ledger.intake import IntakeCommitter
from gateway.ledger.models import Submission
from gateway.server.hub import HubService
from gateway.transport.hmac_auth import VerifiedRequest

pytestmark = pytest.mark.db

H41, G22 = "000.00.00.H41", "000.00.00.G22"


def _body(n: int) -> bytes:
    return build_package(sample_edoc(n, attachments=1, recipients=(Organization(G22),)))


def _document_ids(ledger: Ledger) -> set[str]:
    with ledger.reader() as s:
        return set(s.execute(select(Submission.document_id)).scalars())


def test_a_stalled_ledger_writer_answers_retry_on_both_paths_and_loses_nothing(
    hub_settings: HubSettings, ledger: Ledger
) -> None:
    ledger.add_system("sys-h41", "s-41", [H41])
    ledger.add_system("sys-g22", "s-22", [G22])
    hub = HubService(hub_settings, ledger, BlobStore(hub_settings.blob_dir, fsync=False), Directory())
    gate, entered = threading.Event(), threading.Event()

    def stalled_sync() -> None:
        entered.set()
        assert gate.wait(PATIENCE_S), "the test never released the writer"

    hub.intake = IntakeCommitter(ledger, before_commit=stalled_sync)
    hub.ledger_answer_timeout_s = 0.2
    sender = ledger.system_credentials("sys-h41", ttl=0)[1]
    assert sender is not None

    def request() -> VerifiedRequest:
        return VerifiedRequest("sys-h41", {}, None, uuid.uuid4().hex)

    try:
        first, second = _body(1), _body(2)
        with pytest.raises(LedgerError, match=r"did not answer within 0\.2 s; retry") as sync_refusal:
            hub.accept_recorded(first, request(), sender)
        assert sync_refusal.value.retryable and entered.is_set()  # the writer holds the first batch
        with pytest.raises(LedgerError, match=r"did not answer within 0\.2 s; retry") as async_refusal:
            asyncio.run(hub.accept_answer(second, request(), sender))
        assert async_refusal.value.retryable
        gate.set()
        # the batch the writer had taken is committed after all; the one still queued was withdrawn
        hub.intake.close(timeout=PATIENCE_S)
        ids = _document_ids(ledger)
        assert sample_edoc(1).header.document_id in ids and sample_edoc(2).header.document_id not in ids
        # the retries the answers asked for: the first is the same submission, the second a new one
        hub.intake = IntakeCommitter(ledger)
        hub.ledger_answer_timeout_s = PATIENCE_S
        assert not hub.accept_recorded(first, request(), sender).created
        doc_id, _note = asyncio.run(hub.accept_answer(second, request(), sender))
        assert doc_id and sample_edoc(2).header.document_id in _document_ids(ledger)
    finally:
        gate.set()
        hub.close()
