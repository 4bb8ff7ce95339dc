"""The sweep's own contract: spans outside the new interval are ignored, whatever the caller
passes (the backends pre-filter by their index; the check must not depend on it)."""

from __future__ import annotations

from ocpi_gateway.reservation_policy.capacity.classes import SiteClasses
from ocpi_gateway.reservation_policy.capacity.hall import Span, first_violation, spare_profile
from tests.capacity.support import ac

SITE = SiteClasses.build([ac("E1")])


def test_spans_touching_or_outside_the_interval_do_not_count() -> None:
    new = Span(100, 200, 1)
    outside = [Span(50, 100, 1), Span(200, 260, 1), Span(0, 10, 1), Span(300, 400, 1)]
    assert first_violation(SITE, outside, new, 0) is None
    assert spare_profile(SITE, outside, 1, 100, 200, 0) == [(100, 200, 1)]
    inside = first_violation(SITE, [*outside, Span(150, 160, 1)], new, 0)
    assert inside is not None and (inside.at, inside.promised, inside.capacity) == (150, 1, 1)
    assert first_violation(SITE, [Span(199, 260, 1)], new, 0) is not None
    assert first_violation(SITE, [Span(50, 101, 1)], new, 0) is not None
