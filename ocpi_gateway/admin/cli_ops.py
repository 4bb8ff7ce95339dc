"""``ocpi-gateway reservations list|show``, ``outbox list|retry|drop``, ``chargers list``: the
operator's reads and acts from a shell, each a thin client of the admin service layer the API
uses (admin/service/), run on the gateway's own store while instances keep serving. The flags
fill the same query models the API takes, so a filter means the same in both; ``--json``
prints what the API would answer."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

import structlog
from pydantic import BaseModel, ValidationError

from ocpi_gateway.admin.audit import AuditLog
from ocpi_gateway.admin.service.chargers import ChargersPage, list_chargers
from ocpi_gateway.admin.service.errors import Conflict, Invalid, NotFound
from ocpi_gateway.admin.service.outbox import (
    DeliveryView,
    OutboxFilter,
    OutboxPage,
    drop_dead_letter,
    list_deliveries,
    retry_dead_letter,
)
from ocpi_gateway.admin.service.paging import BadCursor
from ocpi_gateway.admin.service.reservations import (
    ReservationFilter,
    ReservationPage,
    ReservationView,
    get_reservation,
    list_reservations,
    reservation_key,
)
from ocpi_gateway.config import GatewaySettings, load_settings
from ocpi_gateway.domain.store import DocumentStore
from ocpi_gateway.locations.catalog import LocationsCatalog
from ocpi_gateway.ocpp_adapter.chargers_config import load_chargers
from ocpi_gateway.ocpp_adapter.directory import ChargerPresence, from_info, info_key
from ocpi_gateway.ocpp_adapter.routing.presence import presence_key
from ocpi_gateway.partners.registry import PartnerRegistry
from ocpi_gateway.redis_clients import open_redis
from ocpi_gateway.store import open_store

T = TypeVar("T")
Q = TypeVar("Q", bound=BaseModel)


def _operator() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


def _stderr_logger(*_: Any) -> Any:
    # The acts' log lines (outbox_dead_letter_retried ...) go to stderr: stdout is the answer.
    return structlog.PrintLogger(sys.stderr)


def _run(args: argparse.Namespace, work: Callable[[GatewaySettings, DocumentStore],
                                                   Awaitable[T]]) -> T:
    structlog.configure(logger_factory=_stderr_logger, cache_logger_on_first_use=False)
    settings = load_settings(args.config)

    async def run() -> T:
        store = await open_store(settings.store_url)
        try:
            return await work(settings, store)
        finally:
            await store.close()
    return asyncio.run(run())


def _query(model: type[Q], args: argparse.Namespace, names: Sequence[str]) -> Q:
    """The API's query model from the flags given (``--from`` is ``args.since``)."""
    values = {name: getattr(args, name) for name in names if getattr(args, name) is not None}
    for flag, field in (("since", "from"), ("until", "to")):
        if getattr(args, flag, None) is not None:
            values[field] = getattr(args, flag)
    return model.model_validate(values)


def _guarded(run: Callable[[], int]) -> int:
    """Exit 2 for flags the query refuses, 1 for an act refused; each said in one line."""
    try:
        return run()
    except ValidationError as exc:
        for error in exc.errors():
            where = ".".join(str(p) for p in error["loc"])
            print(f"--{where.replace('_', '-')}: {error['msg']}", file=sys.stderr)
        return 2
    except (BadCursor, Invalid) as exc:
        print(exc, file=sys.stderr)
        return 2
    except (NotFound, Conflict) as exc:
        print(exc, file=sys.stderr)
        return 1


def _print_page(page: ReservationPage | OutboxPage, lines: Callable[[Any], str],
                args: argparse.Namespace) -> None:
    if args.json:
        print(page.model_dump_json(indent=2))
        return
    for item in page.items:
        print(lines(item))
    if not page.items:
        print("nothing matches")
    if page.next_cursor:
        print(f"more: --cursor {page.next_cursor}")


def _reservation_line(r: ReservationView) -> str:
    where = f"{r.location_id}/{r.evse_uid or '-'}" + (f" @{r.charge_point_id}"
                                                     if r.charge_point_id else "")
    return (f"{r.key}  {r.state.value:<9} {where}  token {r.token_uid}  "
            f"created {r.created_at.isoformat()}  expiry {r.expiry.isoformat()}")


