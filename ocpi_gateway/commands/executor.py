"""What each OCPI command does once accepted: the checks answered at once, and the work whose
outcome goes to the eMSP's response_url."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import structlog

from ocpi_gateway import metrics
from ocpi_gateway.commands.models import (
    CancelReservationRequest,
    CommandBody,
    CommandResponseType,
    CommandResultType,
    CommandType,
    ReserveNowRequest,
    StartSessionRequest,
    StopSessionRequest,
    UnlockConnectorRequest,
)
from ocpi_gateway.commands.outcomes import (
    RESERVE_RESULTS,
    charger_result,
    ocpp_token_type,
)
from ocpi_gateway.commands.response_url import response_url_refusal
from ocpi_gateway.commands.unlock_permission import UnlockPermission
from ocpi_gateway.domain.charger_commands import (
    ChargerCommands,
    CommandOutcome,
    RemoteStart,
    RemoteStop,
    UnlockConnector,
)
from ocpi_gateway.domain.ids import ChargerAddress
from ocpi_gateway.locations.enums import Capability
from ocpi_gateway.partners.models import Partner as OcpiPartner
from ocpi_gateway.reservation_policy.engine import PolicyEngine, Refusal
from ocpi_gateway.reservation_policy.lifecycle import (
    CancelOutcome,
    ReservationService,
    ReserveOutcome,
)
from ocpi_gateway.reservation_policy.models import Partner, ReservationRequest
from ocpi_gateway.reservation_policy.records import reservation_key
from ocpi_gateway.reservations.candidates import CatalogCandidates, CatalogProvider
from ocpi_gateway.sessions.holds import ReservationSessions
from ocpi_gateway.sessions.models import SessionStatus, SessionToken
from ocpi_gateway.sessions.tracker import SessionTracker
from ocpi_gateway.tokens.models import Token
from ocpi_gateway.tokens.repository import TokenRepository
from ocpi_gateway.transport.status_codes import OcpiStatus

log = structlog.get_logger(__name__)

COMMAND_TOKEN_WINDOW = timedelta(minutes=15)
"""mod_commands: no real-time authorization of a command's RFID token for 15 minutes."""


class Refused(Exception):
    """A command answered at once without reaching a charger."""

    def __init__(self, response: CommandResponseType, message: str,
                 status_code: int = OcpiStatus.SUCCESS) -> None:
        super().__init__(message)
        self.response = response
        self.message = message
        self.status_code = status_code


@dataclass(frozen=True, slots=True)
class Outcome:
    result: CommandResultType
    message: str = ""
    then: Callable[[], Awaitable[object]] | None = None
    """Work that follows the CommandResult once it is queued (START_SESSION: the Session)."""


def _owner(token: Token, partner: OcpiPartner) -> Partner:
    if not partner.has_party(token.country_code, token.party_id):
        raise Refused(CommandResponseType.REJECTED,
                      f"token {token.uid} belongs to {token.country_code}-{token.party_id}, "
                      "not to the requesting eMSP")
    return Partner(token.country_code.upper(), token.party_id.upper())


