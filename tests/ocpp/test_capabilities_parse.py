"""Reading a charger's reservation capabilities from its own answers (``ocpp_adapter/
capabilities.py``): what each version's answer says, and what it leaves unsaid (None: the
gateway keeps to chargers.yaml)."""

from __future__ import annotations

import pytest

from ocpi_gateway.domain.charger_commands import (
    CommandOutcome,
    CommandReply,
    GetConfiguration,
    GetVariables,
    SettingResult,
)
from ocpi_gateway.ocpp_adapter.capabilities import ReservationCapabilities, parse, query


def _v16(**keys: str | None) -> CommandReply:
    return CommandReply(outcome=CommandOutcome.ACCEPTED, settings=tuple(
        SettingResult(key=k, status="Accepted", value=v) if v is not None
        else SettingResult(key=k, status="UnknownKey") for k, v in keys.items()))


def _v201(status: str = "Accepted", **values: str | None) -> CommandReply:
    return CommandReply(outcome=CommandOutcome.ACCEPTED, settings=tuple(
        SettingResult(key=k, status=status if v is not None else "UnknownVariable",
                      value=v, component="ReservationCtrlr") for k, v in values.items()))


def test_the_reads_in_each_versions_terms() -> None:
    v16 = query("CP", "1.6")
    assert isinstance(v16, GetConfiguration)
    assert v16.keys == ("SupportedFeatureProfiles", "ReserveConnectorZeroSupported")
    v201 = query("CP", "2.0.1")
    assert isinstance(v201, GetVariables)
    assert [(v.component, v.variable) for v in v201.variables] == [
        ("ReservationCtrlr", "Available"), ("ReservationCtrlr", "Enabled"),
        ("ReservationCtrlr", "NonEvseSpecific")]


@pytest.mark.parametrize(("reply", "expected"), [
    (_v16(SupportedFeatureProfiles="Core,Reservation,RemoteTrigger",
          ReserveConnectorZeroSupported="true"), (True, True)),
    (_v16(SupportedFeatureProfiles="Core, reservation", ReserveConnectorZeroSupported="FALSE"),
     (True, False)),
    # A charger that lists its profiles and not the key: no reservation on connector 0.
    (_v16(SupportedFeatureProfiles="Core,Reservation", ReserveConnectorZeroSupported=None),
     (True, False)),
    (_v16(SupportedFeatureProfiles="Core,RemoteTrigger", ReserveConnectorZeroSupported="true"),
     (False, False)),
    # It says nothing of its profiles: whether it reserves is unknown.
    (_v16(SupportedFeatureProfiles=None, ReserveConnectorZeroSupported="true"), (None, True)),
    (_v16(SupportedFeatureProfiles=None, ReserveConnectorZeroSupported=None), (None, None)),
])
def test_16_answers(reply: CommandReply, expected: tuple[bool | None, bool | None]) -> None:
    assert parse("1.6", reply) == ReservationCapabilities(*expected)


@pytest.mark.parametrize(("reply", "expected"), [
    (_v201(Available="true", Enabled="true", NonEvseSpecific="true"), (True, True)),
    (_v201(Available="true", Enabled="true", NonEvseSpecific="false"), (True, False)),
    (_v201(Available="true", Enabled="false", NonEvseSpecific="true"), (False, False)),
    (_v201(Available="false", Enabled=None, NonEvseSpecific=None), (False, False)),
    (_v201(Available="true", Enabled=None, NonEvseSpecific=None), (True, None)),
    (_v201(Available=None, Enabled=None, NonEvseSpecific=None), (None, None)),
    # No reservation controller at all.
    (_v201("UnknownComponent", Available="x", Enabled="x", NonEvseSpecific="x"),
     (False, False)),
])
def test_201_answers(reply: CommandReply, expected: tuple[bool | None, bool | None]) -> None:
    assert parse("2.0.1", reply) == ReservationCapabilities(*expected)


@pytest.mark.parametrize("outcome", [CommandOutcome.NOT_SUPPORTED, CommandOutcome.REJECTED,
                                     CommandOutcome.TIMEOUT, CommandOutcome.OFFLINE])
def test_a_failed_read_says_nothing(outcome: CommandOutcome) -> None:
    for version in ("1.6", "2.0.1"):
        assert parse(version, CommandReply(outcome=outcome)) is None
