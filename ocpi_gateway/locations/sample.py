"""Generated realistic locations (4 EVSEs on one OCPP 2.0.1 charger each) for benchmarks,
tests and demos."""

from __future__ import annotations

from typing import Any

from ocpi_gateway.locations.catalog import parse_locations
from ocpi_gateway.locations.models import OperatorLocation


def sample_location(i: int, *, country_code: str = "NL", party_id: str = "EXA") -> dict[str, Any]:
    connector = {
        "standard": "IEC_62196_T2", "format": "SOCKET", "power_type": "AC_3_PHASE",
        "max_voltage": 230, "max_amperage": 32, "max_electric_power": 22000,
        "tariff_ids": ["AC-STANDARD"],
    }
    return {
        "id": f"LOC-{i:05d}",
        "country_code": country_code,
        "party_id": party_id,
        "publish": True,
        "name": f"Laadplein {i}",
        "address": f"Stationsstraat {i % 300 + 1}",
        "city": "Amersfoort",
        "postal_code": "3811 MH",
        "country": "NLD",
        "coordinates": {"latitude": f"52.{150000 + i % 9999:06d}",
                        "longitude": f"5.{370000 + i % 9999:06d}"},
        "parking_type": "PARKING_LOT",
        "time_zone": "Europe/Amsterdam",
        "facilities": ["TRAIN_STATION", "CAFE"],
        "operator": {"name": "Example Charging B.V.", "website": "https://charging.example.com"},
        "opening_times": {"twentyfourseven": True},
        "evses": [
            {
                "uid": f"LOC-{i:05d}-{n}",
                "evse_id": f"NL*EXA*E{i:05d}*{n}",
                "charge_point_id": f"CP-{i:05d}",
                "ocpp_evse_id": n,
                "capabilities": ["RESERVABLE", "REMOTE_START_STOP_CAPABLE", "RFID_READER"],
                "physical_reference": f"P{n}",
                "parking_restrictions": ["EV_ONLY"],
                "connectors": [{"id": "1", **connector}],
            }
            for n in range(1, 5)
        ],
    }


def sample_locations(count: int) -> list[OperatorLocation]:
    return parse_locations({"locations": [sample_location(i) for i in range(count)]}, "<sample>")
