"""Benchmark: stamp and sign two-page PDFs with the Decree 30 main-document appearance.

Measures, in one run and with the same worker processes:

* floor: plain pyHanko, invisible signature, pre-loaded RSA-2048 key, ``bytes_reserved`` given;
* main: ``DocumentSigner.sign_main`` with the agency seal found from the placeholder text, B-B;
* B-T: the same with an RFC 3161 timestamp from the local TSA over HTTP (127.0.0.1).

Prints PDFs/s for each and the ratio main/floor. Goal (issue 4): main >= 30 PDFs/s on this
machine (2 cores) and within 2x of the floor. Every output is checked to contain a signature
(the first one of each kind is fully verified) so a broken signer cannot look fast.

Verification (issue 8), single process, same run: signed two-page PDFs (person signature, then
the agency seal over it) verified by pyHanko's bare ``validate_pdf_signature`` (each signature,
same trust roots and CRLs), by ``verify_pdf`` without the rendered-page comparison, and by
``verify_pdf`` with it. Goal: the visual check costs no more than 3x the bare validation.

B-T (issue 13), same run: the ratio B-T / B-B and the CPU per PDF of the signers and of the local
TSA (its threads run in this process). Goal: B-T >= 0.85x B-B and >= 80 PDFs/s.

Run: ``.venv/bin/python bench/bench_signing.py [--docs 200] [--workers 2] [--verify-docs 40] [--sign-only]``
"""

from __future__ import annotations

import argparse
import io
import multiprocessing as mp
import os
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gateway.signing.profiles import SigningSettings, load_signing_settings  # noqa: E402
from gateway.signing.testing import LocalTimestampAuthority, make_sample_pdf  # noqa: E402

PKI = ROOT / "certs.example"
_state: dict[str, Any] = {}


def _init(kind: str, tsa_url: str | None) -> None:
    import logging

    logging.getLogger("pyhanko").setLevel(logging.ERROR)
    settings = load_signing_settings(PKI / "profiles.toml")
    if kind == "floor":
        from pyhanko.sign import fields, signers

        from gateway.signing.keys import open_key

        key = open_key(settings.profile("ubnd-thu-nghiem").key)
        meta = signers.PdfSignatureMetadata(
            field_name="Floor", md_algorithm="sha256", subfilter=fields.SigSeedSubFilter.PADES
        )
        _state["floor"] = signers.PdfSigner(meta, signer=key.signer)
    else:
        from gateway.signing.sign import DocumentSigner

        name = "ubnd-thu-nghiem" if kind == "main" else "ubnd-thu-nghiem-bt"
        _state["signer"] = signer = DocumentSigner(settings.profile(name), settings.trust, tsa_url=tsa_url)
        if kind == "bt-stock" and tsa_url:
            signer.timestamper = _stock_timestamper(tsa_url)  # type: ignore[assignment]


def _stock_timestamper(url: str) -> Any:
    """pyHanko's own ``HTTPTimeStamper`` (a new aiohttp session per token), timed like ours: the baseline."""
    from datetime import UTC, datetime

    from pyhanko.sign.timestamps import HTTPTimeStamper

    from gateway.signing.clock import TokenTime, token_gen_time

    class Stock(HTTPTimeStamper):  # type: ignore[misc]
        last: TokenTime | None = None

        def forget(self) -> None:
            self.last = None

        def close(self) -> None:
            return None

        async def async_timestamp(self, message_digest: bytes, md_algorithm: str) -> Any:
            sent = datetime.now(UTC)
            token = await super().async_timestamp(message_digest, md_algorithm)
            self.last = TokenTime(sent, datetime.now(UTC), token_gen_time(token))
            return token

    return Stock(url, timeout=10)


def _work(args: tuple[str, bytes]) -> tuple[int, float]:
    kind, pdf = args
    c0 = time.process_time()
    if kind == "floor":
        from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

        out = _state["floor"].sign_pdf(IncrementalPdfFileWriter(io.BytesIO(pdf)), bytes_reserved=16384).getvalue()
    else:
        out = _state["signer"].sign_main(pdf)
    assert b"/ETSI.CAdES.detached" in out
    return len(out), time.process_time() - c0


