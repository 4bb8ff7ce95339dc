"""Policy candidates built from the Locations catalog."""

from __future__ import annotations

from pathlib import Path

from ocpi_gateway.locations.catalog import LocationsCatalog
from ocpi_gateway.reservations.candidates import CatalogCandidates

CONFIG = Path(__file__).resolve().parents[2] / "config"


async def test_candidates_follow_the_catalog_and_its_reloads() -> None:
    catalog = LocationsCatalog.from_file(CONFIG / "locations.yaml")
    current = {"catalog": catalog}
    source = CatalogCandidates(lambda: current["catalog"], lambda cp: cp == "CP-AMS-01")
    found = await source.candidates("NL-AMS-ZUIDAS")
    by_uid = {c.evse_uid: c for c in found}
    assert set(by_uid) == {"AMS-ZUIDAS-01", "AMS-ZUIDAS-02", "AMS-ZUIDAS-03", "AMS-ZUIDAS-04"}
    assert by_uid["AMS-ZUIDAS-01"].reservable and not by_uid["AMS-ZUIDAS-04"].reservable
    assert by_uid["AMS-ZUIDAS-01"].charger_can_reserve_whole
    assert not by_uid["AMS-ZUIDAS-03"].charger_can_reserve_whole
    assert by_uid["AMS-ZUIDAS-03"].max_power_w == 150000
    assert by_uid["AMS-ZUIDAS-01"].address.connector_id == 1
    # The connector's format goes with it: 2.0.1 tells a Type 2 socket from a cable.
    assert by_uid["AMS-ZUIDAS-01"].connector_kind("IEC_62196_T2") == ("IEC_62196_T2",
                                                                      "SOCKET")
    assert by_uid["AMS-ZUIDAS-03"].connector_kind("CHADEMO") == ("CHADEMO", "CABLE")
    assert by_uid["AMS-ZUIDAS-03"].connector_kind("IEC_62196_T2") == (None, None)
    assert await source.candidates("NL-AMS-ZUIDAS") is found  # built once per catalog
    # A reload is a new catalog object: the candidates are built again from it.
    current["catalog"] = LocationsCatalog([])
    assert await source.candidates("NL-AMS-ZUIDAS") == ()
    assert await source.candidates("NOWHERE") == ()


async def test_start_session_candidates_count_every_evse() -> None:
    catalog = LocationsCatalog.from_file(CONFIG / "locations.yaml")
    source = CatalogCandidates(lambda: catalog, lambda cp: False, every_evse_counts=True)
    assert all(c.reservable for c in await source.candidates("NL-AMS-ZUIDAS"))
