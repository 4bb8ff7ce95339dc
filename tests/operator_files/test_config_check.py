"""``ocpi-gateway config check``: all files read, every problem of every file at once, and the
contradictions between files that no single file's loader can see."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from ocpi_gateway.cli import main
from ocpi_gateway.config_check.check import check_files
from ocpi_gateway.config_check.consistency import disagreements
from ocpi_gateway.locations.catalog import load_locations_file
from ocpi_gateway.ocpp_adapter.chargers_config import ChargersConfig, load_chargers
from ocpi_gateway.reservation_policy.policy import load_policy

SAMPLE = Path(__file__).resolve().parents[2] / "config"


@pytest.fixture
def config(tmp_path: Path) -> Path:
    for name in ("gateway.yaml", "locations.yaml", "policy.yaml", "chargers.yaml",
                 "tariffs.yaml", "operators.yaml"):
        shutil.copy(SAMPLE / name, tmp_path / name)
    return tmp_path


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, old
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def test_the_shipped_files_pass(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--config", str(config / "gateway.yaml"), "config", "check"]) == 0
    out = capsys.readouterr().out
    assert f"{config / 'locations.yaml'}: 2 locations, 8 EVSEs" in out
    assert f"{config / 'operators.yaml'}: 0 operators: nobody can log in" in out
    assert out.rstrip().endswith("configuration OK")


def test_problems_in_several_files_are_all_reported_in_one_run(
        config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _edit(config / "policy.yaml", "  walk_in_reserve:", "  walk_in_reserv:")
    _edit(config / "chargers.yaml", "    security_profile: 1", "    security_profile: 7")
    _edit(config / "tariffs.yaml", "    currency: EUR", "    curency: EUR")
    assert main(["--config", str(config / "gateway.yaml"), "config", "check"]) == 2
    err = capsys.readouterr().err
    assert f"{config / 'policy.yaml'}: defaults.walk_in_reserv: not a known key" in err
    assert f"{config / 'chargers.yaml'}: charger '" in err
    assert f"{config / 'tariffs.yaml'}: tariff 'AC-STANDARD': curency: not a known key; " \
        "did you mean 'currency'?" in err
    assert "nothing was started" in err


def test_an_evse_of_a_charger_missing_from_chargers_yaml_is_refused(config: Path) -> None:
    _edit(config / "locations.yaml", "charge_point_id: CP-AMS-01", "charge_point_id: CP-XX")
    report = check_files(config / "gateway.yaml", environ={})
    assert report.errors == [
        f"{config / 'locations.yaml'}: location 'NL-AMS-ZUIDAS': evses[AMS-ZUIDAS-01]."
        f"charge_point_id: charger 'CP-XX' is not in {config / 'chargers.yaml'}, so it can "
        "never connect"]


def test_a_policy_override_for_an_unknown_location_is_refused(config: Path) -> None:
    _edit(config / "policy.yaml", "  NL-UTR-JAARBEURS:", "  NL-UTR-JAARBEUR:")
    report = check_files(config / "gateway.yaml", environ={})
    assert report.errors == [
        f"{config / 'policy.yaml'}: locations.NL-UTR-JAARBEUR: no location 'NL-UTR-JAARBEUR' "
        f"in {config / 'locations.yaml'}"]


def test_every_unknown_tariff_is_named(config: Path) -> None:
    text = (config / "locations.yaml").read_text(encoding="utf-8")
    count = text.count("tariff_ids: [AC-STANDARD]")
    assert count >= 2
    (config / "locations.yaml").write_text(
        text.replace("tariff_ids: [AC-STANDARD]", "tariff_ids: [NOPE]"), encoding="utf-8")
    report = check_files(config / "gateway.yaml", environ={})
    assert len(report.errors) == count
    assert all("unknown tariff 'NOPE'" in line for line in report.errors)


def _pinned(chargers: ChargersConfig, charger_id: str, version: str) -> ChargersConfig:
    raw = chargers.model_dump(mode="json")
    for charger in raw["chargers"]:
        if charger["id"] == charger_id:
            charger["ocpp_version"] = version
    return ChargersConfig.model_validate(raw)


def test_an_evse_mapping_of_the_wrong_ocpp_version_is_refused(config: Path) -> None:
    locations = load_locations_file(config / "locations.yaml")
    chargers = load_chargers(config / "chargers.yaml")
    pinned_16 = _pinned(chargers, "CP-AMS-02", "1.6")
    found = disagreements(locations, "L", chargers=pinned_16, chargers_file="C")
    assert len(found.errors) == 2  # CP-AMS-02 holds two EVSEs mapped by evseId
    assert all("charger 'CP-AMS-02' speaks OCPP 1.6 (in C), which has no evseId" in line
               for line in found.errors)
    pinned_201 = _pinned(chargers, "CP-AMS-01", "2.0.1")
    found = disagreements(locations, "L", chargers=pinned_201, chargers_file="C")
    assert len(found.errors) == 2
    assert all("charger 'CP-AMS-01' speaks OCPP 2.0.1 (in C): give the EVSE's evseId" in line
               for line in found.errors)


def test_a_charger_no_evse_uses_is_a_warning_only(config: Path) -> None:
    report = check_files(config / "gateway.yaml", environ={})
    assert report.ok
    assert report.warnings == [
        f"{config / 'chargers.yaml'}: charger 'CP-UTR-02': no EVSE in "
        f"{config / 'locations.yaml'} belongs to it (it may connect, but publishes nothing)"]


def test_without_a_chargers_file_or_policy_nothing_is_checked_against_them(
        config: Path) -> None:
    locations = load_locations_file(config / "locations.yaml")
    assert disagreements(locations, "L").errors == []
    policy = load_policy(config / "policy.yaml")
    assert disagreements(locations, "L", policy=policy).errors == []


def test_invalid_settings_stop_the_check_before_the_other_files(config: Path) -> None:
    _edit(config / "gateway.yaml", "log_level: INFO", "log_levl: INFO")
    _edit(config / "policy.yaml", "  walk_in_reserve:", "  walk_in_reserv:")
    report = check_files(config / "gateway.yaml", environ={"OCPI_GATEWAY_X": "1"})
    assert report.errors == [f"{config / 'gateway.yaml'}: log_levl: not a known key; did you "
                             "mean 'log_level'?"]
    assert report.warnings == [
        "environment variable OCPI_GATEWAY_X is not a setting and is ignored"]


def test_the_operators_file_is_checked_with_the_others(config: Path) -> None:
    """serve refuses an invalid operators file at start: the check says so first."""
    made = "scrypt$8$8$1$c2FsdA==$aGFzaA=="
    (config / "operators.yaml").write_text(
        "operators:\n"
        f"  - {{name: alice, role: operator, password_hash: '{made}'}}\n"
        f"  - {{name: Alice, role: viewer, password_hash: '{made}'}}\n"
        f"  - {{name: bob, rol: viewer, password_hash: '{made}'}}\n", encoding="utf-8")
    _edit(config / "policy.yaml", "  walk_in_reserve:", "  walk_in_reserv:")
    report = check_files(config / "gateway.yaml", environ={})
    operators = [e for e in report.errors if e.startswith(str(config / "operators.yaml"))]
    assert any("operator 'bob'" in e and "rol: not a known key; did you mean 'role'?" in e
               for e in operators), operators
    assert any(f"{config / 'policy.yaml'}: defaults.walk_in_reserv" in e
               for e in report.errors)

    (config / "operators.yaml").write_text(
        "operators:\n"
        f"  - {{name: alice, role: operator, password_hash: '{made}'}}\n"
        f"  - {{name: Alice, role: viewer, password_hash: '{made}'}}\n", encoding="utf-8")
    report = check_files(config / "gateway.yaml", environ={})
    assert any("operator name 'Alice' appears twice" in e for e in report.errors), \
        report.errors
    (config / "operators.yaml").unlink()
    report = check_files(config / "gateway.yaml", environ={})
    assert [e for e in report.errors if "operators.yaml" in e], report.errors
