"""``ocpi-gateway policy explain`` over the gateway's own files and the live Redis availability."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from ocpi_gateway.reservation_policy.availability.base import EvseStatus
from ocpi_gateway.reservation_policy.availability.redis import open_availability

# Its tests start Python processes (the CLI, a gateway): slow on a loaded machine, not stuck.
pytestmark = pytest.mark.timeout(300)

CONFIG = Path(__file__).resolve().parents[2] / "config"


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ocpi_gateway.cli", *args],
                          capture_output=True, text=True, timeout=60, check=False)


async def test_explain_ranks_live_free_evses_and_says_why_others_are_out(
        tmp_path: Path, redis_url: str) -> None:
    availability = open_availability(redis_url)
    now = datetime.now(UTC)
    await availability.set_status("NL-AMS-ZUIDAS", "AMS-ZUIDAS-01", EvseStatus.AVAILABLE, now)
    await availability.set_status("NL-AMS-ZUIDAS", "AMS-ZUIDAS-02", EvseStatus.CHARGING, now)
    await availability.set_status("NL-AMS-ZUIDAS", "AMS-ZUIDAS-03", EvseStatus.AVAILABLE, now)
    await availability.close()
    config = yaml.safe_load((CONFIG / "gateway.yaml").read_text())
    config.update(redis_url=redis_url, store_url=f"sqlite:///{tmp_path / 'g.db'}",
                  locations_file=str(CONFIG / "locations.yaml"),
                  policy_file=str(CONFIG / "policy.yaml"),
                  chargers_file=str(CONFIG / "chargers.yaml"))
    path = tmp_path / "gateway.yaml"
    path.write_text(yaml.safe_dump(config))

    done = run_cli("--config", str(path), "policy", "explain", "--location", "NL-AMS-ZUIDAS")

    assert done.returncode == 0, done.stderr
    lines = {line.split(" on ")[0].split()[-1]: line for line in done.stdout.splitlines()
             if " on CP-" in line}
    assert "excluded: not_reservable" in lines["AMS-ZUIDAS-04"]
    assert "[CHARGING]" in lines["AMS-ZUIDAS-02"]
    # Two free EVSEs and a walk-in reserve of one: exactly one may be reserved.
    assert "walk_in_reserve" in done.stdout
    assert sum("#1" in line for line in lines.values()) == 1


def test_policy_check_names_the_bad_key(tmp_path: Path) -> None:
    bad = tmp_path / "policy.yaml"
    bad.write_text("defaults:\n  walk_in_reserve: -1\n")
    done = run_cli("policy", "check", str(bad))
    assert done.returncode != 0
    assert "walk_in_reserve" in done.stdout + done.stderr
