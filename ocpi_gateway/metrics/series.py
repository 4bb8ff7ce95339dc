"""The gateway's Prometheus series: one dedicated registry, the closed label sets, the metric
objects, and the series created at zero."""

from __future__ import annotations

import re
from enum import StrEnum

from ocpp.v16.enums import Action as Action16
from ocpp.v201.enums import Action as Action201
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
)

from ocpi_gateway.domain.ids import OcppVersion

REGISTRY = CollectorRegistry(auto_describe=True)

# OCPI module identifiers (mod_*.asciidoc, version_information_endpoint.asciidoc). Anything else
# under /ocpi is counted as "other" so that a scanner cannot create series at will.
OCPI_MODULES = frozenset({
    "versions", "version_details", "credentials", "locations", "sessions", "cdrs", "tariffs",
    "tokens", "commands", "chargingprofiles", "hubclientinfo", "bookings",
})
CDR_KINDS = ("SESSION", "RESERVATION")
OCPP_ACTIONS = frozenset(
    {action.value for action in Action16} | {action.value for action in Action201}
)
BOOKING_STATES = ("PENDING", "RESERVED", "REJECTED", "FAILED", "FULFILLED", "CANCELED",
                  "NO_SHOW")
BOOKING_REQUEST_STATUSES = ("ACCEPTED", "DECLINED", "FAILED")
_VERSION_SEGMENT = re.compile(r"^\d+(\.\d+)*$")
_ROLE_SEGMENTS = frozenset({"cpo", "emsp", "hub", "sender", "receiver"})

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
# A charger may take up to command_timeouts.charger_seconds (30 s by default) to answer.
_ROUNDTRIP_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0)


class ReservationOutcome(StrEnum):
    """Where a reservation's life ended up (one count per transition)."""

    ACCEPTED = "accepted"
    """The charger accepted ReserveNow; CommandResult ACCEPTED was sent."""
    USED = "used"
    """A session started on the reservation (OCPP reservationId in the transaction)."""
    EXPIRED = "expired"
    """The expiry passed without a session."""
    CANCELLED = "cancelled"
    """CANCEL_RESERVATION from the eMSP (or a charger-side removal)."""
    REROUTED = "rerouted"
    """The chosen EVSE refused or failed and another EVSE of the location was tried."""
    NO_ALTERNATIVE = "no_alternative"
    """A live reservation lost its EVSE (fault, unavailable, removed by the charger) and no
    other EVSE of the location could take it; the eMSP got CANCELED_RESERVATION."""
    REFUSED = "refused"
    """RESERVE_NOW did not lead to a reservation: the policy refused it, or every charger
    asked refused or did not answer (see ocpi_commands_total for the result sent)."""


class DeliveryGiveUp(StrEnum):
    """Why an outgoing push was given up on (label of ocpi_deliveries_failed_total)."""

    REFUSED = "refused"
    OUT_OF_ATTEMPTS = "out_of_attempts"
    EXPIRED = "expired"
    PARTNER_GONE = "partner_gone"
    """The partner is no longer registered (unregistered, revoked or deleted)."""


class EnforcementRefusal(StrEnum):
    """Why the enforcement rule refused a reservation or booking (``RefusalReason`` values)."""

    TOKEN_BANNED = "token_banned"
    NO_SHOW_RATE = "no_show_rate"


class UnusedKind(StrEnum):
    """What ended unused (``enforcement.records.UnusedKind`` values)."""

    RESERVATION = "reservation"
    BOOKING = "booking"


class BanSource(StrEnum):
    """Who banned a token (``enforcement.bans.BanSource`` values)."""

    NO_SHOWS = "no_shows"
    OPERATOR = "operator"


class FeeKind(StrEnum):
    """What a reservation or booking was charged for in a CDR."""

    RESERVATION = "reservation"
    """The time a used reservation or booking held the EVSE."""
    NO_SHOW = "no_show"
    """A reservation or booking that ended unused."""
    CANCELLATION = "cancellation"
    """Cancelled after the free cancellation window."""


