"""``ocpi-gateway bans list|lift|set``: the operator's bans of tokens, a thin client of
``Enforcement`` (the admin API uses the same methods) over the gateway's own store, so that
every running instance sees a change at its next reservation."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import structlog

from ocpi_gateway.admin.audit import AuditLog
from ocpi_gateway.config import load_settings
from ocpi_gateway.reservation_policy.enforcement.bans import Ban
from ocpi_gateway.reservation_policy.enforcement.rule import stamp
from ocpi_gateway.reservation_policy.enforcement.service import BanError, Enforcement
from ocpi_gateway.reservation_policy.models import Partner
from ocpi_gateway.reservation_policy.policy import PARTNER_KEY, PolicySource
from ocpi_gateway.store import open_store

T = TypeVar("T")


def _partner(raw: str) -> Partner:
    key = raw.upper().replace("*", "-")
    if not PARTNER_KEY.match(key):
        raise argparse.ArgumentTypeError(f"{raw!r}: the eMSP as COUNTRY-PARTY, e.g. DE-ABC")
    country, _, party = key.partition("-")
    return Partner(country, party)


def _moment(raw: str) -> datetime:
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{raw!r}: not an ISO 8601 date and time") from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _operator() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


def _stderr_logger(*_: Any) -> Any:
    # Resolved at every log call: the audit lines (token_banned, token_ban_lifted) go to
    # stderr, whatever stream is stderr now, and stdout keeps the answer alone.
    return structlog.PrintLogger(sys.stderr)


async def _with_enforcement(args: argparse.Namespace,
                            work: Callable[[Enforcement], Awaitable[T]],
                            action: str | None = None) -> T:
    """``action``: recorded in the admin audit log as the API's acts are, said to come from
    the CLI (who did it is what --by says, not an authenticated operator); a refusal too."""
    structlog.configure(logger_factory=_stderr_logger, cache_logger_on_first_use=False)
    settings = load_settings(args.config)
    store = await open_store(settings.store_url)
    try:
        enforcement = Enforcement(store, PolicySource(settings.policy_file))
        if action is None:
            return await work(enforcement)
        audit = AuditLog(store, log_lines=False)
        entry = await audit.record(
            operator=args.by, role=None, via="cli", action=action,
            target={"emsp": args.partner.key, "token_uid": args.token}, outcome="started")
        try:
            done = await work(enforcement)
        except BanError as exc:
            await audit.finish(entry, f"refused: invalid: {exc}")
            raise
        await audit.finish(entry, "ok" if done is not None else "refused: conflict: not banned")
        return done
    finally:
        await store.close()


def describe(ban: Ban, now: datetime) -> str:
    state = "in force" if ban.active(now) else (
        f"lifted {stamp(ban.lifted_at)} by {ban.lifted_by}" if ban.lifted_at is not None
        else "ended")
    line = (f"{ban.partner.key} {ban.token_uid}  until {stamp(ban.until)}  ({state})  "
            f"{ban.source.value} by {ban.by} since {stamp(ban.since)}: {ban.reason}")
    if ban.lift_reason:
        line += f"  [lifted: {ban.lift_reason}]"
    return line


def _list(args: argparse.Namespace) -> int:
    async def work(enforcement: Enforcement) -> list[Ban]:
        return await enforcement.list_bans(partner=args.partner, include_ended=args.all)

    bans = asyncio.run(_with_enforcement(args, work))
    now = datetime.now(UTC)
    for ban in bans:
        print(describe(ban, now))
    if not bans:
        print("no bans" + ("" if args.all else " in force"))
    return 0


def _lift(args: argparse.Namespace) -> int:
    async def work(enforcement: Enforcement) -> Ban | None:
        return await enforcement.lift(args.partner, args.token, by=args.by, reason=args.reason)

    try:
        lifted = asyncio.run(_with_enforcement(args, work, "lift_ban"))
    except BanError as exc:
        print(exc, file=sys.stderr)
        return 1
    if lifted is None:
        print(f"{args.partner.key} {args.token} is not banned", file=sys.stderr)
        return 1
    print(f"lifted: {describe(lifted, datetime.now(UTC))}")
    return 0


def _set(args: argparse.Namespace) -> int:
    until = args.until or datetime.now(UTC) + timedelta(days=args.days)

    async def work(enforcement: Enforcement) -> Ban:
        return await enforcement.set_ban(args.partner, args.token, until=until,
                                         reason=args.reason, by=args.by)

    try:
        ban = asyncio.run(_with_enforcement(args, work, "set_ban"))
    except BanError as exc:
        print(exc, file=sys.stderr)
        return 1
    print(f"banned: {describe(ban, datetime.now(UTC))}")
    return 0


def _token_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--partner", required=True, type=_partner,
                        help="the token's eMSP, COUNTRY-PARTY (e.g. DE-ABC)")
    parser.add_argument("--token", required=True, help="the token's uid")
    parser.add_argument("--by", default=_operator(), help="who does it (default: cli:$USER)")


def add_subcommands(commands: Any) -> None:
    bans = commands.add_parser(
        "bans", help="tokens banned from reservations and bookings").add_subparsers(
        dest="bans_command", required=True)
    listing = bans.add_parser("list", help="bans in force, the latest end first")
    listing.add_argument("--partner", type=_partner, help="only this eMSP's tokens")
    listing.add_argument("--all", action="store_true", help="also ended and lifted bans")
    listing.set_defaults(func=_list)
    lift = bans.add_parser("lift", help="end a ban now and forgive the no-shows so far")
    _token_options(lift)
    lift.add_argument("--reason", default="", help="why (kept with the ban)")
    lift.set_defaults(func=_lift)
    setting = bans.add_parser("set", help="ban a token (replaces any ban it has)")
    _token_options(setting)
    until = setting.add_mutually_exclusive_group(required=True)
    until.add_argument("--days", type=float, help="for this many days from now")
    until.add_argument("--until", type=_moment, help="until this moment (ISO 8601, UTC)")
    setting.add_argument("--reason", required=True, help="what the eMSP is told")
    setting.set_defaults(func=_set)