RESERVATION_FLAGS = ("state", "site", "emsp", "token", "charger", "evse", "sort", "limit",
                     "cursor")


def _reservations_list(args: argparse.Namespace) -> int:
    def run() -> int:
        query = _query(ReservationFilter, args, RESERVATION_FLAGS)
        page = _run(args, lambda _, store: list_reservations(store, query))
        _print_page(page, _reservation_line, args)
        return 0
    return _guarded(run)


def _reservations_show(args: argparse.Namespace) -> int:
    def run() -> int:
        key = reservation_key(args.emsp, args.reservation_id)
        found = _run(args, lambda _, store: get_reservation(store, key))
        if found is None:
            raise NotFound(f"no reservation {key}")
        if args.json:
            print(found.model_dump_json(indent=2))
            return 0
        print(_reservation_line(found))
        for step in found.history or []:
            print(f"  {step.at.isoformat()}  {step.from_state or '-'} -> {step.to}"
                  + (f"  {step.reason}" if step.reason else ""))
        return 0
    return _guarded(run)


def _delivery_line(d: DeliveryView) -> str:
    queued = d.queued_at.isoformat() if d.queued_at else "-"
    line = (f"{d.id}  {d.state.value:<8} {d.partner_id}  {d.method} {d.url}  queued {queued}  "
            f"attempts {d.attempts}")
    return line + (f"  last error: {d.last_error}" if d.last_error else "")


def _outbox_list(args: argparse.Namespace) -> int:
    def run() -> int:
        query = _query(OutboxFilter, args, ("state", "partner", "method", "ordering_key", "sort",
                                            "limit", "cursor"))
        page = _run(args, lambda _, store: list_deliveries(store, query))
        _print_page(page, _delivery_line, args)
        return 0
    return _guarded(run)


def _outbox_act(args: argparse.Namespace) -> int:
    async def work(_: GatewaySettings, store: DocumentStore) -> DeliveryView:
        # In the audit log as the API's acts are, said to come from the CLI: who did it is
        # what --by says (the shell's user by default), not an authenticated operator.
        audit = AuditLog(store, log_lines=False)
        entry = await audit.record(
            operator=args.by, role=None, via="cli", action=f"{args.outbox_command}_dead_letter",
            target={"delivery_id": args.delivery_id}, outcome="started")
        try:
            if args.outbox_command == "retry":
                done = await retry_dead_letter(store, PartnerRegistry(store), args.delivery_id,
                                               operator=args.by, now=time.time())
            else:
                done = await drop_dead_letter(store, args.delivery_id, operator=args.by)
        except (NotFound, Conflict) as exc:
            code = "not_found" if isinstance(exc, NotFound) else "conflict"
            await audit.finish(entry, f"refused: {code}: {exc}")
            raise
        await audit.finish(entry, "ok")
        return done

    def run() -> int:
        done = _run(args, work)
        verb = "retried (a running gateway sends it within its heartbeat)" \
            if args.outbox_command == "retry" else "dropped"
        print(f"{verb}: {_delivery_line(done)}")
        return 0
    return _guarded(run)


async def _presence_from_redis(settings: GatewaySettings, ids: Sequence[str]
                               ) -> dict[str, ChargerPresence]:
    """What the instances holding the chargers wrote to Redis (the directory): online while a
    presence entry lives."""
    target = settings.redis
    if target is None:
        return {}
    redis = open_redis(target)
    try:
        found: dict[str, ChargerPresence] = {}
        for cp in ids:
            owner = await redis.get(presence_key(cp))
            found[cp] = from_info(cp, await redis.hgetall(info_key(cp)) or {},
                                  online=owner is not None)
        return found
    finally:
        await redis.aclose()


