"""``ocpi-gateway operators hash-password``: the value for ``password_hash`` in operators.yaml
(scrypt, made exactly as for chargers)."""

from __future__ import annotations

import argparse
import getpass
import sys
from typing import Any

from ocpi_gateway.ocpp_adapter.auth import hash_password

MIN_LENGTH = 12


def add_subcommands(commands: Any) -> None:
    operators = commands.add_parser("operators", help="accounts of the admin API").add_subparsers(
        dest="operators_command", required=True)
    hashing = operators.add_parser(
        "hash-password", help="print the scrypt hash of an operator's password")
    hashing.add_argument("--stdin", action="store_true",
                         help="read the password from standard input instead of prompting")
    hashing.set_defaults(func=hash_password_command)


def hash_password_command(args: argparse.Namespace) -> int:
    if args.stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = getpass.getpass("Operator password: ")
        if getpass.getpass("Again: ") != password:
            print("the passwords differ", file=sys.stderr)
            return 1
    if len(password) < MIN_LENGTH:
        print(f"an operator password needs at least {MIN_LENGTH} characters", file=sys.stderr)
        return 1
    print(hash_password(password))
    return 0