CPU: dict[str, tuple[float, float]] = {}  # kind -> (signer CPU s per PDF, this process's CPU s per PDF)


def run(kind: str, pdfs: list[bytes], workers: int, tsa_url: str | None = None) -> float:
    """Seconds to sign all ``pdfs`` with ``workers`` processes (start-up and key loading excluded).

    Also records in ``CPU`` the signers' CPU per PDF and this process's (the local TSA's threads
    run here, so for B-T it is the TSA's CPU per token).
    """
    ctx = mp.get_context("fork")
    with ctx.Pool(workers, initializer=_init, initargs=(kind, tsa_url)) as pool:
        pool.map(_work, [(kind, pdfs[0])] * workers, chunksize=1)  # warm every worker (and its TSA connection)
        t0, c0 = time.perf_counter(), time.process_time()
        results = pool.map(_work, [(kind, p) for p in pdfs], chunksize=4)
        elapsed, here = time.perf_counter() - t0, time.process_time() - c0
    assert len(results) == len(pdfs)
    CPU[kind] = (sum(c for _n, c in results) / len(pdfs), here / len(pdfs))
    return elapsed


def check_outputs(settings: SigningSettings, tsa_url: str, pdf: bytes) -> None:
    from gateway.signing.sign import DocumentSigner
    from gateway.signing.verify import verify_pdf

    for name, level in (("ubnd-thu-nghiem", "B-B"), ("ubnd-thu-nghiem-bt", "B-T")):
        with DocumentSigner(settings.profile(name), tsa_url=tsa_url) as s:
            report = verify_pdf(s.sign_main(pdf), settings.trust)
        assert report.valid and report.signatures[0].pades_level == level, report.to_dict()


def bench_verification(settings: SigningSettings, pdfs: list[bytes]) -> dict[str, float]:
    """Seconds to verify ``pdfs`` (already signed) bare, without and with the visual comparison."""
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.validation import validate_pdf_signature

    from gateway.signing.trust import validation_context
    from gateway.signing.verify import verify_pdf

    def bare(pdf: bytes) -> None:
        for embedded in PdfFileReader(io.BytesIO(pdf)).embedded_signatures:
            ctx = validation_context(settings.trust, revocation_mode="hard-fail")
            status = validate_pdf_signature(embedded, ctx)
            assert status.intact and status.valid and status.trusted

    def ours(visual: bool) -> Any:
        def run_one(pdf: bytes) -> None:
            report = verify_pdf(pdf, settings.trust, visual=visual)
            assert report.valid, report.to_dict()

        return run_one

    out: dict[str, float] = {}
    for name, fn in (("bare", bare), ("no-visual", ours(False)), ("visual", ours(True))):
        fn(pdfs[0])  # warm up
        t0 = time.perf_counter()
        for pdf in pdfs:
            fn(pdf)
        out[name] = time.perf_counter() - t0
    return out


def signed_two_signature_pdfs(settings: SigningSettings, n: int) -> list[bytes]:
    from gateway.signing.sign import DocumentSigner

    with DocumentSigner(settings.profile("nguyen-van-an")) as person, \
            DocumentSigner(settings.profile("ubnd-thu-nghiem")) as agency:
        return [agency.sign_main(person.sign_main(make_sample_pdf(2, number=i))) for i in range(n)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=200)
    parser.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1))
    parser.add_argument("--bt-docs", type=int, default=100)
    parser.add_argument("--verify-docs", type=int, default=40)
    parser.add_argument("--verify-only", action="store_true", help="run only the verification benchmark")
    parser.add_argument("--sign-only", action="store_true", help="skip the verification benchmark")
    args = parser.parse_args()
    import logging

    logging.getLogger("pyhanko").setLevel(logging.CRITICAL)
    logging.getLogger("pyhanko_certvalidator").setLevel(logging.CRITICAL)
    settings = load_signing_settings(PKI / "profiles.toml")
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())} (cpu count {os.cpu_count()})")
    if not args.sign_only:
        verification(settings, args.verify_docs)
    if not args.verify_only:
        signing(settings, args)


