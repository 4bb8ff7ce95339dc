"""`ocpi-gateway demo` runs the whole scenario on embedded defaults and narrates each step."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from ocpi_gateway.demo import script

# Its tests start Python processes (the CLI, a gateway): slow on a loaded machine, not stuck.
pytestmark = pytest.mark.timeout(300)

ROOT = Path(__file__).resolve().parents[2]


def test_demo_runs_every_step_and_exits_0(tmp_path: Path) -> None:
    # The environment must not point the demo at Redis or another store.
    env = {k: v for k, v in os.environ.items() if not k.startswith("OCPI_GATEWAY_")}
    done = subprocess.run(
        [sys.executable, "-m", "ocpi_gateway.cli", "demo", "--workdir", str(tmp_path)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=45, check=False)
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
