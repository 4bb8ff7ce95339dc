"""``ocpi-gateway bans list|lift|set`` and ``policy explain --token`` on the gateway's own
store (what a running gateway's ``Enforcement`` reads at its next request)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from ocpi_gateway.admin.audit import COLLECTION as AUDIT
from ocpi_gateway.cli import main
from ocpi_gateway.reservation_policy.enforcement.records import UnusedKind
from ocpi_gateway.reservation_policy.enforcement.service import Enforcement
from ocpi_gateway.reservation_policy.models import Partner
from ocpi_gateway.reservation_policy.policy import PolicySource
from ocpi_gateway.reservations.bans_cli import _operator
from ocpi_gateway.store import open_store

CONFIG = Path(__file__).resolve().parents[2] / "config"
EMSP = Partner("DE", "ABC")


@pytest.fixture
def config(tmp_path: Path) -> Path:
    policy = tmp_path / "policy.yaml"
    policy.write_text("defaults:\n  no_show_strikes: {count: 1, within_days: 30, ban_days: 2}\n")
    doc = yaml.safe_load((CONFIG / "gateway.yaml").read_text())
    doc.update(store_url=f"sqlite:///{tmp_path / 'g.db'}", policy_file=str(policy),
               locations_file=str(CONFIG / "locations.yaml"),
               chargers_file=str(CONFIG / "chargers.yaml"),
               tariffs_file=str(CONFIG / "tariffs.yaml"))
    path = tmp_path / "gateway.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def _on_store(config: Path, work: object) -> object:
    doc = yaml.safe_load(config.read_text())

    async def run() -> object:
        store = await open_store(doc["store_url"])
        try:
            enforcement = Enforcement(store, PolicySource(doc["policy_file"]))
            return await work(enforcement)  # type: ignore[operator]
        finally:
            await store.close()
    return asyncio.run(run())


def _no_show(config: Path, token: str) -> None:
    async def work(enforcement: Enforcement) -> None:
        now = datetime.now(UTC)
        await enforcement.record_no_show(
            kind=UnusedKind.RESERVATION, partner=EMSP, token_uid=token, reference="R1",
            location_id="NL-AMS-ZUIDAS", evse_uid=None, reserved_at=now, expired_at=now)
    _on_store(config, work)


def cli(config: Path, *args: str) -> int:
    return main(["--config", str(config), *args])


def test_set_list_and_lift(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(config, "bans", "list") == 0
    assert capsys.readouterr().out == "no bans in force\n"
    assert cli(config, "bans", "set", "--partner", "de-abc", "--token", "TOK1", "--days", "3",
               "--reason", "card misuse", "--by", "ops:ann") == 0
    captured = capsys.readouterr()
    out = captured.out
    assert "token_banned" in captured.err and "ops:ann" in captured.err  # the audit line
    assert out.startswith("banned: DE-ABC TOK1  until ")
    assert "(in force)  operator by ops:ann since " in out and out.endswith(": card misuse\n")
    _no_show(config, "TOK2")  # the policy bans it: one strike
    assert cli(config, "bans", "list") == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[1] for line in lines] == ["TOK1", "TOK2"]  # latest end first
    assert "no_shows by policy" in lines[1] and lines[1].endswith("1 no-shows within 30 days")
    assert cli(config, "bans", "list", "--partner", "NL-XYZ") == 0
    assert capsys.readouterr().out == "no bans in force\n"

    assert cli(config, "bans", "lift", "--partner", "DE*ABC", "--token", "tok2",
               "--reason", "the charger was faulty", "--by", "ops:bob") == 0
    out = capsys.readouterr().out
    assert out.startswith("lifted: DE-ABC TOK2  until ") and "lifted " in out
    assert out.rstrip().endswith("[lifted: the charger was faulty]")
    assert cli(config, "bans", "lift", "--partner", "DE-ABC", "--token", "TOK2") == 1
    assert capsys.readouterr().err == "DE-ABC TOK2 is not banned\n"
    assert cli(config, "bans", "list") == 0
    assert [line.split()[1] for line in capsys.readouterr().out.splitlines()] == ["TOK1"]
    assert cli(config, "bans", "list", "--all") == 0
    assert [line.split()[1] for line in capsys.readouterr().out.splitlines()] == [
        "TOK1", "TOK2"]

    async def check(enforcement: Enforcement) -> None:
        refusal = await enforcement.refusal(EMSP, "tok1", "NL-AMS-ZUIDAS")
        assert refusal is not None and "banned by the operator: card misuse" in refusal.message
        assert await enforcement.refusal(EMSP, "TOK2", "NL-AMS-ZUIDAS") is None
        ban = await enforcement.ban_of(EMSP, "TOK2")
        assert ban is not None and ban.lifted_by == "ops:bob"
    _on_store(config, check)

    url = yaml.safe_load(config.read_text())["store_url"]

    async def audited() -> list[dict[str, object]]:
        store = await open_store(url)
        try:
            return await store.find(AUDIT, order_by="at")
        finally:
            await store.close()
    # In the admin audit log as the API's acts, said to come from the CLI.
    assert [(e["operator"], e["via"], e["action"], e["target"], e["outcome"])
            for e in asyncio.run(audited())] == [
        ("ops:ann", "cli", "set_ban", {"emsp": "DE-ABC", "token_uid": "TOK1"}, "ok"),
        ("ops:bob", "cli", "lift_ban", {"emsp": "DE-ABC", "token_uid": "tok2"}, "ok"),
        (_operator(), "cli", "lift_ban", {"emsp": "DE-ABC", "token_uid": "TOK2"},
         "refused: conflict: not banned")]


def test_set_until_and_bad_arguments(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    until = (datetime.now(UTC) + timedelta(days=10)).replace(microsecond=0)
    assert cli(config, "bans", "set", "--partner", "DE-ABC", "--token", "T",
               "--until", until.strftime("%Y-%m-%dT%H:%M:%S"), "--reason", "r") == 0
    assert f"until {until.strftime('%Y-%m-%dT%H:%M:%SZ')}" in capsys.readouterr().out
    assert cli(config, "bans", "set", "--partner", "DE-ABC", "--token", "T",
               "--until", "2001-01-01T00:00:00Z", "--reason", "r") == 1
    assert "a ban must end in the future" in capsys.readouterr().err
    for bad in (["--partner", "DEABC"], ["--until", "tomorrow"]):
        args = {"--partner": "DE-ABC", "--until": "2999-01-01T00:00:00"}
        args[bad[0]] = bad[1]
        with pytest.raises(SystemExit):
            cli(config, "bans", "set", "--token", "T", "--reason", "r",
                *[item for pair in args.items() for item in pair])
        assert bad[1] in capsys.readouterr().err
    with pytest.raises(SystemExit):  # --days or --until, one of them
        cli(config, "bans", "set", "--partner", "DE-ABC", "--token", "T", "--reason", "r")


def test_explain_shows_where_a_token_stands(config: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    _no_show(config, "TOK9")
    assert cli(config, "policy", "explain", "--location", "NL-AMS-ZUIDAS", "--partner",
               "DE-ABC", "--token", "tok9") == 0
    lines = capsys.readouterr().out.splitlines()
    assert ("  token DE-ABC tok9: 1 no-shows recorded, 0 counting towards a ban "
            "(no_show_strikes: 1 within 30 days -> ban of 2 days)") in lines
    assert any(line.startswith("  ban: until ") and "(in force), no_shows by policy" in line
               for line in lines)
    assert ("  eMSP DE-ABC: 1 of 1 ended in the last 30 days were no-shows (100%; "
            "max_no_show_rate: off)") in lines
    assert any(line.startswith("  enforcement decision: REFUSED token_banned: token TOK9 may "
                               "not reserve or book until ") for line in lines)
    assert cli(config, "policy", "explain", "--location", "NL-AMS-ZUIDAS", "--token",
               "TOK9") == 1
    assert "--token needs --partner" in capsys.readouterr().out
