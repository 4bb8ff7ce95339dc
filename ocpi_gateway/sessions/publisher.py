"""Pushes every change of a session to the Sessions RECEIVER of the eMSP owning its token,
through the outbox, in the version that eMSP speaks: a PUT first, then PATCHes adding the
charging periods closed since (mod_sessions: a PATCH's periods are added to the list).

What each eMSP was sent is remembered in this process; a session this process has not sent
(a restart, another instance) or whose sent periods no longer match is PUT whole again, which
is always right. A PATCH the eMSP refuses is repaired by GET-then-PUT (the outbox's resync)."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import structlog

from ocpi_gateway.deliveries.engine import DeliveryEngine
from ocpi_gateway.deliveries.models import Delivery
from ocpi_gateway.ocpi import package
from ocpi_gateway.ocpi.seam import to_jsonable
from ocpi_gateway.partners.models import Partner
from ocpi_gateway.partners.receivers import PartyReceiver, ReceiverIndex
from ocpi_gateway.sessions.figures import SessionFigures, figures
from ocpi_gateway.sessions.models import Session
from ocpi_gateway.sessions.repository import SessionRepository
from ocpi_gateway.tariffs.pricing import PricedPeriod

log = structlog.get_logger(__name__)

RESYNC_KIND = "session"
_REMEMBERED = 50_000
"""Sessions whose pushes this process remembers (the oldest are forgotten: a PUT then)."""

_Period = tuple[object, ...]


@dataclass(frozen=True, slots=True)
class _Sent:
    partner_id: str
    version: str
    periods: tuple[_Period, ...]


def _period_key(period: PricedPeriod) -> _Period:
    return (period.start, period.dimensions, period.tariff_id)


class SessionsPublisher:
    def __init__(self, repo: SessionRepository, *,
                 registered: Callable[[], Awaitable[Sequence[Partner]]],
                 clock: Callable[[], datetime]) -> None:
        self._repo = repo
        self._registered = registered
        self._clock = clock
        self._outbox: DeliveryEngine | None = None
        self._receivers = ReceiverIndex("sessions")
        self._sent: OrderedDict[str, _Sent] = OrderedDict()

    def attach(self, outbox: DeliveryEngine) -> None:
        self._outbox = outbox
        outbox.register_resync(RESYNC_KIND, self._resync)

    async def on_change(self, session: Session, previous: Session | None) -> None:
        """A ``SessionListener``."""
        if self._outbox is None or session.token is None:
            return
        receiver = self._receivers.find(await self._registered(), session.token.country_code,
                                        session.token.party_id)
        if receiver is None:
            return
        shown = figures(session, self._clock())
        url = f"{receiver.url}/{session.country_code}/{session.party_id}/{session.id}"
        keys = tuple(_period_key(p) for p in shown.periods)
        sent = self._sent.get(session.id)
        mapping = package(receiver.version).sessions
        if (sent is not None and sent.partner_id == receiver.partner_id
                and sent.version == receiver.version
                and keys[:len(sent.periods)] == sent.periods):
            body = mapping.session_patch(session, shown, shown.periods[len(sent.periods):])
            method = "PATCH"
        else:
            body, method = mapping.session(session, shown), "PUT"
        await self._outbox.enqueue(
            receiver.partner_id, method, url, to_jsonable(body), ordering_key=url,
            resync={"kind": RESYNC_KIND, "session_id": session.id,
                    "version": receiver.version},
            headers=_headers(session, receiver))
        self._remember(session, _Sent(receiver.partner_id, receiver.version, keys))

    def _remember(self, session: Session, sent: _Sent) -> None:
        if session.final:
            self._sent.pop(session.id, None)  # nothing more will be sent
            return
        self._sent[session.id] = sent
        self._sent.move_to_end(session.id)
        while len(self._sent) > _REMEMBERED:
            self._sent.popitem(last=False)

    async def _resync(self, delivery: Delivery) -> tuple[str, Any] | None:
        """A refused PATCH: the whole session as it is now, PUT at the same URL."""
        assert delivery.resync is not None
        session = await self._repo.get(str(delivery.resync["session_id"]))
        if session is None or session.token is None:
            return None
        shown: SessionFigures = figures(session, self._clock())
        body = package(str(delivery.resync["version"])).sessions.session(session, shown)
        self._sent.pop(session.id, None)
        return delivery.url, to_jsonable(body)


def _headers(session: Session, receiver: PartyReceiver) -> dict[str, str]:
    """transport_and_format: a push is sent from the CPO owning the session to its eMSP."""
    return {"OCPI-from-country-code": session.country_code,
            "OCPI-from-party-id": session.party_id,
            "OCPI-to-country-code": receiver.to_party[0],
            "OCPI-to-party-id": receiver.to_party[1]}
