"""The reading of the locations file (locations/reread.py), at start and on a reload: streamed
from a child process for a big file, in this process or a thread for a small one; on a reload
the objects of unchanged locations kept; the same refusals as a start in this process."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from ocpi_gateway.locations import catalog as catalog_module
from ocpi_gateway.locations import reread
from ocpi_gateway.locations.catalog import (
    LocationsCatalog,
    LocationsConfigError,
    load_locations_file,
)
from ocpi_gateway.locations.file_stream import content_key
from ocpi_gateway.locations.models import OperatorLocation
from ocpi_gateway.locations.sample import sample_location

COUNT = 12
CHILD = 0  # every file is big enough for the child process
THREAD = 10**12
PATHS = pytest.mark.parametrize("child_from", [CHILD, THREAD], ids=["child", "thread"])


async def no_pause() -> None:
    return None


def write(path: Path, items: list[dict[str, Any]]) -> None:
    path.write_text(yaml.safe_dump({"locations": items}, sort_keys=False))


@pytest.fixture
def items() -> list[dict[str, Any]]:
    return [sample_location(i) for i in range(COUNT)]


@PATHS
async def test_unchanged_locations_keep_their_objects(
    tmp_path: Path, items: list[dict[str, Any]], child_from: int
) -> None:
    path = tmp_path / "locations.yaml"
    write(path, items)
    current = LocationsCatalog.from_file(path)
    items[3]["name"] = "Renamed"
    items[7]["evses"][1]["connectors"][0]["max_amperage"] = 16
    items.append(sample_location(COUNT))
    write(path, items)
    fresh = await reread.reread(current, no_pause, child_from=child_from)
    expected = load_locations_file(path)
    assert fresh.locations() == expected
    for location in fresh.locations():
        kept = location is current.get(location.id)
        assert kept == (location.id not in {"LOC-00003", "LOC-00007", f"LOC-{COUNT:05d}"})
    assert fresh.get("LOC-00003").name == "Renamed"  # type: ignore[union-attr]
    changed = fresh.evse("LOC-00007", "LOC-00007-2")
    assert changed is not None and changed.connectors[0].max_amperage == 16
    # Indexed like a catalog read at start, and the keys a next reload compares with.
    start = LocationsCatalog.from_file(path)
    assert fresh.keys == start.keys
    assert fresh.evse_at("CP-00012", 2, None) == ("LOC-00012", "LOC-00012-2")
    assert fresh.canonical("loc-00003", "loc-00003-1") == ("LOC-00003", "LOC-00003-1", None)


async def test_a_gateway_only_field_changed_is_a_new_object(
    tmp_path: Path, items: list[dict[str, Any]]
) -> None:
    # Not published (no configuration digest sees it), but the catalog must hold the new one.
    path = tmp_path / "locations.yaml"
    write(path, items)
    current = LocationsCatalog.from_file(path)
    items[2]["evses"][0]["charge_point_id"] = "CP-MOVED"
    write(path, items)
    fresh = await reread.reread(current, no_pause, child_from=CHILD)
    assert fresh.get("LOC-00002") is not current.get("LOC-00002")
    assert fresh.evses_of_charger("CP-MOVED") == [("LOC-00002", "LOC-00002-1")]


async def test_the_child_reads_the_file_not_this_process(
    tmp_path: Path, items: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "locations.yaml"
    write(path, items)
    current = LocationsCatalog.from_file(path)
    items[0]["name"] = "Elsewhere"
    write(path, items)

    def not_here(*_: object) -> Any:
        raise AssertionError("parsed in the gateway's process")

    monkeypatch.setattr(reread, "changes", not_here)
    fresh = await reread.reread(current, no_pause, child_from=CHILD)
    assert fresh.get("LOC-00000").name == "Elsewhere"  # type: ignore[union-attr]
    with pytest.raises(AssertionError, match="gateway's process"):
        await reread.reread(current, no_pause, child_from=THREAD)


def start_error(path: Path) -> str:
    with pytest.raises(LocationsConfigError) as caught:
        load_locations_file(path)
    return str(caught.value)


@PATHS
@pytest.mark.parametrize("breakage", ["field", "duplicate", "mapping", "root", "yaml"])
async def test_a_bad_file_is_refused_as_at_start(
    tmp_path: Path, items: list[dict[str, Any]], child_from: int, breakage: str
) -> None:
    path = tmp_path / "locations.yaml"
    write(path, items)
    current = LocationsCatalog.from_file(path)
    if breakage == "field":
        items[9]["evses"][1]["connectors"][0]["max_amperage"] = -1
    elif breakage == "duplicate":
        items[10]["id"] = "loc-00004"  # ids are compared without regard to case
    elif breakage == "mapping":
        items[11]["evses"][0]["charge_point_id"] = "CP-00001"
    write(path, items)
    if breakage == "root":
        path.write_text(yaml.safe_dump({"locations": items, "locatoins": []}))
    elif breakage == "yaml":
        path.write_text("locations: [\n")
    expected = start_error(path)
    with pytest.raises(LocationsConfigError) as caught:
        await reread.reread(current, no_pause, child_from=child_from)
    assert str(caught.value) == expected


async def test_other_files_checks_run_in_chunks_with_the_message_of_one_check(
    tmp_path: Path, items: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    class UnknownTariff(LocationsConfigError):
        pass

    def check(locations: Any, source: Path | None) -> None:
        bad = [f"{source}: location {loc.id!r}: unknown tariff" for loc in locations
               if loc.id in ("LOC-00001", "LOC-00006", "LOC-00011")]
        if bad:
            raise UnknownTariff("\n".join(bad))

    path = tmp_path / "locations.yaml"
    write(path, items)
    current = LocationsCatalog.from_file(path)
    current.checks = (check,)
    monkeypatch.setattr(reread, "CHECK_CHUNK", 4)
    with pytest.raises(UnknownTariff) as caught:
        await reread.reread(current, no_pause, child_from=THREAD)
    with pytest.raises(UnknownTariff) as whole:
        check(load_locations_file(path), path)
    assert str(caught.value) == str(whole.value) and len(caught.value.problems) == 3


async def test_a_reading_process_that_dies_refuses_the_reload(
    tmp_path: Path, items: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "locations.yaml"
    write(path, items)
    current = LocationsCatalog.from_file(path)
    monkeypatch.setattr(sys, "executable", "/bin/false")
    with pytest.raises(LocationsConfigError, match="failed \\(exit 1\\)"):
        await reread.reread(current, no_pause, child_from=CHILD)


def test_content_keys_tell_types_apart_and_equal_data_alike() -> None:
    assert content_key({"a": [1, "x"]}) == content_key({"a": [1, "x"]})
    keys = {content_key({"v": v}) for v in (1, 1.0, True, "1", None, float("nan"))}
    assert len(keys) == 6
    assert content_key({"a": 1, "b": 2}) != content_key({"b": 2, "a": 1})  # order: safe side


def test_a_catalog_built_in_code_has_no_keys() -> None:
    location = OperatorLocation.model_validate(sample_location(1))
    assert LocationsCatalog([location]).keys == {}


# -- at start ------------------------------------------------------------------------------

def test_a_start_streamed_from_the_child_is_the_catalog_of_a_start_here(
    tmp_path: Path, items: list[dict[str, Any]]
) -> None:
    path = tmp_path / "locations.yaml"
    write(path, items)
    streamed = reread.read_catalog(path, child_from=CHILD)
    here = LocationsCatalog.from_file(path)
    assert streamed.locations() == here.locations()
    assert streamed.keys == here.keys and len(streamed.keys) == COUNT
    assert streamed.source == path
    assert streamed.evse_at("CP-00005", 1, None) == ("LOC-00005", "LOC-00005-1")
    assert streamed.canonical("loc-00002") == ("LOC-00002", None, None)
    assert streamed.evses_of_charger("CP-00003") == here.evses_of_charger("CP-00003")


def test_a_big_file_at_start_is_not_parsed_in_this_process(
    tmp_path: Path, items: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "locations.yaml"
    write(path, items)

    def not_here(*_: object, **__: object) -> Any:
        raise AssertionError("parsed in the gateway's process")

    monkeypatch.setattr(catalog_module, "read_yaml", not_here)
    assert len(reread.read_catalog(path, child_from=CHILD)) == COUNT
    with pytest.raises(AssertionError, match="gateway's process"):
        reread.read_catalog(path, child_from=THREAD)


@pytest.mark.parametrize("breakage", ["field", "duplicate", "mapping", "root", "yaml", "empty",
                                      "missing"])
def test_a_bad_file_at_start_is_refused_with_the_words_of_a_start_here(
    tmp_path: Path, items: list[dict[str, Any]], breakage: str
) -> None:
    path = tmp_path / "locations.yaml"
    if breakage == "field":
        items[9]["evses"][1]["connectors"][0]["max_amperage"] = -1
    elif breakage == "duplicate":
        items[10]["id"] = "loc-00004"
    elif breakage == "mapping":
        items[11]["evses"][0]["charge_point_id"] = "CP-00001"
    write(path, items)
    if breakage == "root":
        path.write_text(yaml.safe_dump({"locations": items, "locatoins": []}))
    elif breakage == "yaml":
        path.write_text("locations:\n- {id: A}\nafter: [\n")
    elif breakage == "empty":
        path.write_text("locations: {}\n")
    elif breakage == "missing":
        path.unlink()
    expected = start_error(path)
    with pytest.raises(LocationsConfigError) as caught:
        reread.read_catalog(path, child_from=CHILD)
    assert str(caught.value) == expected


@pytest.mark.parametrize("unstreamable", ["- <<: {}\n  id: LOC-00000", "- !!map\n  id: LOC-00000"],
                         ids=["merge key", "explicit tag"])
def test_a_file_the_stream_cannot_give_is_read_here(
    tmp_path: Path, items: list[dict[str, Any]], unstreamable: str
) -> None:
    path = tmp_path / "locations.yaml"
    write(path, items)
    text = path.read_text()
    assert "- id: LOC-00000" in text
    path.write_text(text.replace("- id: LOC-00000", unstreamable, 1))
    streamed = reread.read_catalog(path, child_from=CHILD)
    assert streamed.locations() == LocationsCatalog.from_file(path).locations()
    assert len(streamed) == COUNT


def test_other_files_checks_run_at_a_streamed_start(
    tmp_path: Path, items: list[dict[str, Any]]
) -> None:
    seen: list[list[str]] = []

    def check(locations: Any, source: Path | None) -> None:
        seen.append([location.id for location in locations])
        if "LOC-00006" in seen[-1]:
            raise LocationsConfigError(f"{source}: location 'LOC-00006': unknown tariff")

    path = tmp_path / "locations.yaml"
    write(path, items)
    with pytest.raises(LocationsConfigError, match="LOC-00006"):
        reread.read_catalog(path, [check], child_from=CHILD)
    assert seen == [[f"LOC-{i:05d}" for i in range(COUNT)]]


def test_a_reading_process_that_dies_refuses_the_start(
    tmp_path: Path, items: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "locations.yaml"
    write(path, items)
    monkeypatch.setattr(sys, "executable", "/bin/false")
    with pytest.raises(LocationsConfigError, match="failed \\(exit 1\\)"):
        reread.read_catalog(path, child_from=CHILD)


async def test_a_reload_of_a_file_the_stream_cannot_give_reads_it_in_a_thread(
    tmp_path: Path, items: list[dict[str, Any]]
) -> None:
    path = tmp_path / "locations.yaml"
    write(path, items)
    current = LocationsCatalog.from_file(path)
    items[4]["name"] = "Renamed"
    write(path, items)
    path.write_text(path.read_text().replace("- id: LOC-00000", "- <<: {}\n  id: LOC-00000", 1))
    fresh = await reread.reread(current, no_pause, child_from=CHILD)
    assert fresh.locations() == load_locations_file(path)
    assert fresh.get("LOC-00004").name == "Renamed"  # type: ignore[union-attr]
