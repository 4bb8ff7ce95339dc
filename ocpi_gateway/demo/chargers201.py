"""The demo's simulated OCPP 2.0.1 charging station (the shared behaviour is in ``chargers``)."""

from __future__ import annotations

import contextlib
import itertools
import uuid
from typing import Any

from ocpp.v201 import ChargePoint as ChargePoint201
from ocpp.v201 import call as call201
from ocpp.v201 import call_result as result201
from ocpp.v201.enums import Action as Action201

from ocpi_gateway.demo.chargers import (
    ClientConnection,
    Note,
    SimulatedCharger,
    after,
    on,
    parse_time,
    stamp_now,
)


class _Cp201(ChargePoint201):  # type: ignore[misc]
    sim: Charger201

    @on(Action201.reserve_now)
    def on_reserve_now(self, id: int, expiry_date_time: str, id_token: dict[str, Any],
                       evse_id: int | None = None, **_: Any) -> Any:
        if evse_id is None:
            answer = "Rejected"  # this charger does not take reservations of no EVSE
        else:
            answer = self.sim.reserve(id, evse_id, id_token["id_token"],
                                      parse_time(expiry_date_time))
        self.sim.token_types[id_token["id_token"]] = id_token.get("type", "Central")
        self.sim.note(f"{self.sim.id} (charger): ReserveNow #{id} for EVSE {evse_id}, "
                      f"token {id_token['id_token']} -> {answer}")
        return result201.ReserveNow(status=answer)

    @after(Action201.reserve_now)
    async def after_reserve_now(self, id: int, **_: Any) -> None:
        await self.sim.after_reserve(id)

    @on(Action201.cancel_reservation)
    def on_cancel_reservation(self, reservation_id: int, **_: Any) -> Any:
        known = self.sim.cancel(reservation_id)
        return result201.CancelReservation(status="Accepted" if known else "Rejected")

    @after(Action201.cancel_reservation)
    async def after_cancel_reservation(self, reservation_id: int, **_: Any) -> None:
        await self.sim.after_cancel(reservation_id)

    @on(Action201.request_start_transaction)
    def on_request_start_transaction(self, id_token: dict[str, Any], remote_start_id: int,
                                     **_: Any) -> Any:
        ok = self.sim.slot_for(id_token["id_token"]) is not None
        self.sim.token_types[id_token["id_token"]] = id_token.get("type", "Central")
        return result201.RequestStartTransaction(status="Accepted" if ok else "Rejected")

    @after(Action201.request_start_transaction)
    async def after_request_start_transaction(self, id_token: dict[str, Any],
                                              **_: Any) -> None:
        if self.sim.slot_for(id_token["id_token"]) is not None:
            await self.sim.arrive(id_token["id_token"])

    @on(Action201.request_stop_transaction)
    def on_request_stop_transaction(self, transaction_id: str, **_: Any) -> Any:
        ok = self.sim.has_transaction(transaction_id)
        return result201.RequestStopTransaction(status="Accepted" if ok else "Rejected")

    @after(Action201.request_stop_transaction)
    async def after_request_stop_transaction(self, transaction_id: str, **_: Any) -> None:
        if self.sim.has_transaction(transaction_id):
            await self.sim.stop_transaction(transaction_id)

    @on(Action201.unlock_connector)
    def on_unlock_connector(self, evse_id: int, connector_id: int, **_: Any) -> Any:
        return result201.UnlockConnector(status="Unlocked")


class Charger201(SimulatedCharger):
    """An OCPP 2.0.1 charging station; each EVSE (one connector each) is one OCPI EVSE."""

    version = "2.0.1"
    subprotocol = "ocpp2.0.1"

    def __init__(self, charge_point_id: str, password: str, slots: list[int],
                 note: Note = print) -> None:
        super().__init__(charge_point_id, password, slots, note)
        self.token_types: dict[str, str] = {}
        self._seq = itertools.count()

    def _charge_point(self, connection: ClientConnection) -> Any:
        cp = _Cp201(self.id, connection, response_timeout=5)
        cp.sim = self
        return cp

    async def boot(self) -> None:
        reply = await self.call(call201.BootNotification(
            charging_station={"model": "Demo DC 150", "vendor_name": "OCPI Gateway Demo"},
            reason="PowerUp"))
        if reply.status != "Accepted":
            raise ConnectionError(f"{self.id}: BootNotification {reply.status}")

    async def set_status(self, slot: int, status: str) -> None:
        self.status[slot] = status
        # 2.0.1 connectors know fewer states than 1.6: in use is "Occupied".
        ocpp = "Occupied" if status in ("Preparing", "Charging") else status
        await self.call(call201.StatusNotification(timestamp=stamp_now(), connector_status=ocpp,
                                                   evse_id=slot, connector_id=1))

    async def report_expired(self, reservation_id: int) -> None:
        await self.call(call201.ReservationStatusUpdate(
            reservation_id=reservation_id, reservation_update_status="Expired"))

    async def start_transaction(self, slot: int, id_token: str,
                                reservation_id: int | None) -> str:
        transaction_id = uuid.uuid4().hex[:16]
        await self.set_status(slot, "Charging")
        await self.call(call201.TransactionEvent(
            event_type="Started", timestamp=stamp_now(), trigger_reason="Authorized",
            seq_no=next(self._seq),
            transaction_info={"transaction_id": transaction_id, "charging_state": "Charging"},
            evse={"id": slot, "connector_id": 1},
            id_token={"id_token": id_token, "type": self.token_types.get(id_token, "Central")},
            reservation_id=reservation_id))
        return transaction_id

    async def stop_transaction(self, transaction_id: str) -> None:
        slot = next(s for s, t in self.transactions.items() if t == transaction_id)
        del self.transactions[slot]
        await self.call(call201.TransactionEvent(
            event_type="Ended", timestamp=stamp_now(), trigger_reason="RemoteStop",
            seq_no=next(self._seq),
            transaction_info={"transaction_id": transaction_id, "stopped_reason": "Remote"},
            evse={"id": slot, "connector_id": 1}))
        with contextlib.suppress(Exception):
            await self.set_status(slot, "Available")
