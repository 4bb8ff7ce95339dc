"""``ocpi-gateway config check``: what ``serve`` would refuse, said before starting it."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from ocpi_gateway.config_check.check import check_files


def add_subcommands(commands: Any) -> None:
    config = commands.add_parser("config", help="the configuration files").add_subparsers(
        dest="config_command", required=True)
    check = config.add_parser(
        "check", help="read and validate gateway.yaml and every file it names, check them "
        "against each other, start nothing; exit 2 on any error")
    check.set_defaults(func=check_command)


def check_command(args: argparse.Namespace) -> int:
    report = check_files(args.config)
    for line in report.read:
        print(line)
    for warning in report.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    for error in report.errors:
        print(error, file=sys.stderr)
    if not report.ok:
        count = len(report.errors)
        print(f"{count} problem{'s' if count != 1 else ''}: nothing was started",
              file=sys.stderr)
        return 2
    print("configuration OK")
    return 0
