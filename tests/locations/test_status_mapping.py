"""The OCPP → OCPI status table and how an EVSE's status is derived."""

from __future__ import annotations

import pytest

from ocpi_gateway.domain.events import ConnectorStatus as C
from ocpi_gateway.locations.status import evse_status, map_ocpp_status, published_status
from ocpi_gateway.reservation_policy.availability.base import EvseStatus as S


@pytest.mark.parametrize(("ocpp", "ocpi"), [
    (C.AVAILABLE, S.AVAILABLE),
    (C.PREPARING, S.CHARGING),
    (C.CHARGING, S.CHARGING),
    (C.SUSPENDED_EV, S.CHARGING),
    (C.SUSPENDED_EVSE, S.CHARGING),
    (C.FINISHING, S.CHARGING),
    (C.OCCUPIED, S.CHARGING),
    (C.RESERVED, S.RESERVED),
    (C.UNAVAILABLE, S.INOPERATIVE),
    (C.FAULTED, S.OUTOFORDER),
])
def test_table(ocpp: C, ocpi: S) -> None:
    assert map_ocpp_status(ocpp) is ocpi


def test_every_ocpp_status_is_mapped() -> None:
    assert {map_ocpp_status(s) for s in C} <= set(S)


def test_connector_in_use_wins() -> None:
    assert evse_status([S.AVAILABLE, S.CHARGING]) is S.CHARGING
    assert evse_status([S.OUTOFORDER, S.AVAILABLE]) is S.AVAILABLE
    assert evse_status([S.RESERVED, S.AVAILABLE]) is S.RESERVED
    assert evse_status([]) is S.UNKNOWN


def test_charger_wide_and_offline() -> None:
    assert evse_status([S.AVAILABLE], charger_override=C.UNAVAILABLE) is S.INOPERATIVE
    assert evse_status([S.CHARGING], charger_override=C.FAULTED) is S.OUTOFORDER
    assert evse_status([S.CHARGING], charger_override=C.AVAILABLE) is S.CHARGING
    assert evse_status([S.AVAILABLE], offline=True) is S.UNKNOWN


def test_hold_shows_reserved_only_when_available() -> None:
    assert published_status(S.AVAILABLE, held=True) is S.RESERVED
    assert published_status(S.CHARGING, held=True) is S.CHARGING
    assert published_status(S.AVAILABLE, held=False) is S.AVAILABLE
