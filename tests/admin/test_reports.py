"""The reports over the prepared store of tests/console/report_store.py (2026-12-01, UTC):
every figure below is worked out by hand from the records listed there."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import uuid
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml

from ocpi_gateway import cli
from ocpi_gateway.admin.service.reports import Report, ReportQuery, build_report
from ocpi_gateway.domain.store import DocumentStore
from ocpi_gateway.store import open_store
from ocpi_gateway.store.mongo import MongoStore
from tests.console import report_store as data
from tests.store.mongomock_async import AsyncMockDatabase

DAY = 86_400.0


@pytest.fixture(params=["sqlite", "mongo_emulated"])
async def store(request: pytest.FixtureRequest, tmp_path: Path
                ) -> AsyncIterator[DocumentStore]:
    """The same records on both backends (the reports' range queries are the store's)."""
    opened: DocumentStore
    if request.param == "sqlite":
        opened = await open_store(f"sqlite:///{tmp_path / 'reports.db'}")
    else:
        opened = MongoStore(AsyncMockDatabase(f"reports_{uuid.uuid4().hex}"))
    await data.prepare(opened)
    yield opened
    await opened.close()


async def _report(store: DocumentStore, **filters: str) -> Report:
    query = ReportQuery.model_validate({"from": data.WINDOW[0], "to": data.WINDOW[1],
                                        **filters})
    return await build_report(store, query, now=data.NOW, evses=data.EVSES)


def _rows(models: list[Any]) -> list[dict[str, Any]]:
    return [m.model_dump(mode="json") for m in models]


async def test_no_show_rate_per_emsp(store: DocumentStore) -> None:
    report = await _report(store)
    # DE-AAA made in the window: R1 used, R2 no-show (expired after ACTIVE), R6 cancelled,
    # R7 no-show (expired after REROUTED), R8 used (S2), booking B3 rejected (failed).
    # DE-BBB: R3 live, R5 failed (never held), R10 used, R11 removed by the CPO's side,
    # booking B1 fulfilled (used), B2 no-show. Not counted: R4 (made on 11-30), the
    # booking's own binding §BOOKING/B9, B4 (slot on 12-03).
    assert _rows(report.no_shows) == [
        {"partner": "DE-AAA", "made": 6, "used": 2, "no_shows": 2, "cancelled": 1,
         "ended_by_cpo": 0, "failed": 1, "live": 0, "rate": 0.5},            # 2 / (2 + 2)
        {"partner": "DE-BBB", "made": 6, "used": 2, "no_shows": 1, "cancelled": 0,
         "ended_by_cpo": 1, "failed": 1, "live": 1, "rate": 0.333333},       # 1 / (2 + 1)
        {"partner": "*", "made": 12, "used": 4, "no_shows": 3, "cancelled": 1,
         "ended_by_cpo": 1, "failed": 2, "live": 1, "rate": 0.428571},       # 3 / 7
    ]


async def test_utilisation_per_evse_and_site(store: DocumentStore) -> None:
    report = await _report(store)
    # Held (ACTIVE/REROUTED to the next transition, cut to the window):
    #   E1: R1 30 min + R3 30 (23:30 to midnight) + R4 20 (midnight to 00:20) + R7 20 (before
    #       its re-route) + the binding of B9 10 = 110 min = 6600 s
    #   E2: R2 75 + R6 10 + R7 40 + R10 5 = 130 min = 7800 s;  E9: R8 5 + R11 30 = 2100 s
    # Charging: E1 Sa 1 h with its reservation, Sb 1 h walk-in (from midnight);
    #   E2 Sc walk-in still open at midnight: 23:00-24:00; Sd never charged;
    #   E9 Se 30 min with its reservation.
    assert _rows(report.utilisation) == [
        {"location_id": "S1", "evse_uid": "E1", "window_seconds": DAY,
         "reserved_seconds": 6600.0, "used_seconds": 3600.0, "walk_in_seconds": 3600.0,
         "reserved_share": 0.076389, "used_share": 0.041667, "walk_in_share": 0.041667},
        {"location_id": "S1", "evse_uid": "E2", "window_seconds": DAY,
         "reserved_seconds": 7800.0, "used_seconds": 0.0, "walk_in_seconds": 3600.0,
         "reserved_share": 0.090278, "used_share": 0.0, "walk_in_share": 0.041667},
        {"location_id": "S1", "evse_uid": None, "window_seconds": 2 * DAY,
         "reserved_seconds": 14400.0, "used_seconds": 3600.0, "walk_in_seconds": 7200.0,
         "reserved_share": 0.083333, "used_share": 0.020833, "walk_in_share": 0.041667},
        {"location_id": "S2", "evse_uid": "E9", "window_seconds": DAY,
         "reserved_seconds": 2100.0, "used_seconds": 1800.0, "walk_in_seconds": 0.0,
         "reserved_share": 0.024306, "used_share": 0.020833, "walk_in_share": 0.0},
        {"location_id": "S2", "evse_uid": None, "window_seconds": DAY,
         "reserved_seconds": 2100.0, "used_seconds": 1800.0, "walk_in_seconds": 0.0,
         "reserved_share": 0.024306, "used_share": 0.020833, "walk_in_share": 0.0},
    ]


async def test_acceptance_and_refusal_reasons(store: DocumentStore) -> None:
    report = await _report(store)
    # RESERVE_NOW received in the window: DE-AAA C1 accepted, C2 and C3 banned, C4 failed
    # (no message: the result names it); DE-BBB C5 still pending. C6 (11-30) and C7
    # (START_SESSION) do not count. Booking requests: B3's declined (DE-AAA); B2's and B4's
    # first accepted (DE-BBB); B4's cancellation is no request for a booking; B1's on 11-30.
    assert _rows(report.acceptance) == [
        {"partner": "DE-AAA", "kind": "booking", "asked": 1, "accepted": 0, "refused": 1,
         "pending": 0, "acceptance_rate": 0.0,
         "refusals": [{"reason": "the site is full at 22:00", "count": 1}]},
        {"partner": "DE-AAA", "kind": "reservation", "asked": 4, "accepted": 1, "refused": 3,
         "pending": 0, "acceptance_rate": 0.25,
         "refusals": [{"reason": "the token is banned", "count": 2},
                      {"reason": "FAILED", "count": 1}]},
        {"partner": "DE-BBB", "kind": "booking", "asked": 2, "accepted": 2, "refused": 0,
         "pending": 0, "acceptance_rate": 1.0, "refusals": []},
        {"partner": "DE-BBB", "kind": "reservation", "asked": 1, "accepted": 0, "refused": 0,
         "pending": 1, "acceptance_rate": None, "refusals": []},
    ]


async def test_reservation_and_no_show_revenue(store: DocumentStore) -> None:
    report = await _report(store)
    # DE-AAA EUR: K1 12.50 with a 2.00 reservation fee, credited in full by K4 (-12.50 and
    # -2.00); K2 a no-show 3.00; K3 a late cancellation 1.50. DE-BBB: K5 8.00 with 1.00 of
    # reservation (EUR), K6 5.00 CHF. K7 was made on 12-02.
    assert [(r.partner, r.currency, r.reservation_fees, r.no_show_fees,
             r.late_cancellation_fees, r.session_revenue, r.cdrs) for r in report.revenue] == [
        ("DE-AAA", "EUR", Decimal("0.00"), Decimal("3.00"), Decimal("1.50"), Decimal("0.00"), 4),
        ("DE-BBB", "CHF", Decimal(0), Decimal(0), Decimal(0), Decimal("5.00"), 1),
        ("DE-BBB", "EUR", Decimal("1.00"), Decimal(0), Decimal(0), Decimal("8.00"), 1),
        ("*", "CHF", Decimal(0), Decimal(0), Decimal(0), Decimal("5.00"), 1),
        ("*", "EUR", Decimal("1.00"), Decimal("3.00"), Decimal("1.50"), Decimal("8.00"), 5),
    ]


async def test_one_site_and_one_emsp(store: DocumentStore) -> None:
    report = await _report(store, site="S1", partner="de*bbb")
    assert report.partner == "DE-BBB" and report.site == "S1"
    # DE-BBB at S1: R3 live, R5 failed, R10 used, B1 used, B2 no-show (R11 is at S2).
    assert _rows(report.no_shows) == [
        {"partner": "DE-BBB", "made": 5, "used": 2, "no_shows": 1, "cancelled": 0,
         "ended_by_cpo": 0, "failed": 1, "live": 1, "rate": 0.333333},
        {"partner": "*", "made": 5, "used": 2, "no_shows": 1, "cancelled": 0,
         "ended_by_cpo": 0, "failed": 1, "live": 1, "rate": 0.333333},
    ]
    # E1: R3 30 + R4 20 + B9's binding 10 = 3600 s held, Sb walk-in 1 h; E2: R10 5 min.
    # Sc has no known token: no eMSP's.
    assert [(u.evse_uid, u.reserved_seconds, u.used_seconds, u.walk_in_seconds)
            for u in report.utilisation] == [
        ("E1", 3600.0, 0.0, 3600.0), ("E2", 300.0, 0.0, 0.0), (None, 3900.0, 0.0, 3600.0)]
    assert [(a.kind, a.asked, a.accepted, a.pending) for a in report.acceptance] == [
        ("booking", 2, 2, 0), ("reservation", 1, 0, 1)]
    assert [(r.partner, r.currency, r.reservation_fees, r.session_revenue)
            for r in report.revenue] == [("DE-BBB", "EUR", Decimal("1.00"), Decimal("8.00")),
                                         ("*", "EUR", Decimal("1.00"), Decimal("8.00"))]


@pytest.mark.parametrize("query, problem", [
    ({"from": "2026-12-02T00:00:00Z", "to": "2026-12-01T00:00:00Z"}, "after"),
    ({"from": "2026-12-01T00:00:00", "to": "2026-12-02T00:00:00Z"}, "time zone"),
    ({"from": "2025-01-01T00:00:00Z", "to": "2026-12-02T00:00:00Z"}, "366 days"),
    ({"from": "2026-12-01T00:00:00Z", "to": "2026-12-02T00:00:00Z", "partner": "NOPE"},
     "eMSP party"),
])
def test_a_bad_window_or_partner_is_refused(query: dict[str, str], problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        ReportQuery.model_validate(query)


CONFIG = Path(__file__).resolve().parents[2] / "config" / "gateway.yaml"


def _cli_config(tmp_path: Path) -> Path:
    """The example gateway.yaml's identity over the prepared store (no locations file: only
    EVSEs something happened at are listed)."""
    example = yaml.safe_load(CONFIG.read_text(encoding="utf-8"))
    config = tmp_path / "gateway.yaml"
    config.write_text(yaml.safe_dump({"cpo_roles": example["cpo_roles"],
                                      "store_url": f"sqlite:///{tmp_path / 'reports.db'}"}),
                      encoding="utf-8")
    return config


@pytest.mark.parametrize("fmt", ["json", "csv"])
async def test_the_cli_prints_the_same_figures(tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str],
                                               fmt: str) -> None:
    config = _cli_config(tmp_path)
    prepared = await open_store(f"sqlite:///{tmp_path / 'reports.db'}")
    await data.prepare(prepared)
    await prepared.close()
    code = await asyncio.to_thread(cli.main, [
        "--config", str(config), "report", "--from", "2026-12-01T00:00:00Z",
        "--to", "2026-12-02", "--partner", "DE-AAA", "--format", fmt])
    out = capsys.readouterr().out
    assert code == 0
    if fmt == "json":
        body = json.loads(out)
        assert body["from"] == "2026-12-01T00:00:00Z" and body["partner"] == "DE-AAA"
        assert [(r["partner"], r["rate"]) for r in body["no_shows"]] == [
            ("DE-AAA", 0.5), ("*", 0.5)]
        assert body["revenue"][0]["no_show_fees"] == "3.00"
        return
    rows = list(csv.DictReader(io.StringIO(out)))
    assert list(rows[0]) == ["section", "partner", "location_id", "evse_uid", "kind",
                             "currency", "metric", "value"]
    figures = {(r["section"], r["partner"], r["location_id"], r["evse_uid"], r["kind"],
                r["currency"], r["metric"]): r["value"] for r in rows}
    assert figures[("no_shows", "DE-AAA", "", "", "", "", "no_shows")] == "2"
    assert figures[("no_shows", "DE-AAA", "", "", "", "", "rate")] == "0.5"
    # DE-AAA's held time at E1: R1 30 min + R7 20 min.
    assert figures[("utilisation", "", "S1", "E1", "", "", "reserved_seconds")] == "3000.0"
    assert figures[("refusals", "DE-AAA", "", "", "reservation", "",
                    "the token is banned")] == "2"
    assert figures[("revenue", "DE-AAA", "", "", "", "EUR", "late_cancellation_fees")] == "1.50"


async def test_the_cli_names_a_bad_window(tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    code = cli.main(["--config", str(_cli_config(tmp_path)), "report", "--from",
                     "2026-12-02", "--to", "2026-12-01"])
    assert code == 2
    assert "'to' must be after 'from'" in capsys.readouterr().err
