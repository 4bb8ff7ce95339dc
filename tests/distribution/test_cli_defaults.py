"""Where the CLI finds its configuration when none is named, and --version."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

import ocpi_gateway.config
from ocpi_gateway.cli import main
from ocpi_gateway.config import ConfigError, default_config_path, load_settings

ROOT = Path(__file__).resolve().parents[2]
MINIMAL = ROOT / "config" / "gateway.yaml"


def _write_config(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "gateway.yaml"
    path.write_text(MINIMAL.read_text(encoding="utf-8"), encoding="utf-8")
    return path


def test_environment_variable_wins_even_over_an_existing_checkout(tmp_path: Path) -> None:
    _write_config(tmp_path / "config")
    named = tmp_path / "elsewhere.yaml"
    assert default_config_path({"OCPI_GATEWAY_CONFIG": str(named)}, cwd=tmp_path,
                               system=tmp_path / "etc.yaml") == named


def test_checkout_config_then_system_config(tmp_path: Path) -> None:
    system = tmp_path / "etc" / "gateway.yaml"
    checkout = tmp_path / "checkout"
    checkout.mkdir()
    _write_config(system.parent)
    assert default_config_path({}, cwd=checkout, system=system) == system
    local = _write_config(checkout / "config")
    assert default_config_path({}, cwd=checkout, system=system) == local


def test_nothing_found_is_one_line_naming_every_place_tried(tmp_path: Path) -> None:
    system = tmp_path / "etc" / "gateway.yaml"
    with pytest.raises(ConfigError) as caught:
        default_config_path({"OCPI_GATEWAY_CONFIG": ""}, cwd=tmp_path, system=system)
    message = str(caught.value)
    assert "\n" not in message
    for place in ("$OCPI_GATEWAY_CONFIG", str(tmp_path / "config" / "gateway.yaml"),
                  str(system), "--config"):
        assert place in message


def test_cli_without_config_exits_2_with_that_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("OCPI_GATEWAY_CONFIG", raising=False)
    monkeypatch.setattr(ocpi_gateway.config, "SYSTEM_CONFIG", tmp_path / "etc" / "gateway.yaml")
    assert main(["partners", "list"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no configuration file" in err


def test_cli_reads_the_file_the_environment_names(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "gw.yaml"
    config.write_text(
        "cpo_roles: [{country_code: NL, party_id: EXA, business_details: {name: X}}]\n"
        f"store_url: sqlite:///{tmp_path / 'g.db'}\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    # Not taken for a setting by the OCPI_GATEWAY_* environment overrides (extra="forbid").
    monkeypatch.setenv("OCPI_GATEWAY_CONFIG", str(config))
    assert load_settings().store_url == f"sqlite:///{tmp_path / 'g.db'}"
    assert main(["partners", "list"]) == 0
    assert capsys.readouterr().err == ""


def test_version_is_pyproject_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert exited.value.code == 0
    expected = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert capsys.readouterr().out == f"ocpi-gateway {expected}\n"
