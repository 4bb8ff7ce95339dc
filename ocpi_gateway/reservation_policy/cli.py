"""What ``ocpi-gateway policy check|explain`` runs; the CLI module only parses arguments."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TextIO

from ocpi_gateway.domain.events import utc_now
from ocpi_gateway.reservation_policy.availability.base import AvailabilityStore
from ocpi_gateway.reservation_policy.capacity.base import CapacityTimeline
from ocpi_gateway.reservation_policy.capacity.classes import Need
from ocpi_gateway.reservation_policy.capacity.explain import explain_timeline
from ocpi_gateway.reservation_policy.capacity.slots import Timeslot
from ocpi_gateway.reservation_policy.enforcement.explain import describe_standing
from ocpi_gateway.reservation_policy.enforcement.service import Enforcement
from ocpi_gateway.reservation_policy.engine import PolicyEngine
from ocpi_gateway.reservation_policy.lifecycle import CandidateSource
from ocpi_gateway.reservation_policy.models import EvseCandidate, Partner, ReservationRequest
from ocpi_gateway.reservation_policy.policy import PolicyError, PolicySource, load_policy

EXPLAIN_PARTNER = Partner("ZZ", "ZZZ")
"""Stands for 'any partner' when explain is asked without one: only defaults apply."""


def check(path: Path | str, out: TextIO | None = None) -> int:
    """Validate a policy file: 0 and a summary when valid, 1 and one line per problem."""
    out = out or sys.stdout
    try:
        policy = load_policy(path)
    except PolicyError as exc:
        print(str(exc), file=out)
        return 1
    s = policy.defaults
    print(f"{path}: valid ({len(policy.locations)} location overrides, "
          f"{len(policy.partners)} partner overrides)", file=out)
    print(f"  defaults: grace_minutes={s.grace_minutes:g} "
          f"no_show_strikes={s.no_show_strikes.describe()} "
          f"max_no_show_rate={s.max_no_show_rate.describe()}", file=out)
    return 0


async def explain(
    policy: PolicySource,
    availability: AvailabilityStore,
    location_id: str,
    candidates: Sequence[EvseCandidate],
    *,
    partner: Partner | None = None,
    evse_uid: str | None = None,
    minutes: float | None = None,
    connector_standard: str | None = None,
    min_power_w: int | None = None,
    active_for_partner: int = 0,
    now: datetime | None = None,
) -> str:
    """Every candidate of the location, its score, and why each excluded one was excluded,
    for a hypothetical request (by default: location-level, for the minimum duration)."""
    now = now or utc_now()
    settings = policy.effective(location_id, partner)
    duration = minutes if minutes is not None else max(settings.min_duration_minutes, 1.0)
    request = ReservationRequest(
        location_id=location_id, evse_uid=evse_uid, partner=partner or EXPLAIN_PARTNER,
        token_uid="EXPLAIN", expiry=now + timedelta(minutes=duration),
        connector_standard=connector_standard, min_power_w=min_power_w)
    engine = PolicyEngine(policy, availability, clock=lambda: now)
    explanation = await engine.explain(request, candidates,
                                       active_for_partner=active_for_partner)
    return explanation.render()


@dataclass(frozen=True, slots=True)
class ExplainContext:
    """What ``policy explain`` reads: the gateway side builds it from its settings (policy
    file, availability store, locations catalog), which this package may not import."""

    policy: PolicySource
    availability: AvailabilityStore
    candidates: CandidateSource
    capacity: CapacityTimeline | None = None
    """The shared capacity timeline (Redis); None: ``--timeline`` has nothing to show."""
    enforcement: Enforcement | None = None
    """No-shows and bans in the gateway's store; None: ``--token`` has nothing to show."""
    close: Callable[[], Awaitable[None]] | None = None
    """Closes what the context opened besides availability and capacity (the store)."""


ExplainContextFactory = Callable[[argparse.Namespace], Awaitable[ExplainContext]]


def add_subcommands(commands: Any, context: ExplainContextFactory | None = None) -> None:
    """Add ``policy check FILE`` and, given a context factory, ``policy explain --location ID``
    to the ``ocpi-gateway`` subparsers."""
    policy = commands.add_parser("policy", help="the reservation policy").add_subparsers(
        dest="policy_command", required=True)
    check_parser = policy.add_parser("check", help="validate a policy file")
    check_parser.add_argument("file", type=Path)
    check_parser.set_defaults(func=lambda args: check(args.file))
    if context is None:
        return
    explain_parser = policy.add_parser(
        "explain", help="every candidate EVSE of a location, its score, why excluded")
    explain_parser.add_argument("--location", required=True)
    explain_parser.add_argument("--partner", help="COUNTRY-PARTY, e.g. NL-ABC")
    explain_parser.add_argument("--evse")
    explain_parser.add_argument("--minutes", type=float)
    explain_parser.add_argument("--standard", help="wanted connector standard")
    explain_parser.add_argument("--min-power-w", type=int)
    explain_parser.add_argument("--timeline", action="store_true",
                                help="the site's capacity timeline (bookings) instead")
    explain_parser.add_argument("--from", dest="start", type=datetime.fromisoformat,
                                help="timeline start (ISO 8601, default now)")
    explain_parser.add_argument("--hours", type=float, default=24.0)
    explain_parser.add_argument("--slot", help="START/END (ISO 8601): is this slot offered?")
    explain_parser.add_argument("--token", help="with --partner: the token's no-shows, ban "
                                "and its eMSP's no-show rate")
    explain_parser.set_defaults(func=lambda args: asyncio.run(_explain_command(args, context)))


async def _explain_command(args: argparse.Namespace, context: ExplainContextFactory) -> int:
    ctx = await context(args)
    partner = None
    if args.partner:
        country, _, party = args.partner.upper().partition("-")
        partner = Partner(country, party)
    try:
        candidates = await ctx.candidates.candidates(args.location)
        if getattr(args, "timeline", False):
            if ctx.capacity is None:
                print("no shared capacity timeline (redis_url is not set): the in-process "
                      "one lives in the gateway")
                return 1
            print(await _timeline(ctx.capacity, ctx.policy, args, candidates, partner))
            return 0 if candidates else 1
        print(await explain(ctx.policy, ctx.availability, args.location, candidates,
                            partner=partner, evse_uid=args.evse, minutes=args.minutes,
                            connector_standard=args.standard, min_power_w=args.min_power_w))
        token = getattr(args, "token", None)
        if token:
            if partner is None or ctx.enforcement is None:
                print("--token needs --partner (and the gateway's store)")
                return 1
            standing = await ctx.enforcement.standing(partner, token, args.location)
            print(describe_standing(standing, partner, token,
                                    ctx.policy.effective(args.location, partner), utc_now()))
    finally:
        await ctx.availability.close()
        if ctx.capacity is not None:
            await ctx.capacity.close()
        if ctx.close is not None:
            await ctx.close()
    return 0 if candidates else 1


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


async def _timeline(capacity: CapacityTimeline, policy: PolicySource, args: argparse.Namespace,
                    candidates: Sequence[EvseCandidate], partner: Partner | None) -> str:
    now = utc_now()
    slot = None
    if args.slot:
        first, _, second = args.slot.partition("/")
        slot = Timeslot(_aware(datetime.fromisoformat(first)),
                        _aware(datetime.fromisoformat(second)))
    need = Need(frozenset({args.standard}) if args.standard else frozenset(),
                min_power_w=args.min_power_w or 0)
    return await explain_timeline(
        capacity, args.location, candidates, policy.effective(args.location, partner),
        start=_aware(args.start) if args.start else now, hours=args.hours, need=need, now=now,
        slot=slot)
