"""The kept-alive TSA client (gateway/signing/tsa_client.py) against the local TSA over real HTTP.

Every test uses its own :class:`LocalTimestampAuthority` so the connection counters start at zero.
Outputs are checked by our verifier (B-T, trusted timestamp) and one of each kind by pdfsig.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable

import pytest

from gateway.cli import main
from gateway.errors import SignerUnavailableError
from gateway.signing.sign import DocumentSigner
from gateway.signing.testing import LocalTimestampAuthority, make_sample_pdf
from gateway.signing.tsa_client import PooledHTTPTimeStamper
from gateway.signing.verify import verify_pdf

from .conftest import PKI, pdfsig

PROFILES = str(PKI / "profiles.toml")


@pytest.fixture
def own_tsa():
    with LocalTimestampAuthority(PKI) as server:
        yield server


def _exit_code_in_child(work: Callable[[], object]) -> int:
    """Run ``work`` in a forked child: 0 when it returned, 1 when it raised; a hang ends with SIGALRM
    after 20 s. The child leaves with ``os._exit``, without running pytest's teardown."""
    pid = os.fork()
    if pid == 0:
        signal.alarm(20)
        try:
            work()
            code = 0
        except BaseException:
            code = 1
        os._exit(code)
    _pid, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


def _assert_bt(settings, out: bytes) -> None:
    (sig,) = verify_pdf(out, settings.trust).signatures
    assert sig.valid and sig.pades_level == "B-T" and sig.timestamp_trusted is True, sig


def test_one_connection_serves_the_whole_batch(settings, own_tsa, tmp_path, nssdb):
    with DocumentSigner(settings.profile("ubnd-thu-nghiem-bt"), tsa_url=own_tsa.url) as signer:
        outs = [signer.sign_main(make_sample_pdf(2, number=i)) for i in range(4)]
    assert own_tsa.requests == 4
    assert own_tsa.connections == 1  # kept alive: no connect per document
    for out in outs:
        _assert_bt(settings, out)
    path = tmp_path / "kept-alive.pdf"
    path.write_bytes(outs[-1])
    assert pdfsig(path, nssdb)[0]["Signature Validation"] == "Signature is Valid."


def test_connection_dropped_between_documents_is_replaced(settings, own_tsa):
    with DocumentSigner(settings.profile("ubnd-thu-nghiem-bt"), tsa_url=own_tsa.url) as signer:
        first = signer.sign_main(make_sample_pdf(2, number=1))
        assert own_tsa.drop_connections() == 1  # the TSA restarted / an idle timeout closed it
        second = signer.sign_main(make_sample_pdf(2, number=2))
    assert own_tsa.connections == 2 and own_tsa.requests == 2
    _assert_bt(settings, first)
    _assert_bt(settings, second)


def test_connection_broken_under_the_request_is_retried_once(settings, own_tsa):
    with DocumentSigner(settings.profile("ubnd-thu-nghiem-bt"), tsa_url=own_tsa.url) as signer:
        signer.sign_main(make_sample_pdf(2, number=1))
        own_tsa.hang_up_next = 1  # reads the request, closes without an answer
        out = signer.sign_main(make_sample_pdf(2, number=2))
    assert own_tsa.hang_up_next == 0 and own_tsa.requests == 2 and own_tsa.connections == 2
    _assert_bt(settings, out)


def test_failed_timestamp_fails_that_document_only(settings, own_tsa):
    with DocumentSigner(settings.profile("ubnd-thu-nghiem-bt"), tsa_url=own_tsa.url) as signer:
        before = signer.sign_main(make_sample_pdf(2, number=1))
        own_tsa.fail_next = 1  # HTTP 500 for one request: not retried, that document fails
        with pytest.raises(SignerUnavailableError, match="timestamp authority"):
            signer.sign_main(make_sample_pdf(2, number=2))
        own_tsa.hang_up_next = 2  # both tries broken: fails too, and not more than twice
        with pytest.raises(SignerUnavailableError, match="timestamp authority"):
            signer.sign_main(make_sample_pdf(2, number=3))
        after = signer.sign_main(make_sample_pdf(2, number=4))
    assert own_tsa.fail_next == 0 and own_tsa.hang_up_next == 0
    _assert_bt(settings, before)
    _assert_bt(settings, after)


