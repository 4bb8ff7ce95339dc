"""The enforcement series: created at zero with their closed label sets, moved by the
observer the enforcement service is given and by ``reservation_fee``."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from ocpi_gateway import metrics
from ocpi_gateway.reservation_policy.enforcement.bans import Ban, BanSource
from ocpi_gateway.reservation_policy.enforcement.records import NoShow, UnusedKind
from ocpi_gateway.reservation_policy.engine import Refusal, RefusalReason

T0 = datetime(2026, 3, 2, tzinfo=UTC)


def value(name: str, **labels: str) -> float:
    return metrics.REGISTRY.get_sample_value(name, labels) or 0.0


def test_every_series_exists_with_its_labels_before_anything_happened() -> None:
    exposed = {f.name: f for f in text_string_to_metric_families(
        generate_latest(metrics.REGISTRY).decode())}
    labels = {name: {tuple(sorted(s.labels.items())) for s in exposed[name].samples
                     if s.name.endswith("_total")}
              for name in ("ocpi_enforcement_refusals", "ocpi_no_shows", "ocpi_token_bans",
                           "ocpi_reservation_fees")}
    assert labels["ocpi_enforcement_refusals"] >= {(("reason", "token_banned"),),
                                                   (("reason", "no_show_rate"),)}
    assert labels["ocpi_no_shows"] >= {(("kind", "reservation"),), (("kind", "booking"),)}
    assert labels["ocpi_token_bans"] >= {(("source", "no_shows"),), (("source", "operator"),)}
    assert labels["ocpi_reservation_fees"] >= {(("kind", k),) for k in (
        "reservation", "no_show", "cancellation")}
    assert exposed["ocpi_token_bans_lifted"].type == "counter"
    assert exposed["ocpi_reservation_fee_amount"].type == "counter"


def _ban(source: BanSource) -> Ban:
    return Ban(country_code="DE", party_id="EMS", token_uid="T", since=T0, until=T0,
               source=source, reason="r", by="ops")


def test_the_observer_counts_what_enforcement_tells_it() -> None:
    observer = metrics.EnforcementMetrics()
    for reason, label in ((RefusalReason.TOKEN_BANNED, "token_banned"),
                          (RefusalReason.NO_SHOW_RATE, "no_show_rate")):
        before = value("ocpi_enforcement_refusals_total", reason=label)
        observer.refused(Refusal(reason, "m"))
        assert value("ocpi_enforcement_refusals_total", reason=label) == before + 1
    for kind in UnusedKind:
        before = value("ocpi_no_shows_total", kind=kind.value)
        observer.no_show(NoShow(kind=kind, country_code="DE", party_id="EMS", token_uid="T",
                                reference="R", location_id="L", evse_uid=None,
                                reserved_at=T0, expired_at=T0, recorded_at=T0))
        assert value("ocpi_no_shows_total", kind=kind.value) == before + 1
    for source in BanSource:
        before = value("ocpi_token_bans_total", source=source.value)
        observer.banned(_ban(source))
        assert value("ocpi_token_bans_total", source=source.value) == before + 1
    before = value("ocpi_token_bans_lifted_total")
    observer.lifted(_ban(BanSource.OPERATOR))
    assert value("ocpi_token_bans_lifted_total") == before + 1


def test_fees_are_counted_with_their_amount() -> None:
    before = value("ocpi_reservation_fees_total", kind="no_show")
    amount = value("ocpi_reservation_fee_amount_total", kind="no_show", currency="EUR")
    metrics.reservation_fee(metrics.FeeKind.NO_SHOW, 2.5, "EUR")
    metrics.reservation_fee("no_show", 0.5, "EUR")
    assert value("ocpi_reservation_fees_total", kind="no_show") == before + 2
    assert value("ocpi_reservation_fee_amount_total", kind="no_show", currency="EUR") == (
        amount + 3.0)
    other = value("ocpi_reservation_fee_amount_total", kind="cancellation", currency="other")
    metrics.reservation_fee("cancellation", 1.0, "euro; DROP")
    assert value("ocpi_reservation_fee_amount_total", kind="cancellation",
                 currency="other") == other + 1.0
    with pytest.raises(ValueError):
        metrics.reservation_fee("tip", 1.0, "EUR")
    with pytest.raises(ValueError):
        metrics.enforcement_refused("maybe")
