"""``ocpi-gateway reservations cancel`` and ``operators token``: the acts the CLI asks of a
running gateway's admin API (admin/remote.py says why and how it is found)."""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from typing import Any

from pydantic import ValidationError

from ocpi_gateway.admin import remote
from ocpi_gateway.admin.cli_ops import subparsers_of


def _print_json(body: Any) -> None:
    print(json.dumps(body, indent=2))


def _cancel(args: argparse.Namespace) -> int:
    # Here, not at the top: every ocpi-gateway command would pay the reservation core's import.
    from ocpi_gateway.admin.service.cancel import CancelReservationBody

    def run() -> int:
        try:
            body = CancelReservationBody(note=args.note).model_dump(exclude_none=True)
        except ValidationError as exc:
            raise remote.RemoteError(f"--note: {exc.errors()[0]['msg']}", 2) from exc
        answer = remote.call(args, "POST", "/admin/api/reservations/" + remote.path_of(
            args.emsp, args.reservation_id) + "/cancel", json=body)
        if args.json:
            _print_json(answer)
            return 0
        reservation = answer["reservation"]
        charger = answer.get("charger_answer")
        print(f"cancelled {reservation['key']}: now {reservation['state']}; "
              + (f"the charger answered CancelReservation: {charger}" if charger
                 else "no charger held it") + "; the eMSP is sent CANCELED_RESERVATION")
        return 0
    return remote.guarded(run)


def _password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    return getpass.getpass(f"Password of {args.name}: ")


def _token(args: argparse.Namespace) -> int:
    def run() -> int:
        body: dict[str, Any] = {"name": args.name, "password": _password(args),
                                "label": args.label}
        if args.hours is not None:
            body["expires_in_hours"] = args.hours
        answer = remote.call(args, "POST", "/admin/api/tokens", json=body,
                             authenticated=False)
        if args.json:
            _print_json(answer)
            return 0
        # stdout is the token alone: export OCPI_GATEWAY_OPERATOR_TOKEN=$(...)
        print(answer["token"])
        print(f"token of {answer['operator']} ({answer['role']}), valid until "
              f"{answer['expires_at']}; use it as {remote.TOKEN_ENV}", file=sys.stderr)
        return 0
    return remote.guarded(run)


def add_subcommands(commands: Any) -> None:
    reservations = subparsers_of(commands, "reservations", "reservations (RESERVE_NOW)")
    cancel = reservations.add_parser(
        "cancel", help="cancel a live reservation through the running gateway: "
        "CancelReservation at the charger, CANCELED_RESERVATION to the eMSP (operator role)")
    cancel.add_argument("emsp", help="the eMSP's party, e.g. DE-ABC")
    cancel.add_argument("reservation_id")
    cancel.add_argument("--note", help="why, kept in the reservation's history")
    remote.add_connection_flags(cancel)
    cancel.set_defaults(func=_cancel)

    operators = subparsers_of(commands, "operators", "accounts of the admin API")
    token = operators.add_parser(
        "token", help="log in to the running gateway and print an API bearer token "
        f"(for {remote.TOKEN_ENV})")
    token.add_argument("--name", required=True, help="the operator's name in operators.yaml")
    token.add_argument("--password-stdin", action="store_true",
                       help="read the password from standard input instead of prompting")
    token.add_argument("--label", default="cli", help="what it is for (in the audit log)")
    token.add_argument("--hours", type=float, help="valid this long (default and at most: "
                       "admin.token_days)")
    token.add_argument("--api-url", help=f"the gateway instance's address (default: "
                       f"${remote.URL_ENV}, else gateway.yaml's listen)")
    remote.add_address_flags(token)
    token.set_defaults(func=_token)
