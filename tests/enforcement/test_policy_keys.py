"""The enforcement keys of policy.yaml: defaults, overrides merged key by key like the rest,
errors naming file and key, and what ``policy check`` and ``policy explain`` show."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from ocpi_gateway.reservation_policy.availability.memory import MemoryAvailability
from ocpi_gateway.reservation_policy.cli import check, explain
from ocpi_gateway.reservation_policy.enforcement.terms import NoShowRate, NoShowStrikes
from ocpi_gateway.reservation_policy.models import Partner
from ocpi_gateway.reservation_policy.policy import PolicyError, PolicySource, parse_policy
from tests.enforcement.support import T0

DOC = {
    "defaults": {"grace_minutes": 5,
                 "no_show_strikes": {"count": 3, "within_days": 30, "ban_days": 7},
                 "max_no_show_rate": {"rate": 0.4, "within_days": 14, "min_reservations": 20}},
    "partners": {"DE-EMS": {"grace_minutes": 2.5, "no_show_strikes": {"count": 5},
                            "max_no_show_rate": {"rate": 1}}},
    "locations": {"LOC-BUSY": {"grace_minutes": 0, "no_show_strikes": {"ban_days": 1},
                               "partners": {"DE-EMS": {"no_show_strikes": {"within_days": 3}}}}},
}


def test_absent_keys_switch_nothing_on() -> None:
    settings = parse_policy({}).effective("LOC")
    assert settings.grace_minutes == 0
    assert settings.no_show_strikes == NoShowStrikes()
    assert not settings.no_show_strikes.enabled and not settings.max_no_show_rate.enabled
    assert settings.no_show_strikes.describe() == "off"
    assert settings.max_no_show_rate.describe() == "off"


def test_overrides_merge_key_by_key() -> None:
    policy = parse_policy(DOC)
    anyone = policy.effective("LOC")
    assert anyone.grace_minutes == 5
    assert anyone.no_show_strikes == NoShowStrikes(count=3, within_days=30, ban_days=7)
    assert anyone.max_no_show_rate == NoShowRate(rate=0.4, within_days=14, min_reservations=20)
    assert anyone.no_show_strikes.describe() == "3 within 30 days -> ban of 7 days"
    assert anyone.max_no_show_rate.describe() == "40% over 14 days (from 20 ended)"
    emsp = policy.effective("LOC", Partner("de", "ems"))
    assert emsp.grace_minutes == 2.5
    assert emsp.no_show_strikes == NoShowStrikes(count=5, within_days=30, ban_days=7)
    assert emsp.max_no_show_rate.rate == 1 and not emsp.max_no_show_rate.enabled
    assert emsp.max_no_show_rate.within_days == 14
    busy = policy.effective("LOC-BUSY", Partner("NL", "OTH"))
    assert busy.grace_minutes == 0
    assert busy.no_show_strikes == NoShowStrikes(count=3, within_days=30, ban_days=1)
    both = policy.effective("LOC-BUSY", Partner("DE", "EMS"))
    assert both.no_show_strikes == NoShowStrikes(count=5, within_days=3, ban_days=1)


@pytest.mark.parametrize(("doc", "where"), [
    ({"defaults": {"grace_minutes": -1}}, "defaults.grace_minutes"),
    ({"defaults": {"grace_minutes": 24 * 60 + 1}}, "defaults.grace_minutes"),
    ({"defaults": {"no_show_strikes": {"count": -1}}}, "defaults.no_show_strikes.count"),
    ({"defaults": {"no_show_strikes": {"ban_days": 0}}}, "defaults.no_show_strikes.ban_days"),
    ({"defaults": {"no_show_strikes": {"within_days": 0}}},
     "defaults.no_show_strikes.within_days"),
    ({"defaults": {"no_show_strikes": {"days": 3}}}, "defaults.no_show_strikes.days"),
    ({"defaults": {"max_no_show_rate": {"rate": 1.5}}}, "defaults.max_no_show_rate.rate"),
    ({"defaults": {"max_no_show_rate": {"min_reservations": 0}}},
     "defaults.max_no_show_rate.min_reservations"),
    ({"defaults": {"max_no_show_rate": {"within_days": 400}}},
     "defaults.max_no_show_rate.within_days"),
    ({"partners": {"DE-EMS": {"no_show_strikes": {"count": 1.5}}}},
     "partners.DE-EMS.no_show_strikes.count"),
    ({"partners": {"DE-EMS": {"max_no_show_rate": {"rate": -0.1}}}},
     "partners.DE-EMS.max_no_show_rate.rate"),
    ({"locations": {"L": {"grace_minutes": -2}}}, "locations.L.grace_minutes"),
    ({"locations": {"L": {"partners": {"DE-EMS": {"no_show_strikes": {"ban_days": -1}}}}}},
     "locations.L.partners.DE-EMS.no_show_strikes.ban_days"),
])
def test_errors_name_the_file_and_the_key(doc: dict[str, object], where: str) -> None:
    with pytest.raises(PolicyError) as raised:
        parse_policy(doc, "policy.yaml")
    assert str(raised.value).startswith(f"policy.yaml: {where}: ")


def test_policy_check_shows_the_enforcement_defaults(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text("defaults:\n  grace_minutes: 5\n  no_show_strikes: {count: 2}\n"
                    "  max_no_show_rate: {rate: 0.25}\n")
    out = io.StringIO()
    assert check(path, out) == 0
    assert out.getvalue().splitlines()[1] == (
        "  defaults: grace_minutes=5 no_show_strikes=2 within 30 days -> ban of 7 days "
        "max_no_show_rate=25% over 30 days (from 10 ended)")
    path.write_text("defaults:\n  no_show_strikes: {count: two}\n")
    out = io.StringIO()
    assert check(path, out) == 1
    assert f"{path}: defaults.no_show_strikes.count: " in out.getvalue()


async def test_policy_explain_shows_the_keys_in_force() -> None:
    source = PolicySource(policy=parse_policy(DOC))
    text = await explain(source, MemoryAvailability(), "LOC-BUSY", [],
                         partner=Partner("DE", "EMS"), now=T0)
    assert ("  enforcement: grace_minutes=0 no_show_strikes=5 within 3 days -> ban of 1 days "
            "max_no_show_rate=off") in text.splitlines()
