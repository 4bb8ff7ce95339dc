"""How every operator file answers a mistake: file and key named, all problems at once, the
nearest known key for a misspelt one, the item named by its id rather than its index."""

from __future__ import annotations

from pathlib import Path

import pytest

from ocpi_gateway.config import ConfigError, load_settings
from ocpi_gateway.domain.operator_file import OperatorFileError, known_keys, read_yaml
from ocpi_gateway.locations.catalog import LocationsConfigError, load_locations_file
from ocpi_gateway.locations.models import OperatorLocations
from ocpi_gateway.ocpp_adapter.chargers_config import ChargersConfigError, load_chargers
from ocpi_gateway.reservation_policy.policy import PolicyError, load_policy

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "config"


def _copy(tmp_path: Path, name: str, replace: tuple[str, str] | None = None) -> Path:
    text = (SAMPLE / name).read_text(encoding="utf-8")
    if replace is not None:
        assert replace[0] in text, replace
        text = text.replace(replace[0], replace[1], 1)
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _problems(error: pytest.ExceptionInfo[OperatorFileError]) -> list[str]:
    assert error.value.problems == tuple(str(error.value).splitlines())
    return list(error.value.problems)


def test_a_misspelt_key_inside_a_section_of_gateway_yaml_is_refused_with_the_near_one(
        tmp_path: Path) -> None:
    # Before: listen.prot was silently ignored and the gateway listened on the default port.
    path = _copy(tmp_path, "gateway.yaml", ("  port: 8080", "  prot: 8080"))
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    assert _problems(caught) == [f"{path}: listen.prot: not a known key; did you mean 'port'?"]


def test_a_key_nothing_resembles_lists_the_known_ones(tmp_path: Path) -> None:
    path = _copy(tmp_path, "gateway.yaml",
                 ("command_timeouts:\n", "command_timeouts:\n  zzz: 1\n"))
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    assert _problems(caught) == [
        f"{path}: command_timeouts.zzz: not a known key (known here: charger_seconds, "
        "ocpi_result_seconds)"]


def test_every_problem_of_a_file_is_reported_at_once(tmp_path: Path) -> None:
    path = _copy(tmp_path, "gateway.yaml", ("  port: 8080", "  port: -1"))
    text = path.read_text(encoding="utf-8").replace("log_level: INFO", "log_levl: INFO")
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    problems = _problems(caught)
    assert len(problems) == 2
    assert problems[0].startswith(f"{path}: listen.port: ")
    assert problems[1] == f"{path}: log_levl: not a known key; did you mean 'log_level'?"


def test_an_unsupported_store_is_one_line_naming_the_key(tmp_path: Path) -> None:
    path = _copy(tmp_path, "gateway.yaml",
                 ("store_url: sqlite:///../var/gateway.db", "store_url: postgres://db/x"))
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    assert _problems(caught) == [
        f"{path}: store_url: unsupported store 'postgres://db/x': use sqlite:///PATH "
        "(embedded) or mongodb://HOST/DB"]


def test_a_misspelt_key_deep_in_a_location_names_location_and_evse_by_their_ids(
        tmp_path: Path) -> None:
    path = _copy(tmp_path, "locations.yaml", ("        connectors:", "        conectors:"))
    with pytest.raises(LocationsConfigError) as caught:
        load_locations_file(path)
    problems = _problems(caught)
    assert f"{path}: location 'NL-AMS-ZUIDAS': evses[AMS-ZUIDAS-01].conectors: not a known " \
        "key; did you mean 'connectors'?" in problems


def test_a_repeated_evse_uid_is_named(tmp_path: Path) -> None:
    path = _copy(tmp_path, "locations.yaml",
                 ("      - uid: AMS-ZUIDAS-02", "      - uid: AMS-ZUIDAS-01"))
    with pytest.raises(LocationsConfigError) as caught:
        load_locations_file(path)
    assert any("EVSE uid 'AMS-ZUIDAS-01' appears twice" in line for line in _problems(caught))


def test_policy_and_chargers_suggest_the_near_key_too(tmp_path: Path) -> None:
    policy = _copy(tmp_path, "policy.yaml", ("  walk_in_reserve:", "  walk_in_reserv:"))
    with pytest.raises(PolicyError) as policy_error:
        load_policy(policy)
    assert _problems(policy_error) == [
        f"{policy}: defaults.walk_in_reserv: not a known key; did you mean 'walk_in_reserve'?"]
    chargers = _copy(tmp_path, "chargers.yaml", ("    security_profile: 1",
                                                 "    security_profle: 1"))
    with pytest.raises(ChargersConfigError) as chargers_error:
        load_chargers(chargers)
    problems = _problems(chargers_error)
    assert len(problems) == 1
    assert problems[0].startswith(f"{chargers}: charger '")
    assert problems[0].endswith(": security_profle: not a known key; did you mean "
                                "'security_profile'?")


def test_bad_yaml_is_one_line_with_its_place(tmp_path: Path) -> None:
    path = tmp_path / "x.yaml"
    path.write_text("a: [1, 2\nb: 3\n", encoding="utf-8")
    with pytest.raises(OperatorFileError) as caught:
        read_yaml(path)
    problems = _problems(caught)
    assert len(problems) == 1
    assert problems[0].startswith(f"{path}: not valid YAML: ") and "line" in problems[0]


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(PolicyError) as caught:
        load_policy(tmp_path / "absent.yaml")
    assert _problems(caught) == [f"{tmp_path / 'absent.yaml'}: cannot read: No such file or "
                                 "directory"]


def test_known_keys_follow_lists_and_optional_sections() -> None:
    assert "connectors" in known_keys(OperatorLocations, ["locations", 0, "evses", 3])
    assert known_keys(OperatorLocations, ["locations", 0, "nothing-here"]) == []
    assert "uid" not in known_keys(OperatorLocations, ["locations", 0])
