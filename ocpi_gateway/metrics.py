"""Prometheus metrics of the gateway: the series, the functions that record them, `/metrics`.

Every series lives in one dedicated ``REGISTRY`` (not the client library's global default), so
that importing a third-party library that registers its own collectors never changes what the
operator scrapes, and so that tests read exact values with ``REGISTRY.get_sample_value``.

Other modules record through the small functions below, never through the metric objects, so
that label names and label values stay in one place and a typo cannot create a new series.
Labels only take values from closed sets (OCPI modules, command types, outcomes, OCPP actions)
to keep the number of series bounded whatever a partner or a charger sends.

The registry is process-wide: one container runs one gateway process, and Prometheus scrapes
each instance separately (see docs/operator-guide.md).
"""

from __future__ import annotations

import hmac
import re
import time
from collections.abc import Awaitable, Callable, Iterable
from enum import StrEnum
from typing import Any

import orjson
from aiohttp import web
from ocpp.v16.enums import Action as Action16
from ocpp.v201.enums import Action as Action201
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

from ocpi_gateway import keys
from ocpi_gateway.config import GatewaySettings, MetricsListen, MetricsSettings
from ocpi_gateway.domain.charger_commands import ChargerCommand, ChargerCommands, CommandOutcome
from ocpi_gateway.domain.events import BookingTransitioned, ChargerConnected, DomainEvent
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


# --- adapters that record without touching other packages ------------------------------------
# ocpp_adapter and reservation_policy may import only `domain` (docs/architecture.md), so what
# they do is observed from here: domain events on the bus, and a wrapper around ChargerCommands.


async def connection_listener(event: DomainEvent) -> None:
    """An EventBus subscriber counting ``ocpp_connections_opened_total`` per version."""
    if isinstance(event, ChargerConnected):
        ocpp_connections_opened.labels(version=OcppVersion(event.ocpp_version).value).inc()


def watch_ocpp_connections(connected_versions: Callable[[], Iterable[OcppVersion | str]]
                           ) -> None:
    """Read ``ocpp_connections`` at each scrape from the versions of the sessions this
    instance holds (e.g. ``lambda: (s.version for s in ocpp_server.registry)``).

    Counting Connected/Disconnected events would drift: a charger taken over by another
    instance, or replaced by its own reconnect, leaves without a ChargerDisconnected here.
    """
    def counter(version: str) -> Callable[[], float]:
        def count() -> float:
            return float(sum(1 for v in connected_versions() if OcppVersion(v).value == version))
        return count

    for version in OcppVersion:
        ocpp_connections.labels(version=version.value).set_function(counter(version.value))


# Reservation states (reservation_policy.records.ReservationState values) a lifecycle listener
# is told about, and the outcome each one counts as. ACCEPTED and REFUSED are not transitions
# the listener hears of: the Commands module records them from the reserve result.
_STATE_OUTCOMES = {
    "USED": ReservationOutcome.USED,
    "EXPIRED": ReservationOutcome.EXPIRED,
    "CANCELLED": ReservationOutcome.CANCELLED,
    "REROUTED": ReservationOutcome.REROUTED,
    "REMOVED": ReservationOutcome.NO_ALTERNATIVE,
}


async def reservation_listener(reservation: Any, previous: Any) -> None:
    """A ``ReservationService.add_listener`` listener: counts used, expired, cancelled,
    re-routed and no-alternative transitions (typed loosely: only ``.state`` is read)."""
    outcome = _STATE_OUTCOMES.get(str(getattr(reservation.state, "value", reservation.state)))
    if outcome is not None:
        reservation_transition(outcome)


async def booking_listener(event: BookingTransitioned) -> None:
    """A ``BookingLedger.add_listener`` listener: one count per transition by the state
    reached, and one per request decided."""
    if event.state in BOOKING_STATES:
        bookings.labels(state=event.state).inc()
    if event.request_status in BOOKING_REQUEST_STATUSES:
        booking_requests.labels(status=event.request_status).inc()


class BookingBindMetrics:
    """The booking binder's observer (``bookings.binder.BindObserver``)."""

    def bound(self, booking: Any, late_seconds: float) -> None:
        booking_binds.labels(outcome="bound").inc()
        booking_bind_lateness.observe(late_seconds)

    def occupied(self, booking: Any) -> None:
        booking_binds.labels(outcome="occupied").inc()

    def gave_up(self, booking: Any) -> None:
        booking_binds.labels(outcome="gave_up").inc()


class EnforcementMetrics:
    """The enforcement service's observer (``enforcement.service.EnforcementObserver``):
    counts its refusals, no-shows and bans (typed loosely: only the enum fields are read)."""

    def refused(self, refusal: Any) -> None:
        enforcement_refused(str(getattr(refusal.reason, "value", refusal.reason)))

    def no_show(self, record: Any) -> None:
        no_show_recorded(str(getattr(record.kind, "value", record.kind)))

    def banned(self, ban: Any) -> None:
        token_banned(str(getattr(ban.source, "value", ban.source)))

    def lifted(self, ban: Any) -> None:
        token_ban_lifted()