class Direction(StrEnum):
    IN = "in"
    """Sent by the charger (a CALL the gateway answers)."""
    OUT = "out"
    """Sent by the gateway (a command to the charger)."""


ocpi_requests = Counter(
    "ocpi_requests_total",
    "OCPI requests served, by module, HTTP method, OCPI status code and HTTP status.",
    ["module", "method", "status_code", "http_status"],
    registry=REGISTRY,
)
ocpi_request_duration = Histogram(
    "ocpi_request_duration_seconds",
    "Time to answer an OCPI request, by module and HTTP method.",
    ["module", "method"],
    buckets=_LATENCY_BUCKETS,
    registry=REGISTRY,
)
commands = Counter(
    "ocpi_commands_total",
    "OCPI commands received, by command type and result (the synchronous CommandResponse "
    "when it refused the command, else the CommandResult sent to the eMSP).",
    ["command", "result"],
    registry=REGISTRY,
)
reservations = Counter(
    "ocpi_reservations_total",
    "Reservation lifecycle transitions, by outcome.",
    ["outcome"],
    registry=REGISTRY,
)
bookings = Counter(
    "ocpi_bookings_total",
    "Booking transitions (OCPI 2.3.0 Bookings), by the state reached: a new booking counts "
    "under PENDING or the state it was answered in; a change, a binding and a request "
    "decided count under RESERVED again.",
    ["state"],
    registry=REGISTRY,
)
booking_requests = Counter(
    "ocpi_booking_requests_total",
    "Booking requests (first requests, changes, cancellations) decided, by status.",
    ["status"],
    registry=REGISTRY,
)
BIND_OUTCOMES = ("bound", "occupied", "gave_up")
booking_binds = Counter(
    "ocpi_booking_binds_total",
    "Late binding of bookings onto an EVSE, by outcome: bound (ReserveNow accepted), "
    "occupied (a try found no fitting EVSE free: the previous driver still charging; "
    "tried again), gave_up (still unbound at start + noshow_timeout_minutes: CANCELED, FULL).",
    ["outcome"],
    registry=REGISTRY,
)
booking_bind_lateness = Histogram(
    "ocpi_booking_bind_lateness_seconds",
    "How long after its binding time (start - activation_lead_minutes) a booking was bound.",
    buckets=(1, 5, 15, 30, 60, 120, 300, 600, 1800),
    registry=REGISTRY,
)
cdrs = Counter(
    "ocpi_cdrs_total",
    "CDRs issued, by kind (SESSION: a charging session; RESERVATION: a reservation or booking "
    "that ended unused and was billed) and whether it is a Credit CDR.",
    ["kind", "credit"],
    registry=REGISTRY,
)
ocpp_connections = Gauge(
    "ocpp_connections",
    "Chargers connected to this instance by websocket, by OCPP version.",
    ["version"],
    registry=REGISTRY,
)
ocpp_connections_opened = Counter(
    "ocpp_connections_opened_total",
    "Charger websocket connections accepted by this instance, by OCPP version.",
    ["version"],
    registry=REGISTRY,
)
ocpp_messages = Counter(
    "ocpp_messages_total",
    "OCPP CALL messages, by OCPP version, action and direction (in = from the charger).",
    ["version", "action", "direction"],
    registry=REGISTRY,
)
ocpp_command_duration = Histogram(
    "ocpp_command_roundtrip_seconds",
    "Time from sending a command to a charger to its answer (or timeout), by command and "
    "outcome; includes the hop through Redis when another instance holds the charger.",
    ["command", "outcome"],
    buckets=_ROUNDTRIP_BUCKETS,
    registry=REGISTRY,
)
deliveries_pending = Gauge(
    "ocpi_deliveries_pending",
    "Outgoing OCPI pushes (CommandResult, Locations updates) in this instance's outbox, "
    "waiting to be delivered or retried.",
    registry=REGISTRY,
)
deliveries_retried = Counter(
    "ocpi_delivery_retries_total",
    "Outgoing OCPI push attempts that failed and were scheduled again.",
    registry=REGISTRY,
)
deliveries_failed = Counter(
    "ocpi_deliveries_failed_total",
    "Outgoing OCPI pushes given up on, by reason: refused by the partner, out of attempts, "
    "or expired (a CommandResult whose command's time passed while the receiver failed).",
    ["reason"],
    registry=REGISTRY,
)
deliveries_succeeded = Counter(
    "ocpi_deliveries_succeeded_total",
    "Outgoing OCPI pushes the partner accepted.",
    registry=REGISTRY,
)
loop_last_run = Gauge(
    "gateway_loop_last_run_timestamp_seconds",
    "When a background loop (commands-sweep, outbox-adopt, reservations-expiry, ...) last "
    "finished a run without failing, in seconds since the epoch.",
    ["loop"],
    registry=REGISTRY,
)
loop_failures = Counter(
    "gateway_loop_failures_total",
    "Runs of a background loop that raised (logged as background_loop_failed; the loop "
    "goes on).",
    ["loop"],
    registry=REGISTRY,
)

