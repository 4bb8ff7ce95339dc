"""``ocpi-gateway policy explain`` over the gateway's own files and the live Redis availability."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from ocpi_gateway.locations.catalog import LocationsCatalog
from ocpi_gateway.reservation_policy.availability.base import EvseStatus
from ocpi_gateway.reservation_policy.availability.redis import open_availability
from ocpi_gateway.reservation_policy.capacity.base import Promise
from ocpi_gateway.reservation_policy.capacity.classes import Need, supply_of
from ocpi_gateway.reservation_policy.capacity.redis import RedisCapacity
from ocpi_gateway.reservations.candidates import CatalogCandidates

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


async def test_explain_timeline_shows_the_sites_promises_and_why_a_slot_is_not_offered(
        tmp_path: Path, redis_url: str) -> None:
    """``policy explain --timeline`` from a shell, over the live capacity timeline in Redis
    (what the gateways admitted): the classes, the promises, and a slot's verdict."""
    catalog = LocationsCatalog.from_file(CONFIG / "locations.yaml")
    candidates = await CatalogCandidates(lambda: catalog, lambda cp: False).candidates(
        "NL-AMS-ZUIDAS")
    timeline = RedisCapacity.from_url(redis_url)
    start = (datetime.now(UTC) + timedelta(days=1)).replace(hour=18, minute=0, second=0,
                                                            microsecond=0)
    chademo = Need(frozenset({"CHADEMO"}))
    try:
        await timeline.set_supply("NL-AMS-ZUIDAS", supply_of(candidates))
        admitted = await timeline.admit("NL-AMS-ZUIDAS", Promise(
            "booking-1", start - timedelta(minutes=10), start + timedelta(minutes=70),
            chademo))
        assert admitted.ok, admitted.describe()
    finally:
        await timeline.close()
    policy = yaml.safe_load((CONFIG / "policy.yaml").read_text())
    policy["defaults"]["bookings"]["enabled"] = True
    policy["defaults"]["walk_in_reserve"] = 0
    policy_path = tmp_path / "policy.yaml"
    policy_path.write_text(yaml.safe_dump(policy))
    config = yaml.safe_load((CONFIG / "gateway.yaml").read_text())
    config.update(redis_url=redis_url, store_url=f"sqlite:///{tmp_path / 'g.db'}",
                  locations_file=str(CONFIG / "locations.yaml"), policy_file=str(policy_path),
                  chargers_file=str(CONFIG / "chargers.yaml"))
    path = tmp_path / "gateway.yaml"
    path.write_text(yaml.safe_dump(config))
    slot = f"{start.isoformat()}/{(start + timedelta(hours=1)).isoformat()}"

    done = run_cli("--config", str(path), "policy", "explain", "--location", "NL-AMS-ZUIDAS",
                   "--timeline", "--from", (start - timedelta(hours=1)).isoformat(),
                   "--hours", "3", "--standard", "CHADEMO", "--slot", slot)

    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "class CHADEMO/DC/50kW: 1 EVSEs, 1 promisable at once" in out, out
    assert "  promises: 1\n" in out and " booking booking-1 " in out
    # The one CHAdeMO EVSE is promised then: the same hour is not offered, and why.
    assert f"not offered: full from {start - timedelta(minutes=10):%m-%d %H:%M}" in out, out
    assert "nearest free: " in out
