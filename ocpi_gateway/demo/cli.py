"""``ocpi-gateway demo``: listed in ocpi_gateway.cli.SUBCOMMANDS."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import sys
from pathlib import Path
from typing import Any

import orjson

from ocpi_gateway.logging import configure_logging


def _demo(args: argparse.Namespace) -> int:
    from ocpi_gateway.demo.emsp import Exchange
    from ocpi_gateway.demo.script import run_demo

    # The narration is the output; the gateway's own JSON logs only when asked for.
    configure_logging("INFO" if args.verbose else "CRITICAL")
    workdir = Path(args.workdir) if args.workdir else None
    if workdir is not None:
        workdir.mkdir(parents=True, exist_ok=True)
    traffic: list[Exchange] | None = [] if args.record else None
    try:
        code = asyncio.run(run_demo(lambda line: print(line, flush=True), workdir=workdir,
                                    traffic=traffic))
    except BrokenPipeError:
        # The reader went away (`demo | head`): stop quietly, as other CLI tools do.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    if args.record and traffic is not None:
        with Path(args.record).open("wb") as f:
            f.writelines(orjson.dumps(dataclasses.asdict(x)) + b"\n" for x in traffic)
    if code != 0:
        print("The demo failed; run it with --verbose to see the gateway's logs.",
              file=sys.stderr)
    return code


def add_subcommands(commands: Any) -> None:
    demo = commands.add_parser(
        "demo", help="watch the gateway work: simulated chargers and eMSPs, reservations and "
                     "bookings")
    demo.add_argument("--verbose", action="store_true", help="also print the gateway's logs")
    demo.add_argument("--workdir", default=None,
                      help="keep the demo's files and database here (default: a temporary "
                           "folder, removed afterwards)")
    demo.add_argument("--record", default=None, metavar="FILE",
                      help="write every OCPI message the simulated eMSPs sent or received to "
                           "FILE, one JSON object a line")
    demo.set_defaults(func=_demo)
