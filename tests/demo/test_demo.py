"""`ocpi-gateway demo` runs the whole scenario on embedded defaults and narrates each step; every
OCPI body its simulated eMSPs sent or received matches the official OpenAPI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest

from ocpi_gateway.demo import script
from tests.openapi import (
    gateway_path,
    module_of,
    validate_gateway_response,
    validate_object,
    validate_request,
)

# Its tests start Python processes (the CLI, a gateway): slow on a loaded machine, not stuck.
pytestmark = pytest.mark.timeout(300)

ROOT = Path(__file__).resolve().parents[2]


def test_demo_runs_every_step_and_exits_0(tmp_path: Path) -> None:
    # The environment must not point the demo at Redis or another store.
    env = {k: v for k, v in os.environ.items() if not k.startswith("OCPI_GATEWAY_")}
    record = tmp_path / "messages.jsonl"
    done = subprocess.run(
        [sys.executable, "-m", "ocpi_gateway.cli", "demo", "--workdir", str(tmp_path),
         "--record", str(record)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=150, check=False)
    out = done.stdout
    assert done.returncode == 0, out + done.stderr
    steps = [
        "[1] The gateway starts on its embedded defaults",
        "CP-DEMO-16: OCPP 1.6J, logged in",
        "CP-DEMO-201: OCPP 2.0.1, logged in",
        "ZUIDAS-01 AVAILABLE, ZUIDAS-02 AVAILABLE, ZUIDAS-03 AVAILABLE",
        "The gateway answers with token C",
        "ZUIDAS-03  AVAILABLE",
        "POST /commands/RESERVE_NOW: reservation_id DEMO-RES-1, location DEMO-ZUIDAS, "
        "no evse_uid",
        "Synchronous CommandResponse: result ACCEPTED, timeout 5 s",
        "Asynchronous CommandResult at the response_url: result ACCEPTED",
        "The policy picked EVSE ZUIDAS-01: charger CP-DEMO-16",
        "Locations push to the eMSP: EVSE ZUIDAS-01 is now RESERVED",
        "CP-DEMO-16 sends StartTransaction with reservationId 1",
        "reservation DEMO-RES-1 is USED (transaction started with the reservation id)",
        "Locations push to the eMSP: EVSE ZUIDAS-01 is now CHARGING",
        "The policy picked EVSE ZUIDAS-03: charger CP-DEMO-201 (OCPP 2.0.1",
        "Locations push to the eMSP: EVSE ZUIDAS-03 is now RESERVED",
        "reservation DEMO-RES-2 is EXPIRED (ended by the gateway's own expiry clock)",
        "Locations push to the eMSP: EVSE ZUIDAS-03 is now AVAILABLE",
        "A second eMSP registers on OCPI 2.3.0; the first stays on 2.2.1",
        "Demo eMSP on 2.2.1, Second eMSP on 2.3.0",
        "2.3.0 view of DEMO-ZUIDAS: help_phone +31201234567, 1 parking place(s)",
        "2.2.1 view of the same site: help_phone absent, parking places absent",
        "The 2.3.0 eMSP reads the site's booking calendar",
        "GET /ocpi/2.3.0/bookings/booking_locations: DEMO-ZUIDAS with 2 calendar(s)",
        "GET .../booking_locations/DEMO-ZUIDAS/IEC_62196_T2-AC_3_PHASE-22kW: 1 free timeslot",
        "POST /ocpi/2.3.0/bookings DEMO-BOOK-1: IEC_62196_T2,",
        "-> RESERVED, no EVSE chosen yet",
        "POST /ocpi/2.3.0/bookings DEMO-BOOK-2: IEC_62196_T2_COMBO,",
        "-> RESERVED, no EVSE chosen yet",
        "The gateway binds each booking to a free fitting EVSE",
        # ZUIDAS-01 is still charging (DEMO-RES-1): the AC booking gets the other AC EVSE.
        # Two free EVSEs for two bookings, no spare: bound at the binder's first run, which
        # may come before their binding time (then they are held early) or at it.
        "Booking push to the eMSP: DEMO-BOOK-1 RESERVED, evse_uid ZUIDAS-02",
        "; bound at ",
        "Booking push to the eMSP: DEMO-BOOK-2 RESERVED, evse_uid ZUIDAS-03",
        "; bound at ",
        "Locations push to the 2.3.0 eMSP: EVSE ZUIDAS-02 is now RESERVED",
        "Locations push to the 2.3.0 eMSP: EVSE ZUIDAS-03 is now RESERVED",
        "Driver DMN-DRIVER-1 plugs in at ZUIDAS-02: CP-DEMO-16 starts transaction",
        "Booking push: DEMO-BOOK-1 FULFILLED",
        "Booking push: DEMO-BOOK-2 NO_SHOW",
        "Locations push to the 2.3.0 eMSP: EVSE ZUIDAS-03 is AVAILABLE again",
        "Both eMSPs reserve at the same site",
        "eMSP DE-DMO (OCPI 2.2.1): POST /ocpi/2.2.1/commands/RESERVE_NOW DEMO-RES-3 → ACCEPTED",
        "eMSP DE-DMN (OCPI 2.3.0): POST /ocpi/2.3.0/commands/RESERVE_NOW DEMO-RES-4 → ACCEPTED",
        "Locations pushes to DE-DMO in 2.2.1:",
        "Locations pushes to DE-DMN in 2.3.0:",
        "Demo complete",
    ]
    position = 0
    for step in steps:
        found = out.find(step, position)
        assert found >= 0, f"missing, or out of order: {step!r}\n{out}"
        position = found + len(step)
    # It ran where it was told: its own database and operator files.
    assert {p.name for p in tmp_path.iterdir()} >= {
        "gateway.db", "locations.yaml", "chargers.yaml", "policy.yaml"}
    assert "DEMO FAILED" not in out
    _every_message_matches_the_openapi(
        [orjson.loads(line) for line in record.read_bytes().splitlines()])


def _every_message_matches_the_openapi(messages: list[dict[str, Any]]) -> None:
    kinds: set[tuple[str, str, str]] = set()
    for m in messages:
        if m["kind"] == "call":  # the gateway's answer (and what the eMSP asked it)
            validate_gateway_response(m["method"], m["path"], m["response"],
                                      http_status=m["http_status"])
            version, path = gateway_path(m["path"])
            module = module_of(path)
            if m["request"] is not None and module in ("bookings", "commands"):
                validate_request(version, m["method"], path, m["request"],
                                 interface="sender" if module == "bookings" else "receiver")
        elif m["path"].startswith("/results/"):
            validate_object(m["version"], "commands", "CommandResult", m["request"])
            module = "commands"
        else:  # a push of the gateway's to the eMSP's receiver
            validate_request(m["version"], m["method"], m["path"], m["request"])
            module = module_of(m["path"])
        kinds.add((m["kind"], m["version"], module))
    # Each kind of message the story is about was there to check.
    assert kinds >= {("call", "2.3.0", "bookings"), ("push", "2.3.0", "bookings"),
                     ("push", "2.3.0", "locations"), ("push", "2.2.1", "locations"),
                     ("call", "2.2.1", "commands"), ("push", "2.2.1", "commands")}, kinds
    # Each Booking as its pushes made it: PUT whole once, then PATCHes of what changed.
    held: dict[str, dict[str, Any]] = {}
    methods = set()
    for m in messages:
        if (m["kind"] == "push" and m["path"].startswith("/bookings/")
                and "booking_locations" not in m["path"]):
            methods.add(m["method"])
            before = held.get(m["path"], {}) if m["method"] == "PATCH" else {}
            held[m["path"]] = {**before, **m["request"]}
    assert methods == {"PUT", "PATCH"}
    assert {(b["request_id"], b["reservation_status"]) for b in held.values()} >= {
        ("DEMO-BOOK-1", "FULFILLED"), ("DEMO-BOOK-2", "NO_SHOW")}


async def test_a_failing_step_is_named_and_the_demo_returns_1(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A token of another eMSP: the gateway refuses the reservation at once.
    monkeypatch.setitem(script.DRIVER_TOKEN, "party_id", "XXX")
    lines: list[str] = []
    code = await script.run_demo(lines.append, workdir=tmp_path)
    assert code == 1
    failure = next(line for line in lines if line.startswith("DEMO FAILED"))
    assert failure.startswith("DEMO FAILED at step 5: CommandResponse")
    assert "REJECTED" in failure
    assert not any(line.startswith("Demo complete") for line in lines)
