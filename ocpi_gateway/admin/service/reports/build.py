"""A whole report: the records of the window read from the store, each figure computed."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

from ocpi_gateway.admin.service.reports.acceptance import acceptance_rows
from ocpi_gateway.admin.service.reports.models import Report, ReportQuery, partner_of
from ocpi_gateway.admin.service.reports.no_shows import no_show_rows
from ocpi_gateway.admin.service.reports.revenue import revenue_rows
from ocpi_gateway.admin.service.reports.usage import usage_rows
from ocpi_gateway.admin.service.reports.window import Window
from ocpi_gateway.admin.service.reports.window import where as _where
from ocpi_gateway.cdrs.models import Cdr
from ocpi_gateway.cdrs.repository import COLLECTION as CDRS
from ocpi_gateway.commands.records import COLLECTION as COMMANDS
from ocpi_gateway.commands.records import CommandRecord
from ocpi_gateway.domain.store import DocumentStore, Range
from ocpi_gateway.reservation_policy.bookings.records import COLLECTION as BOOKINGS
from ocpi_gateway.reservation_policy.bookings.records import Booking
from ocpi_gateway.reservation_policy.records import COLLECTION as RESERVATIONS
from ocpi_gateway.reservation_policy.records import Reservation
from ocpi_gateway.sessions.models import Session
from ocpi_gateway.sessions.repository import COLLECTION as SESSIONS

BOOKING_LOOKBACK = timedelta(days=2)
"""A booking's slot starting this long before the window may still reach into it (the
booking terms' longest slot is far shorter)."""


async def build_report(store: DocumentStore, query: ReportQuery, *, now: datetime,
                       evses: Mapping[str, Sequence[str]] | None = None) -> Report:
    """``evses``: every EVSE of each site in the catalog (location id → uids), so that an
    EVSE nobody used shows 0 % too; without it only EVSEs something happened at appear."""
    window = Window(query.start.timestamp(), query.end.timestamp(), now.timestamp())
    partner = partner_of(query.partner) if query.partner else None
    partner_key = f"{partner[0]}-{partner[1]}" if partner else None
    party_slash = f"{partner[0]}/{partner[1]}" if partner else None
    site = query.site
    if evses is not None and site is not None:
        evses = {k: v for k, v in evses.items() if k == site}

    reservation_docs = await store.find(RESERVATIONS, _where(
        site, created_ts=Range(lt=window.end), expiry_ts=Range(gte=window.start),
        **({"partner_key": partner_key} if partner_key else {})))
    reservations = [Reservation.from_doc(d) for d in reservation_docs]
    booking_docs = await store.find(BOOKINGS, _where(
        site, start_ts=Range(gte=window.start - BOOKING_LOOKBACK.total_seconds(),
                             lt=window.end),
        **({"partner_key": partner_key} if partner_key else {})))
    requested_docs = await store.find(BOOKINGS, _where(
        site, created_ts=Range(lt=window.end), updated_ts=Range(gte=window.start),
        **({"partner_key": partner_key} if partner_key else {})))
    bookings = [Booking.from_doc(d) for d in booking_docs]
    requested = [Booking.from_doc(d) for d in requested_docs]
    session_docs = {d["id"]: d for d in await store.find(SESSIONS, _where(
        site, last_updated_ts=Range(gte=window.start),
        **({"emsp_key": party_slash} if party_slash else {})))}
    for d in await store.find(SESSIONS, _where(site, open=True)):
        if party_slash is None or d.get("emsp_key") == party_slash:
            session_docs.setdefault(d["id"], d)
    sessions = [Session.from_doc(d) for d in session_docs.values()]
    command_docs = await store.find(COMMANDS, {
        "command": "RESERVE_NOW", "created_at": Range(gte=window.start, lt=window.end),
        **({"country_code": partner[0], "party_id": partner[1]} if partner else {})})
    commands = [CommandRecord.from_doc(d) for d in command_docs]
    cdr_docs = await store.find(CDRS, {
        "last_updated_ts": Range(gte=window.start, lt=window.end),
        **({"emsp_key": party_slash} if party_slash else {})})
    cdrs = [c for c in (Cdr.from_doc(d) for d in cdr_docs)
            if site is None or c.location.id == site]

    return Report(start=query.start, end=query.end, site=site, partner=partner_key,
                  generated_at=now,
                  no_shows=no_show_rows(window, reservations, bookings),
                  utilisation=usage_rows(window, reservations, sessions, evses),
                  acceptance=acceptance_rows(window, commands, requested, site),
                  revenue=revenue_rows(cdrs))
