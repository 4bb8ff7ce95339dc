"""Runs accepted commands in the background and guarantees each one a result.

A command record is stored before the eMSP gets its CommandResponse. The work then runs in a
task of this instance; its result is stored (PENDING → DONE, once) and queued for the
response_url. A sweeper settles what no task will settle: commands whose deadline passed on
any instance (a crashed one included), and this instance's own commands left PENDING by a
restart. For RESERVE_NOW it asks the reservation record first, so a reservation the charger
accepted just before a crash is reported ACCEPTED rather than TIMEOUT.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from pydantic import ValidationError
from redis.exceptions import RedisError

from ocpi_gateway import metrics
from ocpi_gateway.commands.executor import CommandExecutor, Outcome, Refused
from ocpi_gateway.commands.models import (
    CancelReservationRequest,
    CommandResponse,
    CommandResponseType,
    CommandResultType,
    CommandType,
    DisplayText,
    ReserveNowRequest,
    StartSessionRequest,
    StopSessionRequest,
    UnlockConnectorRequest,
)
from ocpi_gateway.commands.records import CommandRecord, CommandRepository
from ocpi_gateway.commands.results import ResultSender
from ocpi_gateway.domain.loops import BackgroundLoop, LoopRegistry
from ocpi_gateway.domain.tasks import cancel_all
from ocpi_gateway.partners.models import Partner as OcpiPartner
from ocpi_gateway.reservation_policy.lifecycle import ReservationService
from ocpi_gateway.reservation_policy.models import Partner
from ocpi_gateway.reservation_policy.records import (
    LIVE_STATES,
    OPERATOR_CANCELLED,
    Reservation,
    ReservationState,
)

log = structlog.get_logger(__name__)

CONTACTS = "reservation_contacts"
"""reservation key → where to send CANCELED_RESERVATION (partner id, response_url)."""

_RESULT_MARGIN = 0.5
"""Seconds kept back from the announced timeout to deliver the result."""
REDIS_UNREACHABLE = ("the gateway's shared state was unreachable for a moment (a Redis restart); "
                     "try again in a few seconds")
"""The message of a command cut by a Redis failure: REJECTED, as while availability is
rebuilt after a restart."""

PartnerLookup = Callable[[str], Awaitable[OcpiPartner | None]]


class CommandService:
    def __init__(
        self,
        *,
        executor: CommandExecutor,
        records: CommandRepository,
        results: ResultSender,
        reservations: ReservationService,
        partners: PartnerLookup,
        store_contacts: Any,
        timeout_seconds: int,
        instance_id: str,
        sweep_interval: float = 2.0,
        retention_seconds: float = 7 * 86400.0,
        housekeeping_interval: float = 3600.0,
        forget_command_tokens: Callable[[], Awaitable[int]] | None = None,
        loops: LoopRegistry | None = None,
    ) -> None:
        self._executor = executor
        self._records = records
        self._results = results
        self._reservations = reservations
        self._partners = partners
        self._contacts = store_contacts
        self.timeout_seconds = timeout_seconds
        self._instance_id = instance_id
        self._retention = retention_seconds
        self._housekeeping_interval = housekeeping_interval
        self._forget_command_tokens = forget_command_tokens
        self._next_housekeeping = 0.0
        self._running: dict[str, asyncio.Task[None]] = {}
        # start() sweeps once itself, then the loop every sweep_interval.
        self._sweeper = BackgroundLoop("commands-sweep", self._sweep_and_housekeep,
                                       interval=sweep_interval, registry=loops,
                                       run_at_start=False)
        reservations.add_listener(self._on_reservation_transition)

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        await self.sweep()
        self._sweeper.start()

    async def stop(self) -> None:
        await self._sweeper.stop()
        await cancel_all(self._running.values(), name="command")

    async def wait_idle(self) -> None:
        """Tests and benchmarks: wait for every running command to settle."""
        if self._running:
            await asyncio.wait(list(self._running.values()))

    # ------------------------------------------------------------------ receiving

    async def receive(self, command: CommandType, body: Any, partner: OcpiPartner, *,
                      result_headers: dict[str, str] | None = None,
                      ) -> tuple[CommandResponse, int]:
        """Check, store and start a command: the CommandResponse and the OCPI status code.
        ``result_headers``: the routing headers the CommandResult(s) will carry."""
        body = self._executor.canonical(body)
        try:
            await self._check(command, body, partner)
        except Refused as refused:
            log.info("command_refused", command=command.value, reason=refused.message,
                     partner_id=partner.id)
            metrics.command_finished(command.value, refused.response.value)
            return (CommandResponse(result=refused.response, timeout=self.timeout_seconds,
                                    message=_text(refused.message)), refused.status_code)
        record = CommandRecord.new(
            partner_id=partner.id, country_code=_first_party(partner)[0],
            party_id=_first_party(partner)[1], command=command,
            body=body.model_dump(mode="json"), response_url=str(body.response_url),
            deadline=time.time() + self.timeout_seconds, instance_id=self._instance_id,
            result_headers=result_headers or {})
        await self._records.create(record)
        task = asyncio.get_running_loop().create_task(self._run(record, body, partner))
        self._running[record.id] = task
        task.add_done_callback(lambda _t: self._running.pop(record.id, None))
        log.info("command_accepted", command=command.value, command_id=record.id,
                 partner_id=partner.id)
        return CommandResponse(result=CommandResponseType.ACCEPTED,
                               timeout=self.timeout_seconds), 1000

    async def _check(self, command: CommandType, body: Any, partner: OcpiPartner) -> None:
        ex = self._executor
        await ex.check_response_url(body)
        if isinstance(body, ReserveNowRequest):
            await ex.check_reserve_now(body, partner)
        elif isinstance(body, CancelReservationRequest):
            await ex.check_cancel(body, partner)
        elif isinstance(body, StartSessionRequest):
            await ex.check_start_session(body, partner)
        elif isinstance(body, StopSessionRequest):
            await ex.check_stop_session(body, partner)
        elif isinstance(body, UnlockConnectorRequest):
            await ex.check_unlock(body, partner)

    # ------------------------------------------------------------------ running

    async def _run(self, record: CommandRecord, body: Any, partner: OcpiPartner) -> None:
        budget = max(0.1, record.deadline - time.time() - _RESULT_MARGIN)
        cut = True
        try:
            outcome = await asyncio.wait_for(self._execute(body, partner, budget), budget)
            cut = False
        except TimeoutError:
            outcome = Outcome(CommandResultType.TIMEOUT, "no answer within the timeout")
        except asyncio.CancelledError:
            raise  # shutdown: the sweeper of the next start settles it
        except RedisError:
            # The shared state went away mid-command (a Redis restart or failover): not a
            # failure of the command; what the work left is settled below.
            log.warning("command_interrupted_by_redis", command_id=record.id,
                        command=record.command.value, exc_info=True)
            outcome = Outcome(CommandResultType.REJECTED, REDIS_UNREACHABLE)
        except Exception:
            log.exception("command_failed", command_id=record.id, command=record.command.value)
            outcome = Outcome(CommandResultType.FAILED, "internal error")
        contact = None
        if isinstance(body, ReserveNowRequest) and outcome.result is CommandResultType.ACCEPTED:
            contact = self._remember_contact(body, partner, record)
        settled = await self._settle(record, outcome, alongside=contact)
        if settled and outcome.then is not None:
            try:
                await outcome.then()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("command_follow_up_failed", command_id=record.id)
        if cut and isinstance(body, ReserveNowRequest):
            # The work stopped half-way: what it left (a PENDING record, a hold, a cap slot,
            # a ReserveNow a charger may have accepted) is settled now, after the result.
            await self._settle_reservation(body)

    async def _settle_reservation(self, body: ReserveNowRequest) -> None:
        owner = Partner(body.token.country_code.upper(), body.token.party_id.upper())
        try:
            await self._reservations.settle_abandoned(owner, body.reservation_id)
        except asyncio.CancelledError:
            raise
        except Exception:
            # The recovery sweeper tries again later.
            log.exception("reservation_settle_failed", reservation_id=body.reservation_id)

    async def _execute(self, body: Any, partner: OcpiPartner, budget: float) -> Outcome:
        ex = self._executor
        if isinstance(body, ReserveNowRequest):
            return await ex.reserve_now(body, partner, budget)
        if isinstance(body, CancelReservationRequest):
            return await ex.cancel_reservation(body, partner)
        if isinstance(body, StartSessionRequest):
            return await ex.start_session(body, partner, budget)
        if isinstance(body, StopSessionRequest):
            return await ex.stop_session(body, partner)
        if isinstance(body, UnlockConnectorRequest):
            return await ex.unlock_connector(body, partner)
        raise TypeError(f"no executor for {type(body).__name__}")

    async def _settle(self, record: CommandRecord, outcome: Outcome, *,
                      alongside: Awaitable[None] | None = None) -> bool:
        """Store the result, then queue it. ``alongside`` (the reservation's contact) is
        stored concurrently with the result, one store round trip less before the result
        leaves, yet still before it does: a CPO-side cancel right after ACCEPTED finds it."""
        completing = self._records.complete(record, outcome.result, outcome.message or None)
        if alongside is None:
            done = await completing
        else:
            done, _ = await asyncio.gather(completing, alongside)
        if done is None:
            return False  # settled elsewhere (the sweeper, another instance)
        metrics.command_finished(record.command.value, outcome.result.value)
        log.info("command_result", command_id=record.id, command=record.command.value,
                 result=outcome.result.value, detail=outcome.message)
        await self._results.send(record.partner_id, record.response_url, outcome.result,
                                 outcome.message or None, deadline=record.deadline,
                                 headers=record.result_headers or None)
        return True

    # ------------------------------------------------------------------ sweeping

    async def _sweep_and_housekeep(self) -> None:
        await self.sweep()
        if time.monotonic() >= self._next_housekeeping:
            self._next_housekeeping = time.monotonic() + self._housekeeping_interval
            await self.housekeeping()

    async def housekeeping(self) -> int:
        """Forget settled commands past their retention, and command tokens past their time:
        nothing reads them any more, and the store should not grow without end."""
        forgotten = await self._records.forget_done(time.time() - self._retention)
        if self._forget_command_tokens is not None:
            forgotten += await self._forget_command_tokens()
        if forgotten:
            log.info("commands_housekeeping", forgotten=forgotten)
        return forgotten

    async def sweep(self) -> int:
        """Settle commands no task of this instance is working on and none ever will."""
        settled = 0
        now = time.time()
        for record in await self._records.pending():
            if record.id in self._running:
                continue
            orphaned = record.instance_id == self._instance_id
            if not orphaned and record.deadline > now:
                continue  # another instance is still within its time
            try:
                body = (ReserveNowRequest.model_validate(record.body)
                        if record.command is CommandType.RESERVE_NOW else None)
            except ValidationError as error:
                # Written by another release, or damaged: tell the eMSP it failed rather
                # than stop settling every command stored after this one.
                log.error("command_record_unreadable", command_id=record.id,
                          command=record.command.value, errors=error.error_count())
                await self._settle(record, Outcome(CommandResultType.FAILED,
                                                   "the gateway could not read the command"))
                settled += 1
                continue
            outcome = await self._recovered_outcome(record, body)
            await self._settle(record, outcome)
            if body is not None:
                # No task works on it: settle what it left, without holding up the sweep.
                self._reservations.in_background(self._settle_reservation(body))
            settled += 1
        return settled

    async def _recovered_outcome(self, record: CommandRecord,
                                 body: ReserveNowRequest | None) -> Outcome:
        if body is not None:
            owner = Partner(body.token.country_code.upper(), body.token.party_id.upper())
            reservation = await self._reservations.get(owner, body.reservation_id)
            if reservation is not None and reservation.state in (
                    ReservationState.ACTIVE, ReservationState.REROUTED):
                partner = await self._partners(record.partner_id)
                if partner is not None:
                    await self._remember_contact(body, partner, record)
                return Outcome(CommandResultType.ACCEPTED, "accepted before a gateway restart")
        return Outcome(CommandResultType.TIMEOUT, "the gateway restarted during the command")

    # ------------------------------------------------------------------ CPO-side ends

    async def _remember_contact(self, body: ReserveNowRequest, partner: OcpiPartner,
                                record: CommandRecord) -> None:
        owner = Partner(body.token.country_code.upper(), body.token.party_id.upper())
        reservation = await self._reservations.get(owner, body.reservation_id)
        if reservation is not None:
            await self._contacts.put(CONTACTS, reservation.key, {
                "partner_id": partner.id, "response_url": str(body.response_url),
                "headers": record.result_headers})

    async def _on_reservation_transition(self, reservation: Reservation,
                                         previous: ReservationState) -> None:
        if reservation.state is not ReservationState.REMOVED or previous not in LIVE_STATES \
                or reservation.booking_key is not None:  # the booking tells its eMSP
            return
        contact = await self._contacts.get(CONTACTS, reservation.key)
        if contact is None:
            log.warning("canceled_reservation_without_contact", reservation_key=reservation.key)
            return
        last = reservation.history[-1].get("reason", "") if reservation.history else ""
        # The operator's name stays in the record: the eMSP learns only who ended it.
        message = ("the CPO's operator cancelled the reservation"
                   if last.startswith(OPERATOR_CANCELLED) else
                   "the charger can no longer honour the reservation and no other EVSE is free")
        await self._results.send_canceled_reservation(
            contact["partner_id"], contact["response_url"], message,
            headers=contact.get("headers") or None)
        log.info("reservation_canceled_by_cpo", reservation_key=reservation.key)


def _first_party(partner: OcpiPartner) -> tuple[str, str]:
    role = partner.roles[0] if partner.roles else None
    return (role.country_code, role.party_id) if role else ("", "")


def _text(message: str) -> list[DisplayText]:
    return [DisplayText(language="en", text=message[:512])]