def verification(settings: SigningSettings, docs: int) -> None:
    signed = signed_two_signature_pdfs(settings, docs)
    v = bench_verification(settings, signed)
    m = len(signed)
    print(f"verification of {m} two-page PDFs with 2 signatures (person + seal), single process:")
    for name in ("bare", "no-visual", "visual"):
        print(f"  {name:10s} {m / v[name]:7.1f} PDFs/s ({1000 * v[name] / m:.1f} ms/PDF)")
    ratio = v["visual"] / v["bare"]
    print(f"  ratio visual / bare pyHanko: {ratio:.2f}x, no-visual / bare: {v['no-visual'] / v['bare']:.2f}x "
          f"(goal: visual <= 3.0x) -> {'MET' if ratio <= 3.0 else 'NOT MET'}")


def signing(settings: SigningSettings, args: argparse.Namespace) -> None:
    pdfs = [make_sample_pdf(2, number=i) for i in range(args.docs)]
    with LocalTimestampAuthority(PKI) as tsa:
        check_outputs(settings, tsa.url, pdfs[0])
        floor = run("floor", pdfs, args.workers)
        main_t = run("main", pdfs, args.workers)
        floor_1 = run("floor", pdfs[:50], 1)
        main_1 = run("main", pdfs[:50], 1)
        bt = run("bt", pdfs[: args.bt_docs], args.workers, tsa.url)
        bt_stock = run("bt-stock", pdfs[: args.bt_docs], args.workers, tsa.url)

    n = len(pdfs)
    print(f"PDFs: {n} two-page A4, RSA-2048, workers: {args.workers} (cpu count {os.cpu_count()})")
    print(f"floor (pyHanko invisible, cached key): {n / floor:7.1f} PDFs/s ({1000 * floor / n:.1f} ms/PDF wall)")
    print(f"main appearance, B-B (seal + placeholder): {n / main_t:7.1f} PDFs/s ({1000 * main_t / n:.1f} ms/PDF wall)")
    print(f"ratio main / floor: {main_t / floor:.2f}x   (goal: <= 2.0x, >= 30 PDFs/s)")
    print(
        f"single worker: floor {50 / floor_1:.1f} PDFs/s, main {50 / main_1:.1f} PDFs/s, ratio {main_1 / floor_1:.2f}x"
    )
    bt_rate, bb_rate = args.bt_docs / bt, n / main_t
    print(f"main appearance, B-T via local TSA over HTTP: {bt_rate:7.1f} PDFs/s (kept-alive connection)")
    print(f"  same, pyHanko's HTTPTimeStamper (new session per token): {args.bt_docs / bt_stock:7.1f} PDFs/s")
    verdict = "MET" if n / main_t >= 30 and main_t / floor <= 2.0 else "NOT MET"
    print(f"goal {verdict}")
    print("CPU per PDF (signer processes; local TSA in this process):")
    for kind in ("floor", "main", "bt", "bt-stock"):
        signer_cpu, here = CPU[kind]
        tsa_cpu = f", TSA {1000 * here:5.1f} ms" if kind.startswith("bt") else ""
        print(f"  {kind:8s} signer {1000 * signer_cpu:6.1f} ms{tsa_cpu}")
    ratio = bt_rate / bb_rate
    bb_cpu, (bt_cpu, tsa_cpu) = CPU["main"][0], CPU["bt"]
    print(f"CPU-bound ratio B-B CPU / (B-T signer + TSA CPU): {bb_cpu / (bt_cpu + tsa_cpu):.2f}x "
          f"(what a quiet machine whose cores are all busy signing would show; pyHanko's client: "
          f"{bb_cpu / sum(CPU['bt-stock']):.2f}x)")
    print(f"signer CPU ratio B-B / B-T: {bb_cpu / bt_cpu:.2f}x (the TSA's CPU left out: what a remote TSA, "
          f"whose work is not on these cores, leaves to the signer)")
    print(f"ratio B-T / B-B: {ratio:.2f}x (goal (issue 13): >= 0.85x and >= 80 PDFs/s) -> "
          f"{'MET' if ratio >= 0.85 and bt_rate >= 80 else 'NOT MET'}")
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
