"""Simulated chargers for the demo (OCPP 1.6J here, 2.0.1 in ``chargers201``): the ``ocpp``
package's client ChargePoint over an aiohttp websocket, with just enough state to behave like
a real charger towards the gateway.

A charger keeps its reservations and drops one by itself a little after its expiry (its own
clock checks once in a while, as real ones do), answers ReserveNow / CancelReservation /
remote start and stop / UnlockConnector, and reports every status change it makes.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

import aiohttp
from aiohttp import WSMsgType
from ocpp import routing
from ocpp.v16 import ChargePoint as ChargePoint16
from ocpp.v16 import call as call16
from ocpp.v16 import call_result as result16
from ocpp.v16.enums import Action as Action16

Note = Callable[[str], None]
_Fn = TypeVar("_Fn", bound=Callable[..., Any])


def on(action: str) -> Callable[[_Fn], _Fn]:
    """``ocpp.routing.on`` with a type mypy can see through; the package validates both the
    gateway's requests and our answers against the OCPP schemas."""
    register: Callable[[_Fn], _Fn] = routing.on(action)
    return register


def after(action: str) -> Callable[[_Fn], _Fn]:
    """``ocpp.routing.after``, typed: runs once the answer has been sent."""
    register: Callable[[_Fn], _Fn] = routing.after(action)
    return register


EXPIRY_CHECK_DELAY = 2.5
"""Seconds after a reservation's expiry before the simulated charger notices it. Later than
the gateway's expiry clock (every second), so the demo shows the gateway ending it: a 1.6
charger never says that a reservation expired."""


