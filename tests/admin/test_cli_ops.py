"""``ocpi-gateway reservations list|show``, ``outbox list|retry|drop`` and ``chargers list``
through the real entry point (``ocpi_gateway.cli.main``) on a store the test prepared: the
flags filter as the API's query does, a retried dead letter is taken and delivered by a
running outbox (a real receiver on loopback), refusals exit non-zero with one line."""

from __future__ import annotations

import asyncio
import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiohttp import web

from ocpi_gateway.admin.audit import COLLECTION as AUDIT
from ocpi_gateway.admin.cli_ops import _operator
from ocpi_gateway.cli import main
from ocpi_gateway.deliveries.engine import DeliveryEngine
from ocpi_gateway.deliveries.models import COLLECTION as OUTBOX
from ocpi_gateway.deliveries.models import Delivery
from ocpi_gateway.ocpp_adapter.directory import info_key
from ocpi_gateway.ocpp_adapter.routing.presence import presence_key
from ocpi_gateway.partners.models import Partner, PartnerState
from ocpi_gateway.partners.registry import PartnerRegistry
from ocpi_gateway.reservation_policy.records import COLLECTION as RESERVATIONS
from ocpi_gateway.reservation_policy.records import Reservation, ReservationState
from ocpi_gateway.store import open_store
from tests.conftest import free_port

CONFIG = Path(__file__).resolve().parents[2] / "config"
T0 = datetime(2026, 11, 30, 9, tzinfo=UTC)


def _config(tmp_path: Path, **extra: Any) -> Path:
    doc = yaml.safe_load((CONFIG / "gateway.yaml").read_text())
    doc.update(store_url=f"sqlite:///{tmp_path / 'g.db'}",
               locations_file=str(CONFIG / "locations.yaml"),
               chargers_file=str(CONFIG / "chargers.yaml"),
               tariffs_file=str(CONFIG / "tariffs.yaml"),
               policy_file=str(CONFIG / "policy.yaml"), **extra)
    doc.pop("redis_url", None) if "redis_url" not in extra else None
    path = tmp_path / "gateway.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def _on_store(config: Path, work: Any) -> Any:
    url = yaml.safe_load(config.read_text())["store_url"]

    async def run() -> Any:
        store = await open_store(url)
        try:
            return await work(store)
        finally:
            await store.close()
    return asyncio.run(run())


def cli(config: Path, *args: str) -> int:
    return main(["--config", str(config), *args])


def test_reservations_list_and_show(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = _config(tmp_path)

    async def fill(store: Any) -> None:
        for n, state in enumerate((ReservationState.EXPIRED, ReservationState.ACTIVE,
                                   ReservationState.CANCELLED)):
            r = Reservation(key=f"DE-ABC/R{n}", country_code="DE", party_id="ABC",
                            reservation_id=f"R{n}", location_id="L1", token_uid=f"T{n % 2}",
                            token_type="RFID", expiry=T0 + timedelta(hours=1), state=state,
                            created_at=T0 + timedelta(minutes=n), updated_at=T0,
                            history=({"at": T0.isoformat(), "from": None, "to": "PENDING",
                                      "reason": "asked"},))
            await store.put(RESERVATIONS, r.key, r.to_doc())
    _on_store(config, fill)

    assert cli(config, "reservations", "list") == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == ["DE-ABC/R2", "DE-ABC/R1", "DE-ABC/R0"]
    assert cli(config, "reservations", "list", "--state", "live,expired", "--token", "T0") == 0
    assert [line.split()[0] for line in capsys.readouterr().out.splitlines()] == ["DE-ABC/R0"]
    assert cli(config, "reservations", "list", "--sort", "created", "--limit", "2") == 0
    out = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in out[:2]] == ["DE-ABC/R0", "DE-ABC/R1"]
    assert out[2].startswith("more: --cursor ")
    cursor = out[2].split()[-1]
    assert cli(config, "reservations", "list", "--sort", "created", "--cursor", cursor,
               "--json") == 0
    page = json.loads(capsys.readouterr().out)
    assert [r["key"] for r in page["items"]] == ["DE-ABC/R2"] and page["next_cursor"] is None
    assert cli(config, "reservations", "list", "--from",
               (T0 + timedelta(minutes=1)).isoformat(), "--emsp", "de-abc") == 0
    assert len(capsys.readouterr().out.splitlines()) == 2
    assert cli(config, "reservations", "list", "--site", "ELSEWHERE") == 0
    assert capsys.readouterr().out == "nothing matches\n"

    assert cli(config, "reservations", "list", "--state", "sleeping") == 2
    assert "SLEEPING is not one of" in capsys.readouterr().err
    assert cli(config, "reservations", "list", "--sort", "token") == 2
    assert "--sort" in capsys.readouterr().err

    assert cli(config, "reservations", "show", "de-abc", "r1") == 0
    shown = capsys.readouterr().out.splitlines()
    assert shown[0].startswith("DE-ABC/R1  ACTIVE") and "-> PENDING  asked" in shown[1]
    assert cli(config, "reservations", "show", "DE-ABC", "NOPE") == 1
    assert capsys.readouterr().err == "no reservation DE-ABC/NOPE\n"


async def _receiver(seen: list[tuple[str, str]]) -> tuple[web.AppRunner, str]:
    async def handle(request: web.Request) -> web.Response:
        seen.append((request.method, request.path))
        return web.json_response({"status_code": 1000})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner, f"http://127.0.0.1:{port}"


