"""Tariffs pushes to the partners' Tariffs receivers (loopback eMSP peers on 2.2.1 and 2.3.0,
every PUT validated against the official OpenAPI of its version): every tariff meant for a
partner when it registers and when it switches version, what changed while the gateway was
down at startup, and nothing twice."""

from __future__ import annotations

from pathlib import Path

from ocpi_gateway.deliveries.app import OUTBOX
from ocpi_gateway.tariffs.extension import TARIFFS
from tests.commands.support import eventually
from tests.locations.conftest import EXAMPLE
from tests.peers.emsp import EmspPeer
from tests.peers.gateway import gateway_settings, start_gateway
from tests.tariffs.test_tariffs_sender import EXTENSIONS, MODULES, TARIFFS_YAML, register, write

ALL = {"NL/EXA/AC-STANDARD", "NL/EXA/DC-FAST"}


def puts(peer: EmspPeer) -> list[str]:
    return [r.path.rsplit("/tariffs/", 1)[1] for r in peer.received
            if r.method == "PUT" and "/tariffs/" in r.path]


async def test_a_partner_is_sent_its_tariffs_when_it_registers(tmp_path: Path) -> None:
    tariffs = write(tmp_path / "tariffs.yaml", TARIFFS_YAML)
    gateway = await start_gateway(gateway_settings(
        tmp_path, locations_file=EXAMPLE, tariffs_file=tariffs), extensions=EXTENSIONS)
    gateway.app[TARIFFS].welcome_interval = 0.05
    peers = [EmspPeer(modules=MODULES), EmspPeer(party_id="FLT", modules=MODULES),
             EmspPeer(party_id="NEW", modules=MODULES, versions=("2.3.0",),
                      ocpi_version="2.3.0")]
    try:
        old, fleet, new = [await register(gateway, p) for p in peers]
        assert await eventually(lambda: set(old.tariffs) == ALL)
        assert await eventually(lambda: set(fleet.tariffs) == {*ALL, "NL/EXA/FLEET-ONLY"})
        assert await eventually(lambda: set(new.tariffs) == ALL)
        assert "tax_included" not in old.tariffs["NL/EXA/DC-FAST"]  # the 2.2.1 form
        assert new.tariffs["NL/EXA/DC-FAST"]["tax_included"] == "YES"
        assert "partners" not in fleet.tariffs["NL/EXA/FLEET-ONLY"]
        put = next(r for r in fleet.received if r.method == "PUT" and "/tariffs/" in r.path)
        assert put.headers["OCPI-from-party-id"] == "EXA"
        assert put.headers["OCPI-to-party-id"] == "FLT"
        # Once, whatever the welcome loop and a full sync do afterwards.
        assert await gateway.app[TARIFFS].sync_all() == 0
        assert await gateway.app[OUTBOX].drain(10)
        assert sorted(puts(old)) == ["NL/EXA/AC-STANDARD", "NL/EXA/DC-FAST"]
        assert len(puts(fleet)) == 3
    finally:
        for peer in peers:
            await peer.close()
        await gateway.stop()


async def test_at_startup_a_partner_gets_what_changed_while_the_gateway_was_down(
        tmp_path: Path) -> None:
    tariffs = write(tmp_path / "tariffs.yaml", TARIFFS_YAML)
    settings = gateway_settings(tmp_path, locations_file=EXAMPLE, tariffs_file=tariffs)
    gateway = await start_gateway(settings, extensions=EXTENSIONS)
    peer = EmspPeer(party_id="FLT", modules=MODULES)
    try:
        await register(gateway, peer)
        await gateway.app[TARIFFS].welcome_new_receivers()
        assert await gateway.app[OUTBOX].drain(10)
        assert len(puts(peer)) == 3
        await gateway.stop()
        # While it is down: one price changes, one tariff goes, one comes.
        edited = TARIFFS_YAML.replace("price: 0.35", "price: 0.31").split("  - id: FLEET-ONLY")[0]
        write(tariffs, edited + """\
  - id: WEEKEND
    currency: EUR
    elements:
      - price_components: [{type: ENERGY, price: 0.29, step_size: 1}]
        restrictions: {day_of_week: [SATURDAY, SUNDAY]}
""")
        peer.received.clear()
        gateway = await start_gateway(settings.model_copy(), extensions=EXTENSIONS)
        assert await gateway.app[OUTBOX].drain(10)
        assert sorted((r.method, r.path.rsplit("/tariffs/", 1)[1]) for r in peer.received
                      if "/tariffs/" in r.path) == [
            ("DELETE", "NL/EXA/FLEET-ONLY"), ("PUT", "NL/EXA/AC-STANDARD"),
            ("PUT", "NL/EXA/WEEKEND")]
        assert peer.tariffs["NL/EXA/AC-STANDARD"]["elements"][0]["price_components"][0][
            "price"] == 0.31
        assert await gateway.app[TARIFFS].sync_all() == 0
    finally:
        await peer.close()
        await gateway.stop()


async def test_a_partner_switching_version_is_sent_every_tariff_in_its_new_form(
        tmp_path: Path) -> None:
    tariffs = write(tmp_path / "tariffs.yaml", TARIFFS_YAML)
    gateway = await start_gateway(gateway_settings(
        tmp_path, locations_file=EXAMPLE, tariffs_file=tariffs), extensions=EXTENSIONS)
    gateway.app[TARIFFS].welcome_interval = 0.05
    peer = EmspPeer(modules=MODULES, versions=("2.2.1", "2.3.0"), ocpi_version="2.2.1")
    try:
        await register(gateway, peer)
        assert await eventually(lambda: set(peer.tariffs) == ALL)
        assert "tax_included" not in peer.tariffs["NL/EXA/DC-FAST"]
        peer.tariffs.clear()
        peer.ocpi_version = "2.3.0"
        peer.valid_tokens.add("token-b-2.3.0")
        status, body, _ = await peer.call("PUT", f"{gateway.url}/ocpi/2.3.0/credentials",
                                          json=peer.credentials("token-b-2.3.0"))
        assert status == 200 and body["status_code"] == 1000, body
        assert await eventually(lambda: set(peer.tariffs) == ALL)
        assert peer.tariffs["NL/EXA/DC-FAST"]["tax_included"] == "YES"
        assert {r.path.split("/tariffs/")[0] for r in peer.received
                if r.method == "PUT" and "/tariffs/" in r.path} == {
            "/emsp/2.2.1", "/emsp/2.3.0"}
    finally:
        await peer.close()
        await gateway.stop()
