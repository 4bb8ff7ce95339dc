"""Pure parts of the adapter: password hashing, rate limiting, config, codec, time format."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from ocpi_gateway.domain.charger_commands import (
    CancelReservation,
    ClearDisplayMessage,
    RemoteStop,
    ReserveNow,
    SetDisplayMessage,
)
from ocpi_gateway.domain.ids import ocpp16_id_tag
from ocpi_gateway.ocpp_adapter.auth import (
    SCRYPT_LOG2_N,
    hash_password,
    parse_basic_auth,
    verify_password,
)
from ocpi_gateway.ocpp_adapter.chargers_config import ChargersConfigError, load_chargers
from ocpi_gateway.ocpp_adapter.routing.codec import CodecError, decode_command, encode_command
from ocpi_gateway.ocpp_adapter.timefmt import parse_rfc3339, rfc3339

ROOT = Path(__file__).resolve().parents[2]


def test_password_hash_round_trip() -> None:
    stored = hash_password("correct horse", log2_n=8)
    assert stored.startswith("scrypt$8$8$1$")
    assert "correct horse" not in stored
    assert verify_password("correct horse", stored)
    assert not verify_password("correct horsf", stored)
    assert hash_password("correct horse", log2_n=8) != stored  # salted
    assert not verify_password("x", "plaintext")
    assert not verify_password("x", "scrypt$8$8$1$***$***")


def test_the_default_hash_has_the_documented_cost_and_salt() -> None:
    # docs/security.md "What is stored": scrypt N = 2^14, r = 8, p = 1, a 16-byte salt and a
    # 32-byte hash (one default-cost hash: a few tens of ms).
    scheme, log2_n, r, p, salt, digest = hash_password("pw").split("$")
    assert (scheme, log2_n, r, p) == ("scrypt", "14", "8", "1")
    assert SCRYPT_LOG2_N == 14  # the default of hash_password(log2_n=...), read above
    assert len(base64.b64decode(salt)) == 16 and len(base64.b64decode(digest)) == 32


def test_parse_basic_auth() -> None:
    assert parse_basic_auth("Basic Q1AtMTpzZWNyZXQ6d2l0aDpjb2xvbnM=") == (
        "CP-1", "secret:with:colons")
    assert parse_basic_auth(None) is None
    assert parse_basic_auth("Bearer abc") is None
    assert parse_basic_auth("Basic !!!") is None
    assert parse_basic_auth("Basic bm9jb2xvbg==") is None  # "nocolon"


def test_example_chargers_file_loads_and_declares_capabilities() -> None:
    config = load_chargers(ROOT / "config" / "chargers.yaml")
    ams01 = config.get("CP-AMS-01")
    assert ams01 is not None and ams01.ocpp_version == "1.6"
    assert ams01.capabilities.reserve_whole_charger
    capabilities = config.capabilities("CP-AMS-02")
    assert capabilities is not None and not capabilities.reserve_whole_charger
    assert config.get("CP-NOPE") is None
    # The clear-text example passwords in the comments match their hashes.
    assert verify_password("ams01-example-pw", ams01.password_hash)


def test_chargers_file_errors_name_file_and_key(tmp_path: Path) -> None:
    bad = tmp_path / "chargers.yaml"
    bad.write_text("chargers:\n  - id: CP-1\n    security_profile: 3\n    password_hash: x\n")
    with pytest.raises(ChargersConfigError,
                       match=r"chargers.yaml: charger 'CP-1': security_profile: "):
        load_chargers(bad)
    bad.write_text("chargers:\n  - {id: CP-1, password_hash: x}\n"
                   "  - {id: CP-1, password_hash: y}\n")
    with pytest.raises(ChargersConfigError, match="appears twice"):
        load_chargers(bad)
    assert load_chargers(None).chargers == []


@pytest.mark.parametrize("command", [
    ReserveNow(charge_point_id="CP-1", reservation_id=5, id_token="AB",
               expiry=datetime(2026, 11, 23, 20, 0, tzinfo=UTC), evse_id=2,
               group_id_token="G"),
    CancelReservation(charge_point_id="CP-1", reservation_id=5),
    RemoteStop(charge_point_id="CP-1", transaction_id="tx"),
    SetDisplayMessage(charge_point_id="CP-1", message_id=5, text="Reserved until 21:00",
                      ends_at=datetime(2026, 11, 23, 20, 0, tzinfo=UTC), evse_id=1,
                      language="en"),
    SetDisplayMessage(charge_point_id="CP-1", message_id=6, text="x"),
    ClearDisplayMessage(charge_point_id="CP-1", message_id=5),
])
def test_command_codec_round_trip(command: object) -> None:
    assert decode_command(encode_command(command)) == command  # type: ignore[arg-type]


def test_command_codec_rejects_garbage() -> None:
    for data in (b"not json", b'{"type": "Reboot"}', b'{"type": "CancelReservation"}'):
        with pytest.raises(CodecError):
            decode_command(data)


def test_rfc3339_is_utc_with_z() -> None:
    assert rfc3339(datetime(2026, 11, 23, 20, 0, 0, 123456, tzinfo=UTC)) == \
        "2026-11-23T20:00:00.123Z"
    plus_two = timezone(timedelta(hours=2))
    assert rfc3339(datetime(2026, 11, 23, 22, 0, tzinfo=plus_two)) == "2026-11-23T20:00:00.000Z"
    assert rfc3339(datetime(2026, 11, 23, 20, 0)) == "2026-11-23T20:00:00.000Z"
    assert parse_rfc3339("2026-11-23T20:00:00Z") == datetime(2026, 11, 23, 20, 0, tzinfo=UTC)
    assert parse_rfc3339("garbage").tzinfo is UTC


def test_long_uids_map_to_stable_20_character_id_tags() -> None:
    card = "04A2B3C4D5E6F7A8B9C0"  # a 10-byte ISO 14443 UID: 20 hex characters
    assert ocpp16_id_tag(card) == card
    app_user = "NL-ACM-C12345678-X-0123456789ABCDEF"
    tag = ocpp16_id_tag(app_user)
    assert len(tag) == 20 and tag == ocpp16_id_tag(app_user)
    assert tag != ocpp16_id_tag(app_user + "0")


@pytest.mark.parametrize("session_class", ["v16", "v201"])
def test_every_handled_action_has_a_compiled_validator(session_class: str) -> None:
    from ocpi_gateway.ocpp_adapter import v16, v201
    from ocpi_gateway.ocpp_adapter.validation import _validator

    cls = v16.V16Session if session_class == "v16" else v201.V201Session
    actions = {name: getattr(cls, name)._on_action for name in dir(cls)
               if hasattr(getattr(cls, name), "_on_action")}
    assert "StatusNotification" in actions.values()
    for action in actions.values():
        assert _validator(cls._ocpp_version, action) is not None, action
