"""The class table of a site: power levels, several classes per EVSE, and the merging of the
lowest levels above MAX_CLASSES (which may only under-count what an EVSE serves)."""

from __future__ import annotations

import pytest

from ocpi_gateway.reservation_policy.capacity.classes import MAX_CLASSES, Need, SiteClasses
from tests.capacity.support import AC, CCS, DC, T2, evse


def test_an_evse_serves_every_level_up_to_its_power_and_both_standards() -> None:
    table = SiteClasses.build([evse("DUAL", (T2, AC, 22000), (CCS, DC, 150000)),
                               evse("SLOW", (CCS, DC, 50000))])
    assert [c.label() for c in table.classes] == [
        "IEC_62196_T2/AC_3_PHASE/22kW", "IEC_62196_T2_COMBO/DC/50kW",
        "IEC_62196_T2_COMBO/DC/150kW"]
    assert table.evse_masks == {"DUAL": 0b111, "SLOW": 0b010}
    assert table.subset_sizes == (0, 1, 2, 2, 1, 1, 2, 2)
    assert table.class_sizes == (1, 2, 1)
    assert table.need_mask(Need(frozenset({CCS}), min_power_w=60000)) == 0b100
    assert table.need_mask(Need(power_types=frozenset({DC}))) == 0b110
    assert table.need_mask(Need(min_power_w=200000)) == 0
    # capacity: EVSEs serving the set minus the reserve of its largest class
    assert table.capacity(0b011, 1) == 2 - 1
    assert table.capacity(0b100, 1) == 0
    assert table.capacity(0b111, 2) == 2 - 2


def test_above_the_limit_the_lowest_levels_merge_upwards() -> None:
    supply = [evse(f"P{kw}", (T2, AC, kw * 1000)) for kw in range(3, 12)]  # 9 levels
    table = SiteClasses.build(supply)
    assert len(table.classes) == MAX_CLASSES == 8
    assert min(c.power_w for c in table.classes) == 4000
    # The 3 kW EVSE serves no class left: never promised (safe), the 11 kW one serves all.
    assert table.evse_masks["P3"] == 0 and table.evse_masks["P11"] == 0b11111111
    # A need of at least 3 kW now asks for 4 kW or more.
    assert table.need_mask(Need(min_power_w=3000)) == 0b11111111


def test_too_many_kinds_of_connector() -> None:
    kinds = [(f"STD{n}", AC, 11000) for n in range(MAX_CLASSES + 1)]
    with pytest.raises(ValueError, match="more than 8 connector kinds"):
        SiteClasses.build([evse(f"E{n}", kind) for n, kind in enumerate(kinds)])