def test_outbox_retry_from_the_cli_is_delivered_by_a_running_outbox(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = _config(tmp_path)

    async def fill(store: Any) -> None:
        await PartnerRegistry(store).save(Partner(
            id="p1", name="p1", state=PartnerState.REGISTERED, token_to_send="tok",
            created_at="2026-12-01T00:00:00Z", updated_at="2026-12-01T00:00:00Z"))
        for n, dead in enumerate((True, True, False)):
            row = Delivery(id=f"d{n}", partner_id="p1", method="POST",
                           url=f"http://127.0.0.1:9/r{n}", ordering_key=f"k{n}", seq=n,
                           attempts=3, dead=dead, last_error="HTTP 404 OCPI None",
                           owner="gw-old")
            await store.put(OUTBOX, row.id, row.to_doc())
    _on_store(config, fill)

    assert cli(config, "outbox", "list", "--state", "dead") == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == ["d1", "d0"]
    assert "last error: HTTP 404 OCPI None" in lines[0]
    assert cli(config, "outbox", "retry", "d2") == 1
    assert "retrying, not dead" in capsys.readouterr().err
    assert cli(config, "outbox", "drop", "d1", "--by", "ops:ann") == 0
    captured = capsys.readouterr()
    assert captured.out.startswith("dropped: d1") and "ops:ann" in captured.err
    assert cli(config, "outbox", "drop", "d1") == 1

    seen: list[tuple[str, str]] = []

    async def retried_and_delivered(store: Any) -> Any:
        runner, url = await _receiver(seen)
        row = await store.get(OUTBOX, "d0")
        await store.put(OUTBOX, "d0", {**row, "url": url + "/r0"})
        try:
            # The CLI runs while a gateway's outbox runs on the same store.
            code = await asyncio.to_thread(cli, config, "outbox", "retry", "d0", "--by", "ann")
            engine = DeliveryEngine(store, _headers, instance_id="gw-live")
            await engine.start()
            try:
                adopted = await engine.adopt_orphans()
                assert await engine.drain(30.0)
            finally:
                await engine.stop()
            return code, adopted, await store.get(OUTBOX, "d0")
        finally:
            await runner.cleanup()
    code, adopted, left = _on_store(config, retried_and_delivered)
    assert code == 0 and adopted == 1
    assert seen == [("POST", "/r0")] and left is None
    assert "outbox_dead_letter_retried" in capsys.readouterr().err

    async def audited(store: Any) -> list[tuple[str, str, str, str, str]]:
        entries = await store.find(AUDIT, order_by="at")
        return [(e["operator"], e["via"], e["action"], e["target"]["delivery_id"],
                 e["outcome"]) for e in entries]
    assert _on_store(config, audited) == [
        (_operator(), "cli", "retry_dead_letter", "d2",
         "refused: conflict: delivery d2 is retrying, not dead"),
        ("ops:ann", "cli", "drop_dead_letter", "d1", "ok"),
        (_operator(), "cli", "drop_dead_letter", "d1", "refused: not_found: no delivery d1"),
        ("ann", "cli", "retry_dead_letter", "d0", "ok")]


def test_outbox_list_by_when_queued(tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                    ) -> None:
    config = _config(tmp_path)

    async def fill(store: Any) -> None:
        for n in range(3):
            row = Delivery(id=f"d{n}", partner_id="p1", method="PUT", url=f"http://x/{n}",
                           ordering_key=f"k{n}", seq=n, dead=n == 1,
                           queued_at=(T0 + timedelta(hours=n)).timestamp())
            await store.put(OUTBOX, row.id, row.to_doc())
    _on_store(config, fill)

    assert cli(config, "outbox", "list", "--from", (T0 + timedelta(hours=1)).isoformat()) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == ["d2", "d1"]
    assert "queued 2026-11-30T11:00:00+00:00" in lines[0]
    assert cli(config, "outbox", "list", "--to", "2026-11-30T10:00:00Z", "--json") == 0
    assert [d["id"] for d in json.loads(capsys.readouterr().out)["items"]] == ["d0"]
    assert cli(config, "outbox", "list", "--from", "2026-11-30T10:00", "--to",
               "2026-11-30T11:00", "--state", "dead") == 0
    assert [line.split()[0] for line in capsys.readouterr().out.splitlines()] == ["d1"]
    assert cli(config, "outbox", "list", "--from", "soon") == 2
    assert capsys.readouterr().err.startswith("--from: ")


async def _headers(partner_id: str) -> dict[str, str] | None:
    return {"Authorization": "Token dG9r"}


def test_chargers_list_without_and_with_redis(tmp_path: Path, redis_url: str,
                                              capsys: pytest.CaptureFixture[str],
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    config = _config(tmp_path)
    assert cli(config, "chargers", "list") == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("CP-AMS-01  presence unknown")
    assert "NL-AMS-" in out[0] and out[-1].startswith("(no Redis configured")

    import redis as sync_redis
    client = sync_redis.Redis.from_url(redis_url)
    client.set(presence_key("CP-AMS-01"), "gw-a|1")
    client.hset(info_key("CP-AMS-01"), mapping={"version": "1.6", "instance": "gw-a"})
    client.close()
    with_redis = _config(tmp_path, redis_url=redis_url)
    assert cli(with_redis, "chargers", "list", "--online") == 0
    [line] = capsys.readouterr().out.splitlines()
    assert line.startswith("CP-AMS-01  online  ocpp 1.6  instance gw-a")
    assert cli(with_redis, "chargers", "list", "--offline", "--json") == 0
    page = json.loads(capsys.readouterr().out)
    assert "CP-AMS-01" not in [c["id"] for c in page["items"]] and page["online"] == 1
    # The OCPP adapter's own subcommand is still there, beside list.
    monkeypatch.setattr("sys.stdin", io.StringIO("a-charger-password-1\n"))
    assert cli(config, "chargers", "hash-password", "--stdin") == 0
    assert capsys.readouterr().out.startswith("scrypt")
