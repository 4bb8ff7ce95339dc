"""OCPI_GATEWAY_* variables: a bad value is blamed on its variable, not on gateway.yaml, and
a variable that sets nothing is reported with the name it was probably meant to be."""

from __future__ import annotations

from pathlib import Path

import pytest

from ocpi_gateway.config import ConfigError, GatewaySettings, environment_warnings, load_settings
from ocpi_gateway.config_env import environment_origin, setting_variables

SAMPLE = Path(__file__).resolve().parents[2] / "config" / "gateway.yaml"


def test_a_bad_value_from_the_environment_names_the_variable(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OCPI_GATEWAY_LISTEN__PORT", "eighty")
    with pytest.raises(ConfigError) as caught:
        load_settings(SAMPLE)
    (line,) = caught.value.problems
    assert line.startswith("environment variable OCPI_GATEWAY_LISTEN__PORT: ")
    assert str(SAMPLE) not in line


def test_a_whole_section_from_the_environment_names_the_key_inside_it() -> None:
    origin = environment_origin({"OCPI_GATEWAY_LISTEN": '{"port": "x"}'})
    assert origin(("listen", "port")) == \
        "environment variable OCPI_GATEWAY_LISTEN (its key port)"
    assert origin(("store_url",)) is None


def test_the_longest_variable_is_the_source() -> None:
    origin = environment_origin({"OCPI_GATEWAY_LISTEN": "{}",
                                 "ocpi_gateway_listen__port": "x"})
    assert origin(("listen", "port")) == "environment variable ocpi_gateway_listen__port"


def test_a_misspelt_variable_is_reported_with_the_nearest_setting() -> None:
    warnings = environment_warnings({
        "OCPI_GATEWAY_LISTEN_PORT": "9000",  # one underscore where two nest
        "OCPI_GATEWAY_REDIS_URL": "redis://x",  # a setting
        "OCPI_GATEWAY_CONFIG": "/etc/gw.yaml",  # not a setting, but known
        "OCPI_GATEWAY_HEALTH_URL": "http://x",
        # The CLI's own (admin/remote.py): where the admin API is, the operator's token.
        "OCPI_GATEWAY_ADMIN_URL": "http://127.0.0.1:8080",
        "OCPI_GATEWAY_OPERATOR_TOKEN": "ogt_x",
        "OCPI_GATEWAY_OPERATOR_TOKN": "ogt_x",
        "OCPI_GATEWAY_QWERTY": "1",
        "PATH": "/bin",
    })
    assert warnings == [
        "environment variable OCPI_GATEWAY_LISTEN_PORT is not a setting and is ignored; "
        "did you mean OCPI_GATEWAY_LISTEN__PORT?",
        "environment variable OCPI_GATEWAY_OPERATOR_TOKN is not a setting and is ignored; "
        "did you mean OCPI_GATEWAY_OPERATOR_TOKEN?",
        "environment variable OCPI_GATEWAY_QWERTY is not a setting and is ignored",
    ]


def test_nested_settings_have_variables_and_leaves_have_none_below() -> None:
    names = setting_variables(GatewaySettings)
    assert {"OCPI_GATEWAY_LISTEN", "OCPI_GATEWAY_LISTEN__PORT",
            "OCPI_GATEWAY_OCPP__FAILED_LOGINS_ALLOWED", "OCPI_GATEWAY_METRICS__LISTEN__PORT",
            "OCPI_GATEWAY_STORE_URL"} <= names
    assert not any(name.startswith("OCPI_GATEWAY_STORE_URL__") for name in names)