def stamp_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def basic_auth(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


class ClientConnection:
    """What ocpp.ChargePoint expects of a connection, over an aiohttp client websocket."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws

    async def send(self, message: str) -> None:
        await self.ws.send_str(message)

    async def recv(self) -> str:
        msg = await self.ws.receive()
        if msg.type == WSMsgType.TEXT:
            return str(msg.data)
        raise ConnectionError(f"websocket {msg.type.name}")


@dataclass
class HeldReservation:
    reservation_id: int
    slot: int
    """1.6 connectorId, 2.0.1 evseId."""
    id_token: str
    expiry: datetime


class SimulatedCharger:
    """State and behaviour shared by both protocol versions; ``slot`` is a 1.6 connectorId
    or a 2.0.1 evseId."""

    version = ""
    subprotocol = ""

    def __init__(self, charge_point_id: str, password: str, slots: list[int],
                 note: Note = print) -> None:
        self.id = charge_point_id
        self.password = password
        self.status: dict[int, str] = {slot: "Unavailable" for slot in slots}
        self.reservations: dict[int, HeldReservation] = {}
        self.transactions: dict[int, str] = {}
        """slot → transaction id of the transaction running there."""
        self.note = note
        self._cp: Any = None
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._tasks: set[asyncio.Task[Any]] = set()

    # ------------------------------------------------------------------ connection

    async def connect(self, http: aiohttp.ClientSession, ocpp_url: str) -> None:
        """Open the websocket (security profile 1: Basic auth) and start answering calls."""
        self._ws = await http.ws_connect(
            f"{ocpp_url}/{self.id}", protocols=(self.subprotocol,),
            headers={"Authorization": basic_auth(self.id, self.password)})
        if self._ws.protocol != self.subprotocol:
            raise ConnectionError(f"gateway chose {self._ws.protocol}, not {self.subprotocol}")
        self._cp = self._charge_point(ClientConnection(self._ws))
        self._spawn(self._serve())

    async def _serve(self) -> None:
        try:
            await self._cp.start()
        except ConnectionError:
            pass  # the websocket closed: this charger's connection is over

    def _charge_point(self, connection: ClientConnection) -> Any:
        raise NotImplementedError

    async def close(self) -> None:
        if self._ws is not None:
            await self._ws.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self.note(f"{self.id} (charger): {type(task.exception()).__name__}: "
                      f"{task.exception()}")

    async def call(self, message: Any) -> Any:
        return await self._cp.call(message)

    # ------------------------------------------------------------------ reporting

    async def boot(self) -> None:
        raise NotImplementedError

    async def set_status(self, slot: int, status: str) -> None:
        raise NotImplementedError

    async def report_all(self, status: str) -> None:
        for slot in self.status:
            await self.set_status(slot, status)

    # ------------------------------------------------------------------ reservations

    def reserve(self, reservation_id: int, slot: int, id_token: str, expiry: datetime) -> str:
        """The ReserveNow answer; OCPP replaces a reservation sent again with its id."""
        previous = self.reservations.get(reservation_id)
        if slot not in self.status:
            return "Rejected"
        state = self.status[slot]
        if state == "Faulted":
            return "Faulted"
        if state == "Unavailable":
            return "Unavailable"
        free = state == "Available" or (previous is not None and previous.slot == slot)
        if not free:
            return "Occupied"
        self.reservations[reservation_id] = HeldReservation(reservation_id, slot, id_token,
                                                            expiry)
        return "Accepted"

    async def after_reserve(self, reservation_id: int) -> None:
        held = self.reservations.get(reservation_id)
        if held is None:
            return
        if self.status[held.slot] != "Reserved":
            await self.set_status(held.slot, "Reserved")
        self._spawn(self._expire_later(held))

    async def _expire_later(self, held: HeldReservation) -> None:
        reservation_id = held.reservation_id
        delay = (held.expiry - datetime.now(UTC)).total_seconds() + EXPIRY_CHECK_DELAY
        await asyncio.sleep(max(delay, 0.0))
        if self.reservations.get(reservation_id) is held:
            del self.reservations[reservation_id]
            self.note(f"{self.id} (charger): reservation #{reservation_id} expired here too, "
                      "the connector is free again")
            await self.report_expired(reservation_id)
            await self.set_status(held.slot, "Available")

    async def report_expired(self, reservation_id: int) -> None:
        """2.0.1 tells the CSMS; 1.6 has no message for it."""

    def cancel(self, reservation_id: int) -> bool:
        return self.reservations.get(reservation_id) is not None

    async def after_cancel(self, reservation_id: int) -> None:
        held = self.reservations.pop(reservation_id, None)
        if held is not None and self.status[held.slot] == "Reserved":
            await self.set_status(held.slot, "Available")

    # ------------------------------------------------------------------ transactions

    def slot_for(self, id_token: str) -> tuple[int, int | None] | None:
        """Where this driver may charge: their reserved slot, else the first free one."""
        for held in self.reservations.values():
            if held.id_token == id_token:
                return held.slot, held.reservation_id
        for slot, state in self.status.items():
            if state == "Available":
                return slot, None
        return None

    async def arrive(self, id_token: str) -> str:
        """A driver plugs in and presents ``id_token``: start charging, with the reservation id
        when they hold one here. Returns the transaction id."""
        found = self.slot_for(id_token)
        if found is None:
            raise RuntimeError(f"{self.id} has no free connector for {id_token}")
        slot, reservation_id = found
        if reservation_id is not None:
            del self.reservations[reservation_id]
        transaction_id = await self.start_transaction(slot, id_token, reservation_id)
        self.transactions[slot] = transaction_id
        return transaction_id

    async def start_transaction(self, slot: int, id_token: str,
                                reservation_id: int | None) -> str:
        raise NotImplementedError

    async def stop_transaction(self, transaction_id: str) -> None:
        raise NotImplementedError

    def has_transaction(self, transaction_id: str) -> bool:
        return transaction_id in self.transactions.values()


# ---------------------------------------------------------------------- OCPP 1.6J


class _Cp16(ChargePoint16):  # type: ignore[misc]
    sim: Charger16

    @on(Action16.reserve_now)
    def on_reserve_now(self, connector_id: int, expiry_date: str, id_tag: str,
                       reservation_id: int, **_: Any) -> Any:
        answer = self.sim.reserve(reservation_id, connector_id, id_tag, parse_time(expiry_date))
        self.sim.note(f"{self.sim.id} (charger): ReserveNow #{reservation_id} for connector "
                      f"{connector_id}, token {id_tag} -> {answer}")
        return result16.ReserveNow(status=answer)

    @after(Action16.reserve_now)
    async def after_reserve_now(self, reservation_id: int, **_: Any) -> None:
        await self.sim.after_reserve(reservation_id)

    @on(Action16.cancel_reservation)
    def on_cancel_reservation(self, reservation_id: int, **_: Any) -> Any:
        known = self.sim.cancel(reservation_id)
        return result16.CancelReservation(status="Accepted" if known else "Rejected")

    @after(Action16.cancel_reservation)
    async def after_cancel_reservation(self, reservation_id: int, **_: Any) -> None:
        await self.sim.after_cancel(reservation_id)

    @on(Action16.remote_start_transaction)
    def on_remote_start_transaction(self, id_tag: str, connector_id: int | None = None,
                                    **_: Any) -> Any:
        ok = self.sim.slot_for(id_tag) is not None
        return result16.RemoteStartTransaction(status="Accepted" if ok else "Rejected")

    @after(Action16.remote_start_transaction)
    async def after_remote_start_transaction(self, id_tag: str, **_: Any) -> None:
        if self.sim.slot_for(id_tag) is not None:
            await self.sim.arrive(id_tag)

    @on(Action16.remote_stop_transaction)
    def on_remote_stop_transaction(self, transaction_id: int, **_: Any) -> Any:
        ok = self.sim.has_transaction(str(transaction_id))
        return result16.RemoteStopTransaction(status="Accepted" if ok else "Rejected")

    @after(Action16.remote_stop_transaction)
    async def after_remote_stop_transaction(self, transaction_id: int, **_: Any) -> None:
        if self.sim.has_transaction(str(transaction_id)):
            await self.sim.stop_transaction(str(transaction_id))

    @on(Action16.unlock_connector)
    def on_unlock_connector(self, connector_id: int, **_: Any) -> Any:
        return result16.UnlockConnector(status="Unlocked")


class Charger16(SimulatedCharger):
    """An OCPP 1.6J charger; each connector is one OCPI EVSE."""

    version = "1.6J"
    subprotocol = "ocpp1.6"

    def _charge_point(self, connection: ClientConnection) -> Any:
        cp = _Cp16(self.id, connection, response_timeout=5)
        cp.sim = self
        return cp

    async def boot(self) -> None:
        reply = await self.call(call16.BootNotification(
            charge_point_model="Demo AC 2x22", charge_point_vendor="OCPI Gateway Demo"))
        if reply.status != "Accepted":
            raise ConnectionError(f"{self.id}: BootNotification {reply.status}")

    async def set_status(self, slot: int, status: str) -> None:
        self.status[slot] = status
        await self.call(call16.StatusNotification(connector_id=slot, error_code="NoError",
                                                  status=status))

    async def start_transaction(self, slot: int, id_token: str,
                                reservation_id: int | None) -> str:
        await self.set_status(slot, "Preparing")
        reply = await self.call(call16.StartTransaction(
            connector_id=slot, id_tag=id_token, meter_start=0, timestamp=stamp_now(),
            reservation_id=reservation_id))
        await self.set_status(slot, "Charging")
        return str(reply.transaction_id)

    async def stop_transaction(self, transaction_id: str) -> None:
        slot = next(s for s, t in self.transactions.items() if t == transaction_id)
        del self.transactions[slot]
        await self.call(call16.StopTransaction(meter_stop=7000, timestamp=stamp_now(),
                                               transaction_id=int(transaction_id),
                                               reason="Remote"))
        await self.set_status(slot, "Available")
