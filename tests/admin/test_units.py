"""The parts of access on their own, with the clock in the test's hands."""

from __future__ import annotations

from pathlib import Path

import pytest

from ocpi_gateway.admin.credentials import AdminCredentials, CredentialKind
from ocpi_gateway.admin.operators import (
    OperatorsConfigError,
    OperatorsSource,
    Role,
    load_operators,
)
from ocpi_gateway.domain.operator_file import OperatorFileError
from ocpi_gateway.store import open_store
from tests.admin.support import write_operators


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


async def test_credentials_expire_and_are_forgotten(tmp_path: Path) -> None:
    store = await open_store(f"sqlite:///{tmp_path / 's.db'}")
    clock = Clock()
    credentials = AdminCredentials(store, clock=clock)
    session, stored = await credentials.issue(CredentialKind.SESSION, "alice", "fp", ttl=60)
    token, _ = await credentials.issue(CredentialKind.TOKEN, "alice", "fp", ttl=600)
    assert stored.csrf and token.startswith("ogt_") and not session.startswith("ogt_")
    assert await credentials.lookup(CredentialKind.SESSION, session) is not None
    # A session id is no token, and the other way round.
    assert await credentials.lookup(CredentialKind.TOKEN, session) is None
    assert await credentials.lookup(CredentialKind.SESSION, token) is None
    clock.now += 59.9
    assert await credentials.lookup(CredentialKind.SESSION, session) is not None
    clock.now += 0.1
    assert await credentials.lookup(CredentialKind.SESSION, session) is None
    assert await credentials.forget_expired() == 0  # the lookup deleted it already
    clock.now += 600
    assert await credentials.forget_expired() == 1
    assert await store.count("admin_credentials") == 0
    await store.close()


def test_operators_file_errors_name_the_key(tmp_path: Path) -> None:
    path = tmp_path / "operators.yaml"
    path.write_text("operators:\n  - {name: a, role: admin, password_hash: x}\n")
    with pytest.raises(OperatorsConfigError) as caught:
        load_operators(path)
    message = str(caught.value)
    assert "operator 'a': role:" in message and "operator 'a': password_hash:" in message
    assert isinstance(caught.value, OperatorFileError)
    path.write_text("operators:\n"
                    "  - {name: bob, role: viewer, pasword_hash: 'scrypt$8$8$1$AA==$AA=='}\n")
    with pytest.raises(OperatorsConfigError) as caught:
        load_operators(path)
    assert "operator 'bob': pasword_hash: not a known key; did you mean 'password_hash'?" \
        in str(caught.value)
    path.write_text("operators:\n"
                    "  - {name: Ann, role: viewer, password_hash: 'scrypt$8$8$1$AA==$AA=='}\n"
                    "  - {name: ann, role: viewer, password_hash: 'scrypt$8$8$1$AA==$AA=='}\n")
    with pytest.raises(OperatorsConfigError, match="appears twice"):
        load_operators(path)


def test_the_operators_file_is_read_again_once_it_changed(tmp_path: Path) -> None:
    path = write_operators(tmp_path / "operators.yaml", ("alice",))
    clock = Clock()
    source = OperatorsSource(path, check_every=1.0, clock=clock)
    assert source.get("ALICE") is not None and source.get("victor") is None
    write_operators(path, ("alice", "victor"))
    assert source.get("victor") is None  # not looked at again within a second
    clock.now += 1.0
    account = source.get("victor")
    assert account is not None and account.role is Role.VIEWER
    assert source.names() == ["alice", "victor"]


def test_roles() -> None:
    assert Role.OPERATOR.allows(Role.VIEWER) and Role.OPERATOR.allows(Role.OPERATOR)
    assert Role.VIEWER.allows(Role.VIEWER) and not Role.VIEWER.allows(Role.OPERATOR)


def test_cli_makes_an_operator_hash_the_gateway_accepts(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        tmp_path: Path) -> None:
    import io
    import sys

    import yaml

    from ocpi_gateway.cli import main as cli_main
    from ocpi_gateway.ocpp_adapter.auth import verify_password

    monkeypatch.setattr(sys, "stdin", io.StringIO("a-long-operator-password\n"))
    assert cli_main(["operators", "hash-password", "--stdin"]) == 0
    printed = capsys.readouterr().out.strip()
    assert verify_password("a-long-operator-password", printed)
    path = tmp_path / "operators.yaml"
    path.write_text(yaml.safe_dump({"operators": [
        {"name": "ann", "role": "operator", "password_hash": printed}]}))
    assert load_operators(path).operators[0].password_hash == printed
    monkeypatch.setattr(sys, "stdin", io.StringIO("too-short\n"))
    assert cli_main(["operators", "hash-password", "--stdin"]) == 1


async def test_records_from_before_created_ts_get_it(tmp_path: Path) -> None:
    from datetime import UTC, datetime, timedelta

    from ocpi_gateway.admin.service.reservations import (
        ReservationFilter,
        backfill_created_ts,
        list_reservations,
    )
    from ocpi_gateway.reservation_policy.records import Reservation, ReservationState

    store = await open_store(f"sqlite:///{tmp_path / 's.db'}")
    start = datetime(2026, 3, 1, 12, tzinfo=UTC)
    for n in range(3):
        r = Reservation(key=f"DE-ABC/R{n}", country_code="DE", party_id="ABC",
                        reservation_id=f"R{n}", location_id="L", token_uid="T",
                        token_type="RFID", expiry=start + timedelta(hours=1),
                        state=ReservationState.EXPIRED, created_at=start + timedelta(minutes=n),
                        updated_at=start)
        doc = r.to_doc()
        if n < 2:
            del doc["created_ts"]  # written by a version without the field
        await store.put("reservations", r.key, doc)
    assert await store.count("reservations", {"created_ts": None}) == 2
    assert await backfill_created_ts(store) == 2
    assert await backfill_created_ts(store) == 0
    listed = await list_reservations(store, ReservationFilter())
    assert [i.key for i in listed.items] == ["DE-ABC/R2", "DE-ABC/R1", "DE-ABC/R0"]
    await store.close()