class CommandExecutor:
    def __init__(
        self,
        *,
        catalog: CatalogProvider,
        reservations: ReservationService,
        start_engine: PolicyEngine,
        start_candidates: CatalogCandidates,
        chargers: ChargerCommands,
        sessions: SessionTracker,
        reservation_sessions: ReservationSessions | None = None,
        tokens: TokenRepository,
        charger_timeout: float,
        allow_private_response_urls: bool = False,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        walk_in_refused: Callable[[str, str], Awaitable[bool]] | None = None,
    ) -> None:
        """``walk_in_refused(location_id, token_uid)``: the location takes only reserved
        drivers and this token has no reservation or booking there (``reservation_only``)."""
        self._catalog = catalog
        self._walk_in_refused = walk_in_refused
        self._clock = clock
        self._reservations = reservations
        self._start_engine = start_engine
        self._start_candidates = start_candidates
        self._chargers = chargers
        self._sessions = sessions
        self._reservation_sessions = reservation_sessions
        self._tokens = tokens
        self._charger_timeout = charger_timeout
        self._allow_private_response_urls = allow_private_response_urls
        self._unlock_permission = UnlockPermission(catalog=catalog, reservations=reservations,
                                                   sessions=sessions, tokens=tokens)

    # ---------------------------------------------------------------- checks answered at once

    def canonical(self, body: CommandBody) -> CommandBody:
        """The body with its location, EVSE and connector ids spelled as the operator's files
        spell them: OCPI ids are CiStrings, while the availability store, the reservation
        records and the OCPP mapping are keyed by the exact id."""
        location_id = getattr(body, "location_id", None)
        if location_id is None:
            return body
        evse_uid = getattr(body, "evse_uid", None)
        connector_id = getattr(body, "connector_id", None)
        found = self._catalog().canonical(location_id, evse_uid, connector_id)
        if found is None:
            return body  # unknown: the checks answer it
        update: dict[str, str] = {"location_id": found[0]}
        if found[1] is not None:
            update["evse_uid"] = found[1]
        if found[2] is not None:
            update["connector_id"] = found[2]
        return body.model_copy(update=update)


    def _location(self, location_id: str) -> None:
        if self._catalog().get(location_id) is None:
            raise Refused(CommandResponseType.REJECTED, f"unknown location {location_id}",
                          OcpiStatus.UNKNOWN_LOCATION)

    def _evse_address(self, location_id: str, evse_uid: str,
                      connector_id: str | None = None) -> ChargerAddress:
        catalog = self._catalog()
        self._location(location_id)
        evse = catalog.evse(location_id, evse_uid)
        if evse is None:
            raise Refused(CommandResponseType.REJECTED,
                          f"location {location_id} has no EVSE {evse_uid}")
        address = (catalog.connector_address(location_id, evse_uid, connector_id)
                   if connector_id is not None else catalog.address_of(location_id, evse_uid))
        if address is None:
            raise Refused(CommandResponseType.REJECTED,
                          f"EVSE {evse_uid} has no connector {connector_id}")
        return address

    async def _online(self, address: ChargerAddress) -> None:
        if not await self._chargers.is_online(address.charge_point_id):
            raise Refused(CommandResponseType.REJECTED,
                          f"charger of this EVSE is offline ({address.charge_point_id})")

    async def check_reserve_now(self, body: ReserveNowRequest, partner: OcpiPartner) -> None:
        _owner(body.token, partner)
        self._location(body.location_id)
        if body.evse_uid is not None:
            address = self._evse_address(body.location_id, body.evse_uid)
            evse = self._catalog().evse(body.location_id, body.evse_uid)
            if evse is not None and not evse.reservable:
                raise Refused(CommandResponseType.NOT_SUPPORTED,
                              f"EVSE {body.evse_uid} is not RESERVABLE")
            await self._online(address)

    async def check_cancel(self, body: CancelReservationRequest, partner: OcpiPartner) -> None:
        return None  # an unknown reservation is the charger-level result UNKNOWN_RESERVATION

    async def check_start_session(self, body: StartSessionRequest,
                                  partner: OcpiPartner) -> None:
        _owner(body.token, partner)
        self._location(body.location_id)
        if body.connector_id is not None and body.evse_uid is None:
            raise Refused(CommandResponseType.REJECTED, "connector_id requires evse_uid")
        if self._walk_in_refused is not None and await self._walk_in_refused(
                body.location_id, body.token.uid):
            raise Refused(CommandResponseType.REJECTED,
                          f"location {body.location_id} takes only drivers with a reservation "
                          "or booking there (reservation_only)")
        if body.evse_uid is not None:
            address = self._evse_address(body.location_id, body.evse_uid, body.connector_id)
            evse = self._catalog().evse(body.location_id, body.evse_uid)
            if (evse is not None and body.connector_id is None
                    and Capability.START_SESSION_CONNECTOR_REQUIRED in evse.capabilities):
                raise Refused(CommandResponseType.REJECTED,
                              f"EVSE {body.evse_uid} requires connector_id "
                              "(START_SESSION_CONNECTOR_REQUIRED)")
            await self._online(address)

    async def check_stop_session(self, body: StopSessionRequest, partner: OcpiPartner) -> None:
        session = await self._sessions.get(body.session_id)
        # Another eMSP's session is answered as unknown: its existence is not theirs to learn.
        if session is None or session.token is None or not partner.has_party(
                session.token.country_code, session.token.party_id):
            raise Refused(CommandResponseType.UNKNOWN_SESSION,
                          f"unknown session {body.session_id}")
        if session.final:
            raise Refused(CommandResponseType.REJECTED, "session has ended already")
        if session.status is SessionStatus.RESERVATION:
            raise Refused(CommandResponseType.REJECTED,
                          "the session is a reservation: CANCEL_RESERVATION ends it")
        if session.transaction_id is None:
            raise Refused(CommandResponseType.REJECTED,
                          "the session has not started at the charger yet")

    async def check_unlock(self, body: UnlockConnectorRequest, partner: OcpiPartner) -> None:
        address = self._evse_address(body.location_id, body.evse_uid, body.connector_id)
        refusal = await self._unlock_permission.refusal(partner, body.location_id,
                                                        body.evse_uid)
        if refusal is not None:
            raise Refused(CommandResponseType.REJECTED, refusal)
        await self._online(address)

    async def check_response_url(self, body: CommandBody) -> None:
        refusal = await response_url_refusal(
            str(body.response_url), allow_private=self._allow_private_response_urls)
        if refusal is not None:
            raise Refused(CommandResponseType.REJECTED, refusal)

    # ---------------------------------------------------------------- work with a result

    async def reserve_now(self, body: ReserveNowRequest, partner: OcpiPartner,
                          time_budget: float) -> Outcome:
        owner = _owner(body.token, partner)
        request = ReservationRequest(
            location_id=body.location_id, evse_uid=body.evse_uid, partner=owner,
            token_uid=body.token.uid, expiry=body.expiry_date.astimezone(UTC),
            token_type=ocpp_token_type(body.token.type),
            group_id_token=body.token.group_id)
        if self._reservation_sessions is not None:
            # Before the reservation exists: its session shows this token.
            await self._reservation_sessions.remember_token(
                reservation_key(owner, body.reservation_id), _session_token(body.token),
                body.authorization_reference)
        # The token is remembered while the reservation is made (the driver presents it
        # later, up to the end of the grace period), so that its store write does not delay
        # the ReserveNow.
        grace = self._reservations.engine.policy.effective(body.location_id, owner).grace_minutes
        _, result = await asyncio.gather(
            self._tokens.remember_command_token(
                body.token.uid, body.expiry_date + timedelta(minutes=grace)),
            self._reservations.reserve(request, body.reservation_id, time_budget=time_budget))
        metrics.reservation_transition(metrics.ReservationOutcome.ACCEPTED
                                       if result.outcome is ReserveOutcome.ACCEPTED
                                       else metrics.ReservationOutcome.REFUSED)
        return Outcome(RESERVE_RESULTS[result.outcome], result.message)

    async def cancel_reservation(self, body: CancelReservationRequest,
                                 partner: OcpiPartner) -> Outcome:
        # reservation_id is scoped per eMSP role; a platform with several roles may have made
        # it under any of them.
        for role in partner.roles:
            owner = Partner(role.country_code.upper(), role.party_id.upper())
            if await self._reservations.get(owner, body.reservation_id) is None:
                continue
            cancelled = await self._reservations.cancel(owner, body.reservation_id,
                                                        charger_wait=self._charger_timeout)
            if cancelled.outcome is CancelOutcome.ACCEPTED:
                return Outcome(CommandResultType.ACCEPTED)
        return Outcome(CommandResultType.UNKNOWN_RESERVATION,
                       f"no active reservation {body.reservation_id}")

    async def start_session(self, body: StartSessionRequest, partner: OcpiPartner,
                            time_budget: float) -> Outcome:
        owner = _owner(body.token, partner)
        if body.evse_uid is not None:
            targets = [self._evse_address(body.location_id, body.evse_uid, body.connector_id)]
        else:
            targets = await self._start_targets(body, owner)
            if not targets:
                return Outcome(CommandResultType.EVSE_OCCUPIED, "no available EVSE")
        until = self._clock() + COMMAND_TOKEN_WINDOW
        await self._tokens.remember_command_token(body.token.uid, until)
        answers: list[CommandOutcome] = []
        token = _session_token(body.token)
        for address in targets:
            evse_uid, connector_id = self._ocpi_place(body, address)
            session_id = await self._sessions.expect_remote_start(
                address.charge_point_id, token, location_id=body.location_id,
                evse_uid=evse_uid, connector_id=connector_id,
                authorization_reference=body.authorization_reference)
            outcome = await self._chargers.execute(
                RemoteStart(charge_point_id=address.charge_point_id, id_token=body.token.uid,
                            id_token_type=ocpp_token_type(body.token.type),
                            remote_start_id=secrets.randbelow(2**31 - 2) + 1,
                            evse_id=address.evse_id, connector_id=address.connector_id),
                min(self._charger_timeout, time_budget))
            answers.append(outcome)
            if outcome in (CommandOutcome.ACCEPTED, CommandOutcome.TIMEOUT):
                break
        final = answers[-1]
        if final is not CommandOutcome.ACCEPTED:
            return Outcome(charger_result(CommandType.START_SESSION, final))

        async def pending_session() -> None:
            await self._sessions.remote_start_accepted(
                session_id, address.charge_point_id, token, location_id=body.location_id,
                evse_uid=evse_uid, connector_id=connector_id,
                authorization_reference=body.authorization_reference)

        return Outcome(charger_result(CommandType.START_SESSION, final), then=pending_session)

    def _ocpi_place(self, body: StartSessionRequest, address: ChargerAddress
                    ) -> tuple[str | None, str | None]:
        """The EVSE and connector a RemoteStart at ``address`` starts on, as OCPI names them."""
        if body.evse_uid is not None:
            return body.evse_uid, body.connector_id
        catalog = self._catalog()
        found = catalog.evse_at(address.charge_point_id, address.evse_id, address.connector_id)
        if found is None:
            return None, None
        return found[1], catalog.connector_of(address.charge_point_id, address.evse_id,
                                              address.connector_id)

    async def _start_targets(self, body: StartSessionRequest,
                             owner: Partner) -> list[ChargerAddress]:
        """Available EVSEs of the location, ordered by the operator's policy."""
        candidates = await self._start_candidates.candidates(body.location_id)
        request = ReservationRequest(location_id=body.location_id, evse_uid=None, partner=owner,
                                     token_uid=body.token.uid,
                                     expiry=self._clock() + timedelta(minutes=30))
        # A session is no reservation: the reservation checks (enabled, duration, cap) do not
        # apply, which is what the re-route form of decide() skips.
        plan = await self._start_engine.decide(request, candidates, reroute_from=())
        if isinstance(plan, Refusal):
            return []
        # Only those free in the snapshot: the rest of the plan is what a reservation may
        # still try to hold, not where a car can be plugged in now.
        return [candidate.address for candidate, _ in plan.ranked[:plan.free_in_snapshot]]

    async def stop_session(self, body: StopSessionRequest, partner: OcpiPartner) -> Outcome:
        session = await self._sessions.get(body.session_id)
        if session is None or session.charge_point_id is None \
                or session.transaction_id is None:
            return Outcome(CommandResultType.REJECTED, "session vanished")
        outcome = await self._chargers.execute(
            RemoteStop(charge_point_id=session.charge_point_id,
                       transaction_id=session.transaction_id), self._charger_timeout)
        return Outcome(charger_result(CommandType.STOP_SESSION, outcome))

    async def unlock_connector(self, body: UnlockConnectorRequest,
                               partner: OcpiPartner) -> Outcome:
        address = self._evse_address(body.location_id, body.evse_uid, body.connector_id)
        outcome = await self._chargers.execute(
            UnlockConnector(charge_point_id=address.charge_point_id, evse_id=address.evse_id,
                            connector_id=address.connector_id or 1), self._charger_timeout)
        return Outcome(charger_result(CommandType.UNLOCK_CONNECTOR, outcome))


def _session_token(token: Token) -> SessionToken:
    return SessionToken(country_code=token.country_code, party_id=token.party_id,
                        uid=token.uid, type=str(token.type), contract_id=token.contract_id)
