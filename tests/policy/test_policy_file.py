from __future__ import annotations

import io
import os
from pathlib import Path

import pytest

from ocpi_gateway.reservation_policy.availability.base import EvseStatus
from ocpi_gateway.reservation_policy.cli import check
from ocpi_gateway.reservation_policy.models import Partner
from ocpi_gateway.reservation_policy.policy import (
    OrderingRule,
    PolicyError,
    PolicySource,
    load_policy,
    parse_policy,
)

REPO = Path(__file__).resolve().parents[2]


def test_shipped_policy_is_valid_and_resolves_precedence() -> None:
    policy = load_policy(REPO / "config" / "policy.yaml")
    emsp = Partner("DE", "ABC")
    other = Partner("DE", "OTH")
    assert policy.effective("ELSEWHERE", other) == policy.defaults
    # partner override over defaults
    assert policy.effective("ELSEWHERE", emsp).max_duration_minutes == 90
    assert policy.effective("ELSEWHERE", emsp).max_concurrent_per_emsp == 50
    # location over partner, nested partner-at-location strongest
    utrecht = policy.effective("NL-UTR-JAARBEURS", other)
    assert utrecht.walk_in_reserve == 0 and utrecht.allow_whole_charger
    assert utrecht.ordering == (OrderingRule.HIGHEST_POWER, OrderingRule.SPREAD_ACROSS_CHARGERS)
    assert policy.effective("NL-UTR-JAARBEURS", emsp).max_duration_minutes == 120
    assert utrecht.max_duration_minutes == policy.defaults.max_duration_minutes


@pytest.mark.parametrize(("raw", "expected"), [
    ({"defaults": {"walk_in_reserv": 1}},
     "defaults.walk_in_reserv: not a known key; did you mean 'walk_in_reserve'?"),
    ({"defaults": {"walk_in_reserve": -1}}, "defaults.walk_in_reserve: Input should be greater"),
    ({"defaults": {"ordering": ["highest_power", "fastest"]}}, "defaults.ordering.1: Input"),
    ({"defaults": {"ordering": ["highest_power", "highest_power"]}},
     "defaults.ordering: a rule may appear only once"),
    ({"partners": {"nl-exa": {}}}, "partners: partner key 'nl-exa' must be COUNTRY-PARTY"),
    ({"locations": {"L9": {"enabled": "perhaps"}}}, "locations.L9.enabled: Input should be"),
    ({"defaults": {"min_duration_minutes": 30}, "locations": {"L2": {"max_duration_minutes": 10}}},
     "locations.L2: min_duration_minutes is greater than max_duration_minutes"),
    ({"locations": {"L3": {"partners": {"NL-EXA": {"min_duration_minutes": 500}}}}},
     "locations.L3.partners.NL-EXA: min_duration_minutes is greater"),
    (["a", "list"], "(top level): must be a mapping"),
])
def test_errors_name_the_file_and_the_key(raw: object, expected: str) -> None:
    with pytest.raises(PolicyError) as info:
        parse_policy(raw, "p.yaml")
    assert f"p.yaml: {expected}" in str(info.value)


def test_check_exit_codes_and_messages(tmp_path: Path) -> None:
    good = tmp_path / "good.yaml"
    good.write_text("defaults:\n  walk_in_reserve: 2\n")
    bad = tmp_path / "bad.yaml"
    bad.write_text("defaults:\n  max_duration_minutes: 0\n")
    broken = tmp_path / "broken.yaml"
    broken.write_text("defaults: [\n")
    out = io.StringIO()
    assert check(good, out) == 0
    assert "valid" in out.getvalue()
    out = io.StringIO()
    assert check(bad, out) == 1
    assert f"{bad}: defaults.max_duration_minutes:" in out.getvalue()
    out = io.StringIO()
    assert check(broken, out) == 1
    assert "not valid YAML" in out.getvalue()
    out = io.StringIO()
    assert check(tmp_path / "missing.yaml", out) == 1
    assert "cannot read" in out.getvalue()


def _touch(path: Path, text: str, bump: int) -> None:
    path.write_text(text)
    stat = path.stat()
    # mtime granularity can be coarse; move it explicitly so the test never depends on timing
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + bump * 1_000_000_000))


def test_hot_reload_by_mtime_keeps_last_good_policy(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    _touch(path, "defaults:\n  walk_in_reserve: 1\n", 0)
    source = PolicySource(path)
    assert source.effective("L").walk_in_reserve == 1
    _touch(path, "defaults:\n  walk_in_reserve: 3\n", 1)
    assert source.effective("L").walk_in_reserve == 3
    _touch(path, "defaults:\n  walk_in_reserve: many\n", 2)
    assert source.effective("L").walk_in_reserve == 3
    assert source.last_error is not None and "defaults.walk_in_reserve" in source.last_error
    with pytest.raises(PolicyError):
        source.reload()
    _touch(path, "defaults:\n  enabled: false\n", 3)
    assert source.effective("L").enabled is False
    assert source.last_error is None


def test_explicit_reload_without_mtime_change(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    _touch(path, "defaults:\n  walk_in_reserve: 1\n", 0)
    source = PolicySource(path)
    before = path.stat().st_mtime_ns
    path.write_text("defaults:\n  walk_in_reserve: 4\n")
    os.utime(path, ns=(before, before))
    assert source.effective("L").walk_in_reserve == 1
    source.reload()
    assert source.effective("L").walk_in_reserve == 4


def test_invalid_file_at_start_raises(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text("defaults:\n  ordering: [nope]\n")
    with pytest.raises(PolicyError, match=r"defaults\.ordering\.0"):
        PolicySource(path)


def test_policy_subcommands(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import argparse

    from ocpi_gateway.reservation_policy.availability.memory import MemoryAvailability
    from ocpi_gateway.reservation_policy.cli import ExplainContext, add_subcommands
    from tests.policy.support import NOW, StaticCandidates, grid

    avail = MemoryAvailability()
    cands = grid(2)

    async def context(args: argparse.Namespace) -> ExplainContext:
        for c in cands:
            await avail.set_status(c.location_id, c.evse_uid, EvseStatus.AVAILABLE, NOW)
        return ExplainContext(PolicySource(REPO / "config" / "policy.yaml"), avail,
                              StaticCandidates(cands))

    parser = argparse.ArgumentParser()
    add_subcommands(parser.add_subparsers(dest="command", required=True), context)
    args = parser.parse_args(["policy", "check", str(REPO / "config" / "policy.yaml")])
    assert args.func(args) == 0
    args = parser.parse_args(["policy", "explain", "--location", "LOC1", "--partner", "nl-exa"])
    assert args.func(args) == 0
    out = capsys.readouterr().out
    assert "location LOC1" in out and "#1 E000" in out and "E001" in out
    args = parser.parse_args(["policy", "explain", "--location", "NOWHERE"])
    assert args.func(args) == 1
    assert "unknown_location" in capsys.readouterr().out
