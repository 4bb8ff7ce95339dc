"""Whether the operator files agree with each other.

Each file is valid on its own when its loader accepts it; these are the contradictions
between two of them that no single loader can see, and that would otherwise show up only at
run time (an EVSE whose charger can never connect, an override that never applies).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ocpi_gateway.domain.ids import OcppVersion
from ocpi_gateway.locations.models import OperatorLocation
from ocpi_gateway.ocpp_adapter.chargers_config import ChargersConfig
from ocpi_gateway.reservation_policy.policy import PolicyFile


@dataclass(frozen=True, slots=True)
class Findings:
    errors: list[str] = field(default_factory=list)
    """Contradictions: the gateway refuses to start on them."""
    warnings: list[str] = field(default_factory=list)
    """Probably unintended, harmless to run with."""


def disagreements(locations: Sequence[OperatorLocation], locations_file: Path | str | None, *,
                  chargers: ChargersConfig | None = None,
                  chargers_file: Path | str | None = None,
                  policy: PolicyFile | None = None,
                  policy_file: Path | str | None = None) -> Findings:
    """What the locations contradict in chargers.yaml and policy.yaml (each file checked only
    when it is configured: no chargers file means no charger may connect yet)."""
    found = Findings()
    where = locations_file or "<locations>"
    if chargers is not None:
        _against_chargers(locations, where, chargers, chargers_file or "<chargers>", found)
    if policy is not None:
        known = {location.id.casefold() for location in locations}
        for location_id in policy.locations:
            if location_id.casefold() not in known:
                found.errors.append(
                    f"{policy_file or '<policy>'}: locations.{location_id}: no location "
                    f"{location_id!r} in {where}")
    return found


def _against_chargers(locations: Sequence[OperatorLocation], where: Path | str,
                      chargers: ChargersConfig, chargers_file: Path | str,
                      found: Findings) -> None:
    used: set[str] = set()
    for location in locations:
        for evse in location.evses:
            used.add(evse.charge_point_id)
            charger = chargers.get(evse.charge_point_id)
            place = f"{where}: location {location.id!r}: evses[{evse.uid}]"
            if charger is None:
                found.errors.append(
                    f"{place}.charge_point_id: charger {evse.charge_point_id!r} is not in "
                    f"{chargers_file}, so it can never connect")
                continue
            if charger.ocpp_version == OcppVersion.V16 and evse.ocpp_evse_id is not None:
                found.errors.append(
                    f"{place}.ocpp_evse_id: charger {charger.id!r} speaks OCPP 1.6 (in "
                    f"{chargers_file}), which has no evseId: use ocpp_connector_id")
            elif charger.ocpp_version == OcppVersion.V201 and evse.ocpp_evse_id is None:
                found.errors.append(
                    f"{place}.ocpp_evse_id: charger {charger.id!r} speaks OCPP 2.0.1 (in "
                    f"{chargers_file}): give the EVSE's evseId")
    for charger in chargers.chargers:
        if charger.id not in used:
            found.warnings.append(
                f"{chargers_file}: charger {charger.id!r}: no EVSE in {where} belongs to it "
                "(it may connect, but publishes nothing)")
