"""The ``lienthong`` command: one argparse app whose subcommands live in feature modules.

Each module listed in :data:`COMMAND_MODULES` exposes ``register(subparsers)`` and adds its own
subcommands; handlers return an exit code. Errors from the gateway's exception tree are printed
as one clear line (no traceback) and exit with status 2; ``--debug`` shows the traceback.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Callable, Sequence
from typing import cast

from gateway import __version__
from gateway.errors import GatewayError

COMMAND_MODULES: tuple[str, ...] = (
    "gateway.cli.edxml",
    "gateway.cli.adapters",
    "gateway.cli.package",
    "gateway.cli.signing",
    "gateway.cli.hub",
    "gateway.cli.exchange",
    "gateway.cli.blobs",
)

Handler = Callable[[argparse.Namespace], int]


def build_parser() -> argparse.ArgumentParser:
    """Build the full parser from every registered command module."""
    parser = argparse.ArgumentParser(
        prog="lienthong",
        description="Liên thông gateway: edXML (QCVN 102:2016) packages, legacy adapters, "
        "Decree 30 signatures and an axis-compatible hub.",
    )
    parser.add_argument("--version", action="version", version=f"lienthong {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks and debug logs")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        module = importlib.import_module(name)
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``lienthong`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.debug else logging.WARNING, format="%(message)s")
    handler = cast("Handler | None", getattr(args, "handler", None))
    if handler is None:
        parser.print_help()
        return 2
    try:
        return handler(args)
    except GatewayError as exc:
        if args.debug:
            raise
        print(f"lienthong {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