class TimedChargerCommands:
    """A ChargerCommands that records each command's round trip, then delegates."""

    def __init__(self, inner: ChargerCommands) -> None:
        self._inner = inner

    # The parameter name is the ChargerCommands protocol's.
    async def execute(self, command: ChargerCommand, timeout: float) -> CommandOutcome:  # noqa: ASYNC109
        started = time.perf_counter()
        outcome = await self._inner.execute(command, timeout)
        # The domain command's class name (ReserveNow, RemoteStart, ...): the OCPP action's name
        # differs between 1.6 and 2.0.1 for the remote start/stop pair.
        observe_command_roundtrip(type(command).__name__, outcome, time.perf_counter() - started)
        return outcome

    async def is_online(self, charge_point_id: str) -> bool:
        return await self._inner.is_online(charge_point_id)



# --- HTTP side -------------------------------------------------------------------------------


def ocpi_module_of(path: str) -> str | None:
    """The OCPI module a request path addresses, None for a path outside ``/ocpi``.

    ``/ocpi/versions`` → versions, ``/ocpi/2.2.1`` → version_details,
    ``/ocpi/2.2.1/locations/L1`` and ``/ocpi/cpo/2.2.1/locations`` → locations.
    """
    if not path.startswith("/ocpi"):
        return None
    segments = path.split("/", 5)  # "", "ocpi", then at most role, version, module, rest
    if segments[1] != "ocpi":
        return None
    for segment in segments[2:]:
        lowered = segment.lower()
        if not segment or lowered in _ROLE_SEGMENTS or _VERSION_SEGMENT.match(segment):
            continue
        if lowered == "versions":
            return "versions"
        return lowered if lowered in OCPI_MODULES else "other"
    return "version_details"


_ENVELOPE_START = b'{"status_code":'


def ocpi_status_of(response: web.StreamResponse) -> int | None:
    """The ``status_code`` of an OCPI envelope in a JSON response body, else None."""
    if not isinstance(response, web.Response) or response.content_type != "application/json":
        return None
    body = response.body
    if not isinstance(body, bytes | bytearray):
        return None
    if body.startswith(_ENVELOPE_START):
        # Our envelopes put status_code first (transport.envelope): read it without parsing
        # a possibly large body.
        digits = body[len(_ENVELOPE_START):len(_ENVELOPE_START) + 5].split(b",", 1)[0]
        if digits.isdigit():
            return int(digits)
    try:
        document: Any = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    status = document.get("status_code") if isinstance(document, dict) else None
    return status if isinstance(status, int) else None


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def ocpi_metrics_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Counts and times every request under ``/ocpi``; place it outermost so that it sees the
    envelope the transport middleware builds from an OcpiError."""
    module = ocpi_module_of(request.path)
    if module is None:
        return await handler(request)
    started = time.perf_counter()
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        observe_ocpi_request(module, request.method, None, exc.status,
                             time.perf_counter() - started)
        raise
    except Exception:
        # The transport turns errors into envelopes; anything that escapes it is a 500.
        observe_ocpi_request(module, request.method, None, 500, time.perf_counter() - started)
        raise
    observe_ocpi_request(module, request.method, ocpi_status_of(response), response.status,
                         time.perf_counter() - started)
    return response


async def metrics_handler(request: web.Request) -> web.Response:
    """``GET /metrics`` in the Prometheus text exposition format."""
    response = web.Response(body=generate_latest(REGISTRY))
    # CONTENT_TYPE_LATEST carries a charset, which aiohttp's content_type argument refuses.
    response.headers["Content-Type"] = CONTENT_TYPE_LATEST
    return response


def bearer_protected(handler: Handler, token: str) -> Handler:
    """``handler`` answering 401 unless the request carries ``Authorization: Bearer <token>``."""
    expected = f"Bearer {token}".encode()

    async def protected(request: web.Request) -> web.StreamResponse:
        presented = request.headers.get("Authorization", "").encode()
        if not hmac.compare_digest(presented, expected):
            return web.Response(status=401, text="metrics need a bearer token",
                                headers={"WWW-Authenticate": 'Bearer realm="metrics"'})
        return await handler(request)

    return protected


def _serve_apart(app: web.Application, handler: Handler, listen: MetricsListen) -> None:
    """``/metrics`` on an address of its own, started and stopped with ``app``."""
    runners: list[web.AppRunner] = []

    async def start(_: web.Application) -> None:
        metrics_app = web.Application()
        metrics_app.router.add_get("/metrics", handler, allow_head=False)
        runner = web.AppRunner(metrics_app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, listen.host, listen.port).start()
        runners.append(runner)

    async def stop(_: web.Application) -> None:
        while runners:
            await runners.pop().cleanup()

    app.on_startup.append(start)
    app.on_cleanup.append(stop)


def install(app: web.Application, settings: GatewaySettings | None = None) -> None:
    """The gateway extension (``ocpi_gateway.metrics:install`` in app.EXTENSIONS): mounts
    ``/metrics`` (behind a bearer token and/or on an address of its own when ``metrics:`` in
    gateway.yaml says so), the OCPI request middleware (outermost, so that it sees the
    envelope the transport middleware builds from an OcpiError) and the connection counter
    on the bus."""
    app.middlewares.insert(0, ocpi_metrics_middleware)
    config = settings.metrics if settings is not None else MetricsSettings()
    handler: Handler = metrics_handler
    if config.bearer_token is not None:
        handler = bearer_protected(handler, config.bearer_token.get_secret_value())
    if config.listen is None:
        app.router.add_get("/metrics", handler, allow_head=False)
    else:
        _serve_apart(app, handler, config.listen)
    bus = app.get(keys.EVENT_BUS)
    if bus is not None:
        bus.subscribe(connection_listener)
    loops = app.get(keys.LOOPS)
    if loops is not None:
        loops.add_listener(LOOP_METRICS)
