"""The narrated demo scenario: the real gateway on loopback, two simulated chargers and two
simulated eMSPs; a location-level reservation that gets used and one that expires, an eMSP on
2.3.0 beside the one on 2.2.1, two bookings bound late (one used, one a no-show), and both
eMSPs reserving at the same site."""

from __future__ import annotations

import asyncio
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import structlog
from aiohttp import web

from ocpi_gateway import keys
from ocpi_gateway.app import create_app
from ocpi_gateway.demo.bookings_act import bookings_act
from ocpi_gateway.demo.chargers import Charger16, SimulatedCharger
from ocpi_gateway.demo.chargers201 import Charger201
from ocpi_gateway.demo.common import (
    DemoFailed,
    DemoSettings,
    Narrator,
    Out,
    bound_socket,
    clock_text,
    iso,
)
from ocpi_gateway.demo.emsp import EmspError, Exchange, SimulatedEmsp
from ocpi_gateway.demo.setup import (
    CP16,
    CP201,
    CPO_ROLE,
    LOCATION_ID,
    MIN_DURATION_SECONDS,
    write_files,
)
from ocpi_gateway.demo.versions import both_reserve, second_emsp
from ocpi_gateway.locations.extension import AVAILABILITY
from ocpi_gateway.partners.grants import grants_from_options
from ocpi_gateway.reservation_policy.availability.base import EvseStatus
from ocpi_gateway.reservation_policy.models import Partner
from ocpi_gateway.reservation_policy.records import Reservation, ReservationState
from ocpi_gateway.reservations.extension import RESERVATIONS
from ocpi_gateway.versions import versions_url

log = structlog.get_logger(__name__)

CHARGER_SECONDS = 2.0
RESULT_SECONDS = 5
EXPIRING_AFTER_SECONDS = 5.0
DRIVER_UID = "04A1B2C3D4E5F6"
DRIVER_TOKEN: dict[str, Any] = {"country_code": "DE", "party_id": "DMO", "uid": DRIVER_UID,
                "type": "RFID", "contract_id": "DE-DMO-C12345678-X", "issuer": "Demo eMSP",
                "valid": True, "whitelist": "ALLOWED", "last_updated": "2026-01-01T00:00:00Z"}


