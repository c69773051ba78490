"""One clock reading per signature: the stamp's visible time is the time written into the signature.

pyHanko reads the machine's clock when a signing session starts and uses that reading for the
signature dictionary's ``/M`` (the signed claimed time of a PAdES signature: ETSI EN 319 142-1
forbids the CMS ``signing-time`` attribute there, pyHanko writes it only for non-PAdES
subfilters) and the appearance's ``%(ts)s``. :class:`SigningClock` takes that reading itself,
truncated to whole seconds (a PDF date and the stamp show seconds), and hands the same value to
pyHanko and to the stamp.

With a timestamp authority (B-T and above) the signing machine's clock is not the reference: the
TSA's is. :class:`RecordingTimeStamper` notes, for every token, the TSA's ``genTime`` and when the
request left and the answer came back; the clock learns the offset ``genTime − midpoint`` and
applies it to the next reading, so after the first token the stamp shows TSA time. After each
signature the token is compared with the time written into the signature: it must lie within
:data:`TIMESTAMP_TOLERANCE` (docs/signing.md, "Time"). The signer redoes a signature once when it
does not (the offset has just been learnt from the late or early token) and refuses after that.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from asn1crypto import cms

from gateway.signing.tsa_client import PooledHTTPTimeStamper

#: Largest accepted distance between the time written into a signature (and shown on its stamp)
#: and the genTime of its RFC 3161 signature timestamp. The token is requested after the
#: signature value exists, so genTime normally follows the signing time by the signing and
#: network delay (milliseconds to a few seconds with a token or HSM); 30 s leaves room for a slow
#: token and a TSA's one-second granularity while still telling a stamp apart from a wrong clock.
TIMESTAMP_TOLERANCE = timedelta(seconds=30)


@dataclass(frozen=True)
class TokenTime:
    """When one timestamp request left, when its answer arrived (local UTC) and the TSA's genTime."""

    sent: datetime
    received: datetime
    gen_time: datetime

    @property
    def offset(self) -> timedelta:
        """TSA clock minus local clock, measured at the request's midpoint."""
        return self.gen_time - (self.sent + (self.received - self.sent) / 2)


def token_gen_time(token: cms.ContentInfo) -> datetime:
    """The ``genTime`` of an RFC 3161 timestamp token (a CMS SignedData over a TSTInfo)."""
    info = token["content"]["encap_content_info"]["content"].parsed
    moment: datetime = info["gen_time"].native
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


class RecordingTimeStamper(PooledHTTPTimeStamper):
    """The kept-alive RFC 3161 client (:mod:`gateway.signing.tsa_client`) remembering the last token's timing."""

    def __init__(self, url: str, **kwargs: Any):
        super().__init__(url, **kwargs)
        self._local = threading.local()  # pyHanko runs each signature's event loop in the caller's thread

    @property
    def last(self) -> TokenTime | None:
        """The last token fetched in this thread since :meth:`forget`."""
        last: TokenTime | None = getattr(self._local, "last", None)
        return last

    def forget(self) -> None:
        self._local.last = None

    async def async_timestamp(self, message_digest: bytes, md_algorithm: str) -> cms.ContentInfo:
        sent = datetime.now(UTC)
        token: cms.ContentInfo = await super().async_timestamp(message_digest, md_algorithm)
        self._local.last = TokenTime(sent, datetime.now(UTC), token_gen_time(token))
        return token


class SigningClock:
    """Local UTC time plus the offset learnt from the TSA's tokens (zero until one is seen)."""

    def __init__(self) -> None:
        self.offset = timedelta(0)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        """One reading for one signature, in whole seconds (what UTCTime and the stamp can show)."""
        with self._lock:
            offset = self.offset
        return (datetime.now(UTC) + offset).replace(microsecond=0)

    def learn(self, token: TokenTime) -> None:
        with self._lock:
            self.offset = token.offset


def timestamp_gap(signing_time: datetime, gen_time: datetime) -> timedelta:
    """``genTime − signing time``: positive when the token follows the signature, as it should."""
    return gen_time - signing_time


def within_tolerance(signing_time: datetime, gen_time: datetime) -> bool:
    return abs(timestamp_gap(signing_time, gen_time)) <= TIMESTAMP_TOLERANCE