def test_cli_batch_with_one_failed_timestamp_signs_the_rest(settings, own_tsa, tmp_path, capsys):
    inbox, outbox = tmp_path / "in", tmp_path / "out"
    inbox.mkdir()
    for i in range(4):
        (inbox / f"d{i}.pdf").write_bytes(make_sample_pdf(2, number=i))
    own_tsa.fail_next = 1  # the first document's timestamp fails
    code = main(["sign", str(inbox), "--profiles", PROFILES, "--profile", "ubnd-thu-nghiem-bt",
                 "--tsa-url", own_tsa.url, "-o", str(outbox)])
    err = capsys.readouterr()
    assert code == 1
    assert "d0.pdf: error: timestamp authority" in err.err and "signed 3 of 4 PDFs" in err.out
    assert sorted(p.name for p in outbox.iterdir()) == ["d1.pdf", "d2.pdf", "d3.pdf"]
    for p in outbox.iterdir():
        _assert_bt(settings, p.read_bytes())
    assert own_tsa.connections == 1  # the failure did not cost the kept-alive connection


def test_client_rejects_wrong_content_type_and_unreachable_tsa(own_tsa):
    import hashlib

    from pyhanko.sign.timestamps import TimestampRequestError

    stamper = PooledHTTPTimeStamper(own_tsa.url, timeout=5)
    _nonce, req = stamper.request_cms(hashlib.sha256(b"x").digest(), "sha256")
    assert stamper.post(req.dump())  # a DER TimeStampResp
    with pytest.raises(TimestampRequestError, match="HTTP 400"):
        stamper.post(b"not DER")  # the local TSA answers 400 text/plain
    own_tsa.stop()
    with pytest.raises(TimestampRequestError, match="contacting"):
        stamper.post(req.dump())
    with pytest.raises(ValueError):
        PooledHTTPTimeStamper("ftp://127.0.0.1/tsa")


def test_forked_child_opens_its_own_connection(own_tsa):
    """A pool made before ``fork`` is not shared: the child's token goes over a new connection."""
    import hashlib

    stamper = PooledHTTPTimeStamper(own_tsa.url, timeout=5)
    _nonce, req = stamper.request_cms(hashlib.sha256(b"fork").digest(), "sha256")
    stamper.post(req.dump())
    assert own_tsa.connections == 1
    assert _exit_code_in_child(lambda: stamper.post(req.dump())) == 0
    stamper.post(req.dump())  # the parent's connection is still its own and still works
    assert own_tsa.connections == 2 and own_tsa.requests == 3


def test_tokens_are_fetched_on_the_clients_own_thread_not_a_new_one_each(settings, own_tsa, monkeypatch):
    """Each sign_pdf has a new event loop; ``asyncio.to_thread`` started and joined a thread per token."""
    import threading

    ran_on: list[tuple[int, str]] = []
    post = PooledHTTPTimeStamper.post

    def recording(self, body: bytes) -> bytes:
        ran_on.append((threading.get_ident(), threading.current_thread().name))
        return post(self, body)

    monkeypatch.setattr(PooledHTTPTimeStamper, "post", recording)
    with DocumentSigner(settings.profile("ubnd-thu-nghiem-bt"), tsa_url=own_tsa.url) as signer:
        outs = [signer.sign_main(make_sample_pdf(2, number=i)) for i in range(5)]
    assert len(ran_on) == 5 and len({ident for ident, _ in ran_on}) == 1, ran_on
    assert all(name.startswith("lienthong-tsa") for _, name in ran_on), ran_on
    _assert_bt(settings, outs[-1])


def test_a_forked_child_gets_its_own_threads_for_the_async_path(own_tsa):
    """The parent's executor has no threads in the child: reusing it would wait forever."""
    import asyncio
    import hashlib

    stamper = PooledHTTPTimeStamper(own_tsa.url, timeout=5, pool_size=1)
    digest = hashlib.sha256(b"fork").digest()
    asyncio.run(stamper.async_timestamp(digest, "sha256"))  # the parent's one thread now exists
    assert _exit_code_in_child(lambda: asyncio.run(stamper.async_timestamp(digest, "sha256"))) == 0
    asyncio.run(stamper.async_timestamp(digest, "sha256"))
    stamper.close()
    assert own_tsa.requests == 3
