"""The small functions other modules record through, so that label names and values stay in
one place and a typo cannot create a new series."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from ocpi_gateway.domain.charger_commands import CommandOutcome
from ocpi_gateway.domain.ids import OcppVersion
from ocpi_gateway.metrics.series import (
    CDR_KINDS,
    OCPI_MODULES,
    OCPP_ACTIONS,
    BanSource,
    DeliveryGiveUp,
    Direction,
    EnforcementRefusal,
    FeeKind,
    ReservationOutcome,
    UnusedKind,
    cdrs,
    commands,
    deliveries_failed,
    deliveries_pending,
    deliveries_retried,
    deliveries_succeeded,
    enforcement_refusals,
    loop_failures,
    loop_last_run,
    no_shows,
    ocpi_request_duration,
    ocpi_requests,
    ocpp_command_duration,
    ocpp_messages,
    reservation_fee_amounts,
    reservation_fees,
    reservations,
    token_bans,
    token_bans_lifted,
)

# --- recording functions: what other modules call -------------------------------------------


_HTTP_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})
# Label children per label tuple: labels() costs microseconds on every request; the tuples come
# from closed sets (module, method, our own status codes), so the cache stays small.
_request_children: dict[tuple[str, str, str, str], tuple[Any, Any]] = {}


def observe_ocpi_request(
    module: str, method: str, status_code: int | None, http_status: int, seconds: float
) -> None:
    """One OCPI request answered. ``status_code`` is the envelope's (None when no envelope)."""
    key = (module if module in OCPI_MODULES else "other",
           method if method in _HTTP_METHODS else "other",
           str(status_code) if status_code is not None else "none",
           str(http_status))
    children = _request_children.get(key)
    if children is None:
        children = (ocpi_requests.labels(*key),
                    ocpi_request_duration.labels(module=key[0], method=key[1]))
        _request_children[key] = children
    children[0].inc()
    children[1].observe(seconds)


def command_finished(command: str, result: str) -> None:
    """An OCPI command ended: ``command`` a CommandType value (e.g. "RESERVE_NOW"), ``result``
    the CommandResultType sent to the eMSP, or the CommandResponseType when it was refused at
    once (NOT_SUPPORTED, REJECTED, UNKNOWN_SESSION)."""
    commands.labels(command=str(command), result=str(result)).inc()


def cdr_issued(kind: str, *, credit: bool) -> None:
    """A CDR was stored and queued for its eMSP (``kind`` a ``cdrs.models.CdrKind`` value)."""
    cdrs.labels(kind=kind if kind in CDR_KINDS else "other",
                credit="true" if credit else "false").inc()


def reservation_transition(outcome: ReservationOutcome) -> None:
    """A reservation reached ``outcome`` (see ReservationOutcome)."""
    reservations.labels(outcome=ReservationOutcome(outcome).value).inc()


_message_children: dict[tuple[str, str, str], Any] = {}


def enforcement_refused(reason: EnforcementRefusal | str) -> None:
    """The enforcement rule refused a reservation or booking."""
    enforcement_refusals.labels(reason=EnforcementRefusal(reason).value).inc()


def no_show_recorded(kind: UnusedKind | str) -> None:
    no_shows.labels(kind=UnusedKind(kind).value).inc()


def token_banned(source: BanSource | str) -> None:
    token_bans.labels(source=BanSource(source).value).inc()


def token_ban_lifted() -> None:
    token_bans_lifted.inc()


_CURRENCY = re.compile(r"^[A-Z]{3}$")


def reservation_fee(kind: FeeKind | str, amount: float, currency: str) -> None:
    """A CDR charged a reservation or booking ``amount`` (before taxes) in ``currency`` (an
    ISO 4217 code from the operator's tariffs; anything else is counted as "other")."""
    kind = FeeKind(kind).value
    reservation_fees.labels(kind=kind).inc()
    reservation_fee_amounts.labels(
        kind=kind, currency=currency if _CURRENCY.match(currency) else "other").inc(amount)


def ocpp_message(version: OcppVersion | str, action: str, direction: Direction | str) -> None:
    """One OCPP CALL (``action`` as the OCPP spec spells it, e.g. "StatusNotification").

    Matches ``ocpp_adapter.session.CallObserver``. An action neither OCPP version defines (a
    charger can send any string) is counted as "other", so it cannot grow the series.
    """
    # Called for every OCPP CALL: reuse the label child (StrEnum members hash as their value).
    child = _message_children.get((version, action, direction))
    if child is None:
        child = ocpp_messages.labels(
            version=OcppVersion(version).value,
            action=action if action in OCPP_ACTIONS else "other",
            direction=Direction(direction).value,
        )
        if action in OCPP_ACTIONS:  # never cache what a charger made up
            _message_children[(version, action, direction)] = child
    child.inc()


def observe_command_roundtrip(command: str, outcome: CommandOutcome | str, seconds: float) -> None:
    """A charger command's round trip (``command`` e.g. "ReserveNow")."""
    ocpp_command_duration.labels(
        command=command, outcome=CommandOutcome(outcome).value
    ).observe(seconds)


def watch_deliveries_pending(count: Callable[[], int]) -> None:
    """Read ``ocpi_deliveries_pending`` from ``count`` at each scrape (the outbox's pending)."""
    deliveries_pending.set_function(lambda: float(count()))


def delivery_retried() -> None:
    """An attempt failed and the delivery was scheduled again."""
    deliveries_retried.inc()


def delivery_failed(reason: DeliveryGiveUp) -> None:
    """A delivery was given up on."""
    deliveries_failed.labels(reason=reason.value).inc()


def delivery_succeeded() -> None:
    deliveries_succeeded.inc()


class LoopMetrics:
    """A ``domain.loops.LoopRegistry`` listener: the last-run gauge and the failure count per
    loop. Loop names are constants of the code, so the series stay bounded."""

    def ran(self, name: str, at: float) -> None:
        loop_last_run.labels(loop=name).set(at)

    def failed(self, name: str) -> None:
        loop_failures.labels(loop=name).inc()


LOOP_METRICS = LoopMetrics()