enforcement_refusals = Counter(
    "ocpi_enforcement_refusals_total",
    "Reservations and bookings refused by the enforcement rule, by reason: the token is "
    "banned, or the eMSP's no-show rate is above the policy's maximum.",
    ["reason"],
    registry=REGISTRY,
)
no_shows = Counter(
    "ocpi_no_shows_total",
    "Reservations (expired past their grace period) and bookings (NO_SHOW) that ended unused, "
    "recorded against their token and eMSP.",
    ["kind"],
    registry=REGISTRY,
)
token_bans = Counter(
    "ocpi_token_bans_total",
    "Tokens banned from reservations and bookings, by who banned them: the policy's "
    "no_show_strikes, or the operator.",
    ["source"],
    registry=REGISTRY,
)
token_bans_lifted = Counter(
    "ocpi_token_bans_lifted_total",
    "Bans the operator lifted before their end.",
    registry=REGISTRY,
)
reservation_fees = Counter(
    "ocpi_reservation_fees_total",
    "CDRs charging a reservation or booking, by what was charged.",
    ["kind"],
    registry=REGISTRY,
)
reservation_fee_amounts = Counter(
    "ocpi_reservation_fee_amount_total",
    "Amounts charged for reservations and bookings (before taxes), by kind and currency.",
    ["kind", "currency"],
    registry=REGISTRY,
)


def _initialise_series() -> None:
    # Series with a known, closed label set are created at zero so that they exist (and rate()
    # works) before the first event, and an operator sees what can be counted.
    for outcome in ReservationOutcome:
        reservations.labels(outcome=outcome.value)
    for state in BOOKING_STATES:
        bookings.labels(state=state)
    for status in BOOKING_REQUEST_STATUSES:
        booking_requests.labels(status=status)
    for bind_outcome in BIND_OUTCOMES:
        booking_binds.labels(outcome=bind_outcome)
    for reason in DeliveryGiveUp:
        deliveries_failed.labels(reason=reason.value)
    for kind in CDR_KINDS:
        for credit in ("false", "true"):
            cdrs.labels(kind=kind, credit=credit)
    for version in OcppVersion:
        ocpp_connections.labels(version=version.value)
        ocpp_connections_opened.labels(version=version.value)
    for refusal in EnforcementRefusal:
        enforcement_refusals.labels(reason=refusal.value)
    for kind in UnusedKind:
        no_shows.labels(kind=kind.value)
    for source in BanSource:
        token_bans.labels(source=source.value)
    for fee in FeeKind:
        reservation_fees.labels(kind=fee.value)


_initialise_series()