@dataclass
class Demo:
    workdir: Path
    narrator: Narrator
    gateway: web.AppRunner | None = None
    app: web.Application | None = None
    http: aiohttp.ClientSession | None = None
    emsp: SimulatedEmsp | None = None
    chargers: dict[str, SimulatedCharger] = field(default_factory=dict)
    transitions: list[Reservation] = field(default_factory=list)
    url: str = ""
    passwords: dict[str, str] = field(default_factory=dict)
    others: list[SimulatedEmsp] = field(default_factory=list)
    traffic: list[Exchange] = field(default_factory=list)
    """Every OCPI message of the simulated eMSPs (the demo's test validates them)."""

    # ------------------------------------------------------------------ plumbing

    async def close(self) -> None:
        for charger in self.chargers.values():
            await charger.close()
        if self.http is not None:
            await self.http.close()
        for emsp in [self.emsp, *self.others]:
            if emsp is not None:
                await emsp.close()
        if self.gateway is not None:
            await self.gateway.cleanup()

    async def _on_transition(self, reservation: Reservation, previous: ReservationState) -> None:
        self.transitions.append(reservation)

    async def _ended(self, reservation_id: str, within: float) -> Reservation:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while loop.time() < deadline:
            for r in self.transitions:
                if r.reservation_id == reservation_id and not r.live:
                    return r
            await asyncio.sleep(0.02)
        raise DemoFailed(f"reservation {reservation_id} did not end within {within:.0f} s")

    async def _statuses(self) -> dict[str, EvseStatus]:
        assert self.app is not None
        seen = await self.app[AVAILABILITY].location(LOCATION_ID)
        return {uid: avail.status for uid, avail in seen.items()}

    # ------------------------------------------------------------------ steps

    async def start_gateway(self) -> str:
        n = self.narrator
        n.title("The gateway starts on its embedded defaults")
        files = write_files(self.workdir)
        # Every run tells the same story from an empty database, also in a kept --workdir.
        for old in self.workdir.glob("gateway.db*"):
            old.unlink()
        sock = bound_socket()
        port = sock.getsockname()[1]
        url = f"http://127.0.0.1:{port}"
        settings = DemoSettings(
            listen={"host": "127.0.0.1", "port": port}, public_url=url, cpo_roles=[CPO_ROLE],
            store_url=f"sqlite:///{self.workdir / 'gateway.db'}", redis_url=None,
            locations_file=files.locations_file, policy_file=files.policy_file,
            chargers_file=files.chargers_file, instance_id="demo",
            # The simulated eMSP receives its CommandResults on loopback.
            allow_private_response_urls=True,
            command_timeouts={"charger_seconds": CHARGER_SECONDS,
                              "ocpi_result_seconds": RESULT_SECONDS})
        self.passwords = files.passwords
        self.app = create_app(settings)
        self.gateway = web.AppRunner(self.app, access_log=None, shutdown_timeout=1.0)
        await self.gateway.setup()
        await web.SockSite(self.gateway, sock).start()
        self.app[RESERVATIONS].add_listener(self._on_transition)
        self.url = url
        n.say(f"OCPI 2.2.1 and 2.3.0, CPO role NL-EXA:  {versions_url(url)}")
        n.say(f"OCPP 1.6J and 2.0.1 chargers: {url.replace('http', 'ws')}/ocpp/<charger id>")
        n.say(f"State in SQLite at {self.workdir / 'gateway.db'}; no Redis, no MongoDB.")
        n.say(f"Operator files in {self.workdir}: locations.yaml (site {LOCATION_ID}, "
              "3 EVSEs), chargers.yaml, policy.yaml.")
        return url

    async def connect_chargers(self) -> None:
        n = self.narrator
        n.title("Two chargers connect and report their connectors Available")
        self.http = aiohttp.ClientSession()
        ocpp_url = self.url.replace("http://", "ws://") + "/ocpp"
        self.chargers = {
            CP16: Charger16(CP16, self.passwords[CP16], [1, 2], note=n.say),
            CP201: Charger201(CP201, self.passwords[CP201], [1], note=n.say),
        }
        for charger in self.chargers.values():
            try:
                await charger.connect(self.http, ocpp_url)
            except aiohttp.WSServerHandshakeError as exc:
                raise DemoFailed(f"{charger.id} could not log in: HTTP {exc.status}") from exc
            await charger.boot()
            await charger.report_all("Available")
            slots = "connectors 1 and 2" if charger.version == "1.6J" else "EVSE 1"
            n.say(f"{charger.id}: OCPP {charger.version}, logged in with its own password "
                  f"(HTTP Basic, security profile 1); BootNotification accepted; "
                  f"{slots} Available.")
        expected = {"ZUIDAS-01", "ZUIDAS-02", "ZUIDAS-03"}
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 5
        statuses = await self._statuses()
        while {u for u, s in statuses.items() if s is EvseStatus.AVAILABLE} != expected:
            if loop.time() > deadline:
                raise DemoFailed(f"the gateway does not see every EVSE Available: {statuses}")
            await asyncio.sleep(0.02)
            statuses = await self._statuses()
        n.say("The gateway maps OCPP statuses to OCPI: "
              + ", ".join(f"{uid} {statuses[uid].value}" for uid in sorted(expected)) + ".")

    async def register_emsp(self) -> None:
        n = self.narrator
        assert self.app is not None
        n.title("An eMSP registers with the gateway (OCPI credentials handshake)")
        self.emsp = SimulatedEmsp(traffic=self.traffic)
        await self.emsp.start()
        _, token_a = await self.app[keys.PARTNERS].invite(
            "Demo eMSP", grants_from_options(roles=[f"EMSP:{self.emsp.country_code}-"
                                                     f"{self.emsp.party_id}"]))
        n.say("The operator invites it (`ocpi-gateway partners invite --name 'Demo eMSP' "
              "--role EMSP:DE-DMO`) and "
              f"hands over token A and {versions_url(self.url)}.")
        try:
            credentials = await self.emsp.register(versions_url(self.url), token_a)
        except EmspError as exc:
            raise DemoFailed(f"registration failed: {exc}") from exc
        roles = ", ".join(f"{r['role']} {r['country_code']}-{r['party_id']}"
                          for r in credentials["roles"])
        n.say("eMSP DE-DMO: GET versions and the 2.2.1 endpoints with token A, then POST its "
              "credentials with a fresh token B.")
        n.say(f"The gateway answers with token C for all further calls; it serves: {roles}. "
              "Token A is now dead.")
        modules = sorted({key.split(":")[0] for key in self.emsp.endpoints})
        n.say(f"Gateway modules the eMSP can use: {', '.join(modules)}.")

    async def read_locations(self) -> None:
        n = self.narrator
        assert self.emsp is not None
        n.title("The eMSP reads the gateway's Locations (GET /locations)")
        try:
            locations = await self.emsp.read_locations()
        except EmspError as exc:
            raise DemoFailed(f"reading locations failed: {exc}") from exc
        if not any(loc["id"] == LOCATION_ID for loc in locations):
            raise DemoFailed(f"location {LOCATION_ID} is not published")
        for location in locations:
            n.say(f"{location['id']}  {location.get('name', '')}, {location['city']}")
            for evse in location.get("evses", []):
                connector = evse["connectors"][0]
                kw = connector.get("max_electric_power", 0) // 1000
                n.say(f"  {evse['uid']:<10} {evse['status']:<10} {connector['standard']:<19}"
                      f"{connector['power_type']:<11} {kw:>3} kW  "
                      f"{'RESERVABLE' if 'RESERVABLE' in evse.get('capabilities', []) else ''}")
        if any(evse["status"] != "AVAILABLE" for loc in locations
               for evse in loc.get("evses", []) if loc["id"] == LOCATION_ID):
            raise DemoFailed("the eMSP does not see every EVSE AVAILABLE")

    async def reserve(self, reservation_id: str, expiry: datetime,
                      explain: str) -> Reservation:
        """RESERVE_NOW for the location (no evse_uid) up to the CommandResult; the record the
        gateway keeps of the reservation."""
        n = self.narrator
        assert self.emsp is not None and self.app is not None
        body: dict[str, Any] = {
            "response_url": self.emsp.response_url(reservation_id), "token": DRIVER_TOKEN,
            "expiry_date": iso(expiry), "reservation_id": reservation_id,
            "location_id": LOCATION_ID}
        n.say(f"POST /commands/RESERVE_NOW: reservation_id {reservation_id}, location "
              f"{LOCATION_ID}, no evse_uid ({explain}), token {DRIVER_TOKEN['uid']}, "
              f"expiry_date {clock_text(expiry)}.")
        try:
            response = await self.emsp.command("RESERVE_NOW", body)
        except EmspError as exc:
            raise DemoFailed(f"RESERVE_NOW was refused: {exc}") from exc
        n.say(f"Synchronous CommandResponse: result {response['result']}, timeout "
              f"{response['timeout']} s. (The gateway took the command; the outcome follows "
              "at the response_url.)")
        if response["result"] != "ACCEPTED":
            raise DemoFailed(f"CommandResponse {response['result']}: {_texts(response)}")
        result = await self._result(reservation_id)
        record = await self.app[RESERVATIONS].get(Partner("DE", "DMO"), reservation_id)
        if record is None or record.evse_uid is None:
            raise DemoFailed(f"the gateway has no live reservation {reservation_id}")
        charger = self.chargers[record.charge_point_id or ""]
        n.say(f"Asynchronous CommandResult at the response_url: result {result['result']}.")
        where = (f"connector {record.connector_id}" if record.evse_id is None
                 else f"EVSE {record.evse_id}")
        n.say(f"The policy picked EVSE {record.evse_uid}: charger {charger.id} (OCPP "
              f"{charger.version}, {where}), OCPP reservation id {record.ocpp_reservation_id}.")
        return record

    async def _result(self, reservation_id: str) -> dict[str, Any]:
        assert self.emsp is not None
        try:
            result = await self.emsp.wait_result(reservation_id, RESULT_SECONDS + 2)
        except EmspError as exc:
            raise DemoFailed(str(exc)) from exc
        if result["result"] != "ACCEPTED":
            raise DemoFailed(f"CommandResult {result['result']}: {_texts(result)}")
        return result

    async def _pushed(self, evse_uid: str, status: str, after: int, within: float) -> None:
        assert self.emsp is not None
        try:
            await self.emsp.wait_status(evse_uid, status, within, after=after)
        except EmspError as exc:
            raise DemoFailed(str(exc)) from exc
        self.narrator.say(f"Locations push to the eMSP: EVSE {evse_uid} is now {status}.")

    async def reservation_used(self) -> None:
        n = self.narrator
        assert self.emsp is not None
        n.title("The eMSP reserves any free EVSE at the site (location-level RESERVE_NOW)")
        mark = len(self.emsp.status_changes)
        expiry = datetime.now(UTC) + timedelta(minutes=15)
        n.say("Demo policy ordering: spread_across_chargers (the charger with fewest busy "
              "EVSEs first), then least_recently_reserved, then the EVSE uid.")
        record = await self.reserve("DEMO-RES-1", expiry, "the gateway's policy chooses")
        assert record.evse_uid is not None
        await self._pushed(record.evse_uid, "RESERVED", mark, 5)
        n.say("Other drivers and eMSPs now see it taken; the charger keeps it for token "
              f"{DRIVER_TOKEN['uid']} only.")

        n.title("The driver arrives and starts charging on the reserved EVSE")
        charger = self.chargers[record.charge_point_id or ""]
        mark = len(self.emsp.status_changes)
        transaction = await charger.arrive(DRIVER_UID)
        message = ("StartTransaction" if charger.version == "1.6J"
                   else "TransactionEvent(Started)")
        n.say(f"{charger.id} sends {message} with reservationId "
              f"{record.ocpp_reservation_id} (transaction {transaction}).")
        ended = await self._ended("DEMO-RES-1", 5)
        if ended.state is not ReservationState.USED:
            raise DemoFailed(f"reservation DEMO-RES-1 ended {ended.state.value}, not USED")
        n.say(f"Gateway: reservation DEMO-RES-1 is {ended.state.value} "
              f"({_reason(ended)}); the EVSE hold is released.")
        await self._pushed(record.evse_uid, "CHARGING", mark, 5)

    async def reservation_expires(self) -> None:
        n = self.narrator
        assert self.emsp is not None
        n.title("A second reservation that nobody comes for")
        view = self.emsp.locations.get(LOCATION_ID, {}).get("evses", [])
        n.say("The eMSP's copy of the site, kept current by the pushes: "
              + ", ".join(f"{e['uid']} {e['status']}" for e in view) + ".")
        mark = len(self.emsp.status_changes)
        expiry = datetime.now(UTC) + timedelta(seconds=EXPIRING_AFTER_SECONDS)
        record = await self.reserve(
            "DEMO-RES-2", expiry,
            f"{EXPIRING_AFTER_SECONDS:.0f} s long: the demo policy allows reservations from "
            f"{MIN_DURATION_SECONDS:.0f} s")
        assert record.evse_uid is not None
        await self._pushed(record.evse_uid, "RESERVED", mark, 5)
        n.say(f"Nobody arrives. Waiting for {clock_text(expiry)} ...")
        mark = len(self.emsp.status_changes)
        ended = await self._ended("DEMO-RES-2", EXPIRING_AFTER_SECONDS + 5)
        if ended.state is not ReservationState.EXPIRED:
            raise DemoFailed(f"reservation DEMO-RES-2 ended {ended.state.value}, not EXPIRED")
        n.say(f"Gateway: reservation DEMO-RES-2 is {ended.state.value} ({_reason(ended)}); "
              "EVSE and eMSP quota are free again.")
        await self._pushed(record.evse_uid, "AVAILABLE", mark, 5)