def _chargers_list(args: argparse.Namespace) -> int:
    async def work(settings: GatewaySettings, _: DocumentStore) -> tuple[ChargersPage, bool]:
        config = load_chargers(settings.chargers_file)
        catalog = LocationsCatalog.from_file(settings.locations_file) \
            if settings.locations_file else None

        async def describe(ids: Sequence[str]) -> dict[str, ChargerPresence]:
            return await _presence_from_redis(settings, ids)

        page = await list_chargers(config, catalog, describe, online=args.online)
        return page, settings.redis is not None

    page, known = _run(args, work)
    if args.json:
        print(page.model_dump_json(indent=2))
        return 0
    for c in page.items:
        presence = ("online" if c.online else "offline") if known else "presence unknown"
        evses = ", ".join(f"{e.location_id}/{e.evse_uid}" for e in c.evses) or "no EVSE"
        print(f"{c.id}  {presence}  ocpp {c.ocpp_version or c.configured_version or '-'}  "
              f"instance {c.instance_id or '-'}  {evses}")
    if not known:
        print("(no Redis configured: only the serving instance knows who is connected; "
              "GET /admin/api/chargers)")
    return 0


def _page_flags(parser: argparse.ArgumentParser, sorts: str) -> None:
    parser.add_argument("--sort", help=f"{sorts}; '-' first for descending")
    parser.add_argument("--limit", type=int, help="how many (default 50, at most 500)")
    parser.add_argument("--cursor", help="the 'more:' cursor of the previous page")
    parser.add_argument("--json", action="store_true", help="print what the API answers")


def subparsers_of(commands: Any, name: str, text: str) -> Any:
    """The subcommands of ``name``, added to its parser when another part made it already
    (``chargers`` is the OCPP adapter's: ``chargers hash-password``)."""
    parser = commands.choices.get(name) or commands.add_parser(name, help=text)
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action
    return parser.add_subparsers(dest=f"{name}_command", required=True)


def add_subcommands(commands: Any) -> None:
    reservations = subparsers_of(commands, "reservations", "reservations (RESERVE_NOW)")
    listing = reservations.add_parser("list", help="reservations, newest first")
    for flag, text in (("state", "states, comma-separated, or live"), ("site", "location id"),
                       ("emsp", "eMSP party, e.g. DE-ABC"), ("token", "token uid"),
                       ("charger", "charge point id"), ("evse", "EVSE uid")):
        listing.add_argument(f"--{flag}", help=text)
    listing.add_argument("--from", dest="since", help="created at or after (ISO 8601)")
    listing.add_argument("--to", dest="until", help="created before (ISO 8601)")
    _page_flags(listing, "created or expiry")
    listing.set_defaults(func=_reservations_list)
    show = reservations.add_parser("show", help="one reservation with its history")
    show.add_argument("emsp", help="the eMSP's party, e.g. DE-ABC")
    show.add_argument("reservation_id")
    show.add_argument("--json", action="store_true", help="print what the API answers")
    show.set_defaults(func=_reservations_show)

    outbox = subparsers_of(commands, "outbox", "deliveries to partners, dead letters")
    listing = outbox.add_parser("list", help="deliveries, the last queued first")
    listing.add_argument("--state", help="pending, retrying or dead")
    listing.add_argument("--partner", help="a partner id")
    listing.add_argument("--method", help="PUT, PATCH, POST...")
    listing.add_argument("--ordering-key", dest="ordering_key",
                         help="the object it is about")
    listing.add_argument("--from", dest="since", help="queued at or after (ISO 8601)")
    listing.add_argument("--to", dest="until", help="queued before (ISO 8601)")
    _page_flags(listing, "queued or next_attempt")
    listing.set_defaults(func=_outbox_list)
    for name, text in (("retry", "send a dead letter again"),
                       ("drop", "forget a dead letter for good")):
        act = outbox.add_parser(name, help=text)
        act.add_argument("delivery_id")
        act.add_argument("--by", default=_operator(), help="who does it (default: cli:$USER)")
        act.set_defaults(func=_outbox_act)

    chargers = subparsers_of(commands, "chargers", "OCPP chargers")
    listing = chargers.add_parser("list", help="chargers.yaml's chargers, their EVSEs and, "
                                  "with Redis, who is connected")
    online = listing.add_mutually_exclusive_group()
    online.add_argument("--online", action="store_const", const=True, default=None,
                        help="only those connected")
    online.add_argument("--offline", dest="online", action="store_const", const=False,
                        help="only those not connected")
    listing.add_argument("--json", action="store_true", help="print what the API answers")
    listing.set_defaults(func=_chargers_list)
