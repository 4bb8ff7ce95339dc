"""The demo's operator files, written into its working directory: one site with three EVSEs on
two chargers, chargers with freshly generated passwords, and a policy that allows reservations
short enough to watch one expire and bookings a few seconds ahead."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ocpi_gateway.ocpp_adapter.auth import hash_password

LOCATION_ID = "DEMO-ZUIDAS"
CP16 = "CP-DEMO-16"
CP201 = "CP-DEMO-201"
CPO_ROLE = {"country_code": "NL", "party_id": "EXA",
            "business_details": {"name": "Example CPO (demo)"}}
MIN_DURATION_SECONDS = 3.0
"""Shortest reservation the demo policy allows (the example policy says 5 minutes)."""
BOOKING_LEAD_SECONDS = 6.0
"""The demo policy's activation_lead_minutes, in seconds: a booking is bound this long before
its start."""
BOOKING_NOSHOW_SECONDS = 6.0
"""The demo policy's noshow_timeout_minutes, in seconds."""


@dataclass(frozen=True)
class DemoFiles:
    locations_file: Path
    policy_file: Path
    chargers_file: Path
    passwords: dict[str, str]
    """charger id → the password it logs in with (only its hash is in chargers_file)."""


def _connector(cid: str, ocpp_id: int, standard: str, fmt: str, power_type: str,
               voltage: int, amperage: int, power: int) -> dict[str, Any]:
    return {"id": cid, "ocpp_connector_id": ocpp_id, "standard": standard, "format": fmt,
            "power_type": power_type, "max_voltage": voltage, "max_amperage": amperage,
            "max_electric_power": power}


def locations_doc() -> dict[str, Any]:
    reservable = ["RESERVABLE", "REMOTE_START_STOP_CAPABLE", "RFID_READER", "UNLOCK_CAPABLE"]
    ac = ("IEC_62196_T2", "SOCKET", "AC_3_PHASE", 230, 32, 22000)
    return {"locations": [{
        "id": LOCATION_ID, "country_code": "NL", "party_id": "EXA",
        "name": "Parkeergarage Zuidas (demo)", "address": "Gustav Mahlerlaan 1234",
        "city": "Amsterdam", "postal_code": "1082 MK", "country": "NLD",
        "coordinates": {"latitude": "52.338420", "longitude": "4.872830"},
        "time_zone": "Europe/Amsterdam",
        # 2.3.0 only: 2.2.1 partners receive the same site without these.
        "help_phone": "+31201234567",
        "parking_places": [{"id": "P-LEVEL-1", "vehicle_types": ["PERSONAL_VEHICLE", "VAN"],
                            "restricted_to_type": False, "reservation_required": False}],
        "evses": [
            {"uid": "ZUIDAS-01", "evse_id": "NL*EXA*E0001*1", "charge_point_id": CP16,
             "capabilities": reservable, "connectors": [_connector("1", 1, *ac)]},
            {"uid": "ZUIDAS-02", "evse_id": "NL*EXA*E0001*2", "charge_point_id": CP16,
             "capabilities": reservable, "connectors": [_connector("1", 2, *ac)]},
            {"uid": "ZUIDAS-03", "evse_id": "NL*EXA*E0002*1", "charge_point_id": CP201,
             "ocpp_evse_id": 1, "capabilities": reservable,
             "connectors": [_connector("1", 1, "IEC_62196_T2_COMBO", "CABLE", "DC", 920, 200,
                                       150000)]},
        ],
    }]}


def policy_doc() -> dict[str, Any]:
    return {"defaults": {
        "enabled": True,
        "min_duration_minutes": MIN_DURATION_SECONDS / 60,
        "max_duration_minutes": 60,
        "walk_in_reserve": 0,
        "max_concurrent_per_emsp": 10,
        "ordering": ["spread_across_chargers", "least_recently_reserved"],
        # Bookings on a demo's time scale (minutes, fractions allowed): slots on a one-second
        # grid, bound 6 s before their start, a no-show 6 s after it.
        "bookings": {
            "enabled": True, "max_advance_days": 1, "min_duration_minutes": 0.5,
            "max_duration_minutes": 60, "timeslot_increment_minutes": 1 / 60,
            "activation_lead_minutes": BOOKING_LEAD_SECONDS / 60,
            "early_start_minutes": 0.05,
            "noshow_timeout_minutes": BOOKING_NOSHOW_SECONDS / 60,
            "cancel_until_minutes": 0, "change_until_minutes": 0,
            "turnover_buffer_minutes": 0, "waitlist_minutes": 0},
    }}


def chargers_doc(passwords: dict[str, str], versions: dict[str, str]) -> dict[str, Any]:
    return {"chargers": [
        {"id": cp, "ocpp_version": versions[cp], "security_profile": 1,
         "password_hash": hash_password(password),
         "capabilities": {"reserve_whole_charger": False}}
        for cp, password in passwords.items()]}


def write_files(folder: Path) -> DemoFiles:
    passwords = {CP16: secrets.token_urlsafe(18), CP201: secrets.token_urlsafe(18)}
    docs = {
        "locations.yaml": locations_doc(),
        "policy.yaml": policy_doc(),
        "chargers.yaml": chargers_doc(passwords, {CP16: "1.6", CP201: "2.0.1"}),
    }
    for name, doc in docs.items():
        (folder / name).write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return DemoFiles(folder / "locations.yaml", folder / "policy.yaml", folder / "chargers.yaml",
                     passwords)