def _texts(answer: dict[str, Any]) -> str:
    return " ".join(t.get("text", "") for t in answer.get("message") or []) or "no message"


def _reason(r: Reservation) -> str:
    reason = r.history[-1].get("reason") if r.history else None
    if reason == "expiry clock":
        return "ended by the gateway's own expiry clock"
    return str(reason or "no reason recorded")


async def run_demo(out: Out = print, *, workdir: Path | None = None,
                   traffic: list[Exchange] | None = None) -> int:
    """Run the scenario, narrating to ``out``; 0 when every step happened, 1 otherwise.
    ``traffic``: filled with every OCPI message of the simulated eMSPs."""
    narrator = Narrator(out)
    with tempfile.TemporaryDirectory(prefix="ocpi-demo-") as tmp:
        demo = Demo(workdir or Path(tmp), narrator)
        if traffic is not None:
            demo.traffic = traffic
        out("OCPI gateway demo: one site, two chargers and two eMSPs (OCPI 2.2.1 and 2.3.0), "
            "all on this machine.")
        try:
            await demo.start_gateway()
            await demo.connect_chargers()
            await demo.register_emsp()
            await demo.read_locations()
            await demo.reservation_used()
            await demo.reservation_expires()
            newer = await second_emsp(demo)
            await bookings_act(demo, newer)
            await both_reserve(demo, newer)
        except DemoFailed as exc:
            out("")
            out(f"DEMO FAILED at step {narrator.step}: {exc}")
            return 1
        except Exception as exc:
            # Something under the scenario broke (a port, a socket, a charger's call): say
            # where; the traceback goes to the log (``demo --verbose``).
            log.exception("demo_failed", step=narrator.step)
            out("")
            out(f"DEMO FAILED at step {narrator.step}: unexpected {type(exc).__name__}: {exc}")
            return 1
        finally:
            await demo.close()
    out("")
    out("Demo complete: the reservation was used by the driver, the second one expired; "
        "both bookings were bound at activation, one used, one a no-show.")
    return 0
