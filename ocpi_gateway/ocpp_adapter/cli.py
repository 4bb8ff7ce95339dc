"""``ocpi-gateway chargers hash-password``: the value for ``password_hash`` in chargers.yaml."""

from __future__ import annotations

import argparse
import getpass
import sys
from typing import Any

from ocpi_gateway.ocpp_adapter.auth import hash_password

MIN_LENGTH = 16  # OCPP 2.0.1 BasicAuthPassword: 16 to 40 characters


def add_subcommands(commands: Any) -> None:
    chargers = commands.add_parser("chargers", help="OCPP chargers").add_subparsers(
        dest="chargers_command", required=True)
    hashing = chargers.add_parser(
        "hash-password", help="print the scrypt hash of a charger's password")
    hashing.add_argument("--stdin", action="store_true",
                         help="read the password from standard input instead of prompting")
    hashing.set_defaults(func=hash_password_command)


def hash_password_command(args: argparse.Namespace) -> int:
    if args.stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = getpass.getpass("Charger password: ")
        if getpass.getpass("Again: ") != password:
            print("the passwords differ", file=sys.stderr)
            return 1
    if len(password) < MIN_LENGTH:
        print(f"a charger password needs at least {MIN_LENGTH} characters", file=sys.stderr)
        return 1
    print(hash_password(password))
    return 0
