"""The ``bookings:`` section of policy.yaml: keys, precedence, validation at ``policy check``,
and a booking request checked against the terms (the violated term named)."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from ocpi_gateway.reservation_policy.booking_terms import (
    check_booking,
    check_cancel,
    check_change,
    promise_interval,
)
from ocpi_gateway.reservation_policy.cli import check
from ocpi_gateway.reservation_policy.models import Partner
from ocpi_gateway.reservation_policy.policy import (
    BookingTerms,
    PolicyError,
    load_policy,
    parse_policy,
)

REPO = Path(__file__).resolve().parents[2]
KEYS = {"enabled", "max_advance_days", "min_duration_minutes", "max_duration_minutes",
        "timeslot_increment_minutes", "activation_lead_minutes", "early_start_minutes",
        "noshow_timeout_minutes", "cancel_until_minutes", "change_until_minutes",
        "turnover_buffer_minutes", "waitlist_minutes"}
NOW = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
ABC, OTHER = Partner("NL", "ABC"), Partner("DE", "OTH")


def test_the_section_has_exactly_the_documented_keys() -> None:
    assert set(BookingTerms.model_fields) == KEYS
    shipped = (REPO / "config" / "policy.yaml").read_text(encoding="utf-8")
    guide = (REPO / "docs" / "operator-guide.md").read_text(encoding="utf-8")
    for key in [*KEYS, "reservation_only"]:
        assert key in shipped, key
        assert f"`{key}`" in guide, key


def test_terms_inherit_key_by_key_through_every_level() -> None:
    policy = parse_policy({
        "defaults": {"bookings": {"enabled": True, "max_advance_days": 7,
                                  "turnover_buffer_minutes": 10}},
        "partners": {"NL-ABC": {"bookings": {"max_advance_days": 14}}},
        "locations": {"SITE": {"reservation_only": True,
                               "bookings": {"turnover_buffer_minutes": 2.5},
                               "partners": {"NL-ABC": {"bookings": {"enabled": False}}}},
                      "OFF": {"bookings": {"enabled": False}}},
    })
    elsewhere = policy.effective("ELSEWHERE", ABC).bookings
    assert (elsewhere.enabled, elsewhere.max_advance_days, elsewhere.turnover_buffer_minutes
            ) == (True, 14, 10)
    site = policy.effective("SITE", OTHER).bookings
    assert (site.enabled, site.max_advance_days, site.turnover_buffer_minutes) == (True, 7, 2.5)
    site_abc = policy.effective("SITE", ABC).bookings
    assert (site_abc.enabled, site_abc.max_advance_days, site_abc.turnover_buffer_minutes
            ) == (False, 14, 2.5)
    assert policy.reservation_only("SITE") and not policy.reservation_only("ELSEWHERE")
    assert policy.bookings_possible("SITE") and not policy.bookings_possible("OFF")
    assert not parse_policy({}).bookings_possible("SITE")
    only_one = parse_policy({"locations": {"X": {"partners": {
        "NL-ABC": {"bookings": {"enabled": True}}}}}})
    assert only_one.bookings_possible("X") and not only_one.bookings_possible("Y")


@pytest.mark.parametrize(("raw", "expected"), [
    ({"defaults": {"bookings": {"enabeld": True}}},
     "defaults.bookings.enabeld: not a known key; did you mean 'enabled'?"),
    ({"defaults": {"bookings": {"max_advance_days": 0}}},
     "defaults.bookings.max_advance_days: Input should be greater than 0"),
    ({"defaults": {"bookings": {"turnover_buffer_minutes": -1}}},
     "defaults.bookings.turnover_buffer_minutes:"),
    ({"defaults": {"bookings": {"min_duration_minutes": 90, "max_duration_minutes": 60}}},
     "defaults.bookings: min_duration_minutes is greater than max_duration_minutes"),
    ({"defaults": {"bookings": {"early_start_minutes": 20, "activation_lead_minutes": 10}}},
     "early_start_minutes is greater than activation_lead_minutes"),
    ({"defaults": {"bookings": {"max_duration_minutes": 1430}}},
     "more than 1440 (24 h)"),
    ({"partners": {"NL-ABC": {"bookings": {"min_duration_minutes": 300}}}},
     "partners.NL-ABC: bookings: min_duration_minutes is greater than max_duration_minutes"),
    ({"locations": {"S": {"partners": {"NL-ABC": {"bookings": {"timeslot_increment_minutes":
                                                                500}}}}}},
     "locations.S.partners.NL-ABC: bookings: timeslot_increment_minutes is greater"),
    ({"locations": {"S": {"partners": {"NL-ABC": {"reservation_only": True}}}}},
     "locations.S.partners.NL-ABC.reservation_only: not a known key"),
    ({"defaults": {"reservation_only": True}}, "defaults.reservation_only: not a known key"),
])
def test_errors_name_the_file_and_the_key(raw: object, expected: str) -> None:
    with pytest.raises(PolicyError) as err:
        parse_policy(raw, "p.yaml")
    assert expected in str(err.value)
    assert str(err.value).startswith("p.yaml: ")


def test_policy_check_validates_the_section(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("locations:\n  S:\n    bookings:\n      noshow_timeout_minutes: 0\n")
    out = io.StringIO()
    assert check(bad, out) == 1
    assert f"{bad}: locations.S.bookings.noshow_timeout_minutes:" in out.getvalue()
    good = tmp_path / "good.yaml"
    good.write_text("defaults:\n  bookings:\n    enabled: true\n    early_start_minutes: 2.5\n")
    assert check(good, io.StringIO()) == 0
    assert load_policy(good).defaults.bookings.early_start_minutes == 2.5


TERMS = BookingTerms(enabled=True, max_advance_days=2, min_duration_minutes=30,
                     max_duration_minutes=120, timeslot_increment_minutes=15,
                     activation_lead_minutes=10, turnover_buffer_minutes=5,
                     cancel_until_minutes=60, change_until_minutes=30)


def slot(start_minutes: float, length: float) -> tuple[datetime, datetime]:
    start = NOW + timedelta(minutes=start_minutes)
    return start, start + timedelta(minutes=length)


@pytest.mark.parametrize(("terms", "when", "term"), [
    (TERMS, slot(60, 60), None),
    (TERMS.model_copy(update={"enabled": False}), slot(60, 60), "enabled"),
    (TERMS, (NOW + timedelta(hours=2), NOW + timedelta(hours=1)), "period"),
    (TERMS, slot(-15, 60), "period"),
    (TERMS, slot(2 * 24 * 60, 60), None),
    (TERMS, slot(2 * 24 * 60 + 15, 60), "max_advance_days"),
    (TERMS, slot(60, 15), "min_duration_minutes"),
    (TERMS, slot(60, 30), None),
    (TERMS, slot(60, 120), None),
    (TERMS, slot(60, 135), "max_duration_minutes"),
    (TERMS, slot(65, 60), "timeslot_increment_minutes"),
    (TERMS, slot(60, 50), "timeslot_increment_minutes"),
    (TERMS.model_copy(update={"timeslot_increment_minutes": 7.5}), slot(67.5, 37.5), None),
])
def test_a_request_names_the_term_it_breaks(terms: BookingTerms,
                                            when: tuple[datetime, datetime],
                                            term: str | None) -> None:
    violation = check_booking(terms, *when, NOW)
    assert (violation.term if violation else None) == term
    if violation is not None:
        assert violation.message


def test_the_grid_counts_from_the_sites_midnight() -> None:
    # Kathmandu is UTC+05:45: 09:00 UTC is 14:45 there, on a 15-minute grid; 09:10 is not.
    nepal = ZoneInfo("Asia/Kathmandu")
    terms = TERMS.model_copy(update={"timeslot_increment_minutes": 30})
    start = datetime(2026, 12, 2, 9, 15, tzinfo=UTC)  # 15:00 local
    assert check_booking(terms, start, start + timedelta(hours=1), NOW, site_zone=nepal) is None
    off = check_booking(terms, start, start + timedelta(hours=1), NOW)
    assert off is not None and off.term == "timeslot_increment_minutes"


def test_change_and_cancel_deadlines() -> None:
    start = NOW + timedelta(minutes=45)
    assert check_change(TERMS, start, NOW) is None
    late = check_change(TERMS, start, NOW + timedelta(minutes=16))
    assert late is not None and late.term == "change_until_minutes"
    cancel = check_cancel(TERMS, start, NOW)
    assert cancel is not None and cancel.term == "cancel_until_minutes"
    assert check_cancel(TERMS, start + timedelta(minutes=15), NOW) is None


def test_the_promise_runs_from_the_activation_lead_to_the_end_of_the_buffer() -> None:
    start, end = slot(60, 60)
    assert promise_interval(TERMS, start, end) == (start - timedelta(minutes=10),
                                                   end + timedelta(minutes=5))
