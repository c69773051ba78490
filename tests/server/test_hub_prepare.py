"""sendEdoc's prepare step (HubService.prepare) after the hot-path trims of issue #13.

The body checks now look at the first bytes only, the outbound copy is built without the
recorded hop's JSON, and a new blob costs one stat: these tests pin what must not have changed
(leading whitespace of any length, the two refusal messages, an outbound copy that the delivery
path rebuilds to the recorded hash, a damaged existing blob rewritten).
"""

from __future__ import annotations

import hashlib
import uuid

import pytest

from gateway.blobstore import BlobStore
from gateway.config import HubSettings
from gateway.edxml import Organization, build_package
from gateway.edxml.directory import Directory
from gateway.edxml.samples import sample_edoc
from gateway.errors import SchemaValidationError
from gateway.ledger import Ledger
from gateway.server.hub import HubService, PreparedSubmission
from gateway.server.trace import outbound_bytes
from gateway.transport.hmac_auth import VerifiedRequest

pytestmark = pytest.mark.db


@pytest.fixture
def hub(hub_settings: HubSettings, ledger: Ledger):
    ledger.add_system("sys-h41", "secret-41", ["000.00.00.H41"])
    ledger.add_system("sys-g22", "secret-22", ["000.00.00.G22"])
    service = HubService(hub_settings, ledger, BlobStore(hub_settings.blob_dir, fsync=False), Directory())
    yield service
    service.close()


def _package(n: int) -> bytes:
    return build_package(sample_edoc(n, attachments=1, recipients=(Organization("000.00.00.G22"),)))


def _prepare(hub: HubService, body: bytes) -> PreparedSubmission:
    info = hub.ledger.system_credentials("sys-h41")[1]
    assert info is not None
    out = hub.prepare(body, VerifiedRequest("sys-h41", {}, None, uuid.uuid4().hex), info)
    assert isinstance(out, PreparedSubmission)
    return out


@pytest.mark.parametrize("lead", [b"", b"\n  ", b" " * 5000 + b"\r\n"])
def test_leading_whitespace_of_any_length_is_accepted_and_the_outbound_copy_rebuilds(hub, lead) -> None:
    body = lead + _package(41)
    draft = _prepare(hub, body + b"\r\n").draft
    assert draft.payload_sha256 == hashlib.sha256(body).hexdigest() and draft.payload_size == len(body)
    rebuilt = outbound_bytes(hub.blobs, draft.outbound_sha256, draft.payload_sha256, draft.trace_hop)
    assert hashlib.sha256(rebuilt).hexdigest() == draft.outbound_sha256 and len(rebuilt) == draft.outbound_size
    assert rebuilt.count(b"TraceHeader>") == body.count(b"TraceHeader>") + 2  # one more hop, open and close
    assert hub.settings.node_id.encode() in rebuilt and hub.settings.node_id.encode() not in body


@pytest.mark.parametrize("body", [b"hello <edXML/>", b" " * 5000 + b"PK\x03\x04 zip", b"\xef\xbb\xbf{json}"])
def test_a_body_that_does_not_start_like_xml_is_refused_naming_its_first_bytes(hub, body) -> None:
    with pytest.raises(SchemaValidationError) as info:
        _prepare(hub, body)
    start = body.lstrip()[:5].removeprefix(b"\xef\xbb\xbf")
    assert "is not an XML document" in str(info.value) and repr(start) in str(info.value)


@pytest.mark.parametrize("body", [b"", b"\r\n", b" \n\t" * 3000])
def test_a_blank_body_is_refused_as_empty(hub, body) -> None:
    with pytest.raises(SchemaValidationError, match="empty body"):
        _prepare(hub, body)


def test_a_damaged_existing_blob_is_rewritten_and_an_intact_one_kept(hub) -> None:
    data = _package(42)
    ref = hub.blobs.put_bytes(data)
    path = hub.blobs.path(ref.sha256)
    inode = path.stat().st_ino
    assert hub.blobs.put_bytes(data).sha256 == ref.sha256 and path.stat().st_ino == inode  # intact: kept
    path.chmod(0o600)
    path.write_bytes(data[:100])  # what a crash before the group sync can leave
    hub.blobs.put_bytes(data)
    assert path.read_bytes() == data
