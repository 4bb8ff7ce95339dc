"""The tariffs catalog: completion for publishing (the CPO's party, last_updated that only
moves when a tariff changes), per-partner visibility, and what changed between two files."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

from ocpi_gateway.tariffs.catalog import TariffsCatalog

PARTY = ("NL", "EXA")
FILE = """\
tariffs:
  - {id: A, currency: EUR,
     elements: [{price_components: [{type: ENERGY, price: 0.3, step_size: 1}]}]}
  - {id: B, currency: EUR, country_code: BE, party_id: EXB, partners: ["DE*EMS", "nl-tnm"],
     elements: [{price_components: [{type: FLAT, price: 1, step_size: 1}]}]}
"""


def write(path: Path, text: str, mtime: int) -> Path:
    path.write_text(text, encoding="utf-8")
    os.utime(path, (mtime, mtime))
    return path


def test_completed_and_last_updated_moves_only_for_a_changed_tariff(tmp_path: Path) -> None:
    path = write(tmp_path / "tariffs.yaml", FILE, 1_800_000_000)
    first = TariffsCatalog.from_file(path, party=PARTY)
    a, b = first.get("a"), first.get("B")  # ids are CiStrings
    assert a is not None and b is not None
    assert (a.country_code, a.party_id) == PARTY and (b.country_code, b.party_id) == ("BE", "EXB")
    assert a.last_updated == datetime.fromtimestamp(1_800_000_000, UTC)
    write(path, FILE.replace("price: 0.3", "price: 0.4"), 1_800_000_600)
    second = first.reload()
    assert second.changed_since(first) == (["A"], [])
    new_a, same_b = second.get("A"), second.get("B")
    assert new_a is not None and same_b is not None
    assert new_a.last_updated == datetime.fromtimestamp(1_800_000_600, UTC)
    assert same_b.last_updated == b.last_updated  # unchanged: keeps its time
    assert [t.id for t in second.tariffs()] == ["B", "A"]  # oldest last_updated first
    write(path, FILE.split("  - {id: B")[0], 1_800_001_200)
    assert first.reload().changed_since(first) == ([], ["B"])


def test_visibility_by_party(tmp_path: Path) -> None:
    catalog = TariffsCatalog.from_file(write(tmp_path / "t.yaml", FILE, 1_800_000_000),
                                       party=PARTY)
    assert [t.id for t in catalog.visible_to([("DE", "EMS")])] == ["A", "B"]
    assert [t.id for t in catalog.visible_to([("NL", "TNM")])] == ["A", "B"]
    assert [t.id for t in catalog.visible_to([("DE", "XYZ"), ("FR", "EMS")])] == ["A"]
    assert [t.id for t in catalog.visible_to([])] == ["A"]
