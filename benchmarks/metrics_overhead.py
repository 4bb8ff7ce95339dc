"""What the metrics cost: per OCPI request (middleware bookkeeping) and per scrape.

    .venv/bin/python benchmarks/metrics_overhead.py [--requests 200000]

1. The work ``ocpi_metrics_middleware`` adds to every ``/ocpi`` request: module from the path,
   the OCPI status code read back from a typical envelope, one counter and one histogram
   observation. Measured without HTTP, so the figure is the middleware's own cost.
2. Counting one OCPP CALL (``ocpp_message``, called by the adapter for every message).
3. ``GET /metrics`` rendering after a busy day: every OCPI module x method x status code seen,
   every OCPP action in both directions, command round trips for every outcome.
"""

from __future__ import annotations

import argparse
import statistics
import time

from prometheus_client import generate_latest

from ocpi_gateway import metrics
from ocpi_gateway.domain.charger_commands import CommandOutcome
from ocpi_gateway.domain.ids import OcppVersion
from ocpi_gateway.transport.envelope import ocpi_response


def per_request(requests: int) -> float:
    """Mean microseconds of the middleware's bookkeeping for one request."""
    body = [{"uid": f"EVSE-{i}", "status": "AVAILABLE", "connectors": [{"id": "1"}]}
            for i in range(8)]
    response = ocpi_response(body)
    paths = ["/ocpi/2.2.1/locations/LOC-1/EVSE-1", "/ocpi/versions",
             "/ocpi/2.2.1/commands/RESERVE_NOW", "/ocpi/2.2.1/tokens/NL/EXA/0123"]
    started = time.perf_counter()
    for i in range(requests):
        path = paths[i & 3]
        module = metrics.ocpi_module_of(path)
        assert module is not None
        metrics.observe_ocpi_request(module, "GET", metrics.ocpi_status_of(response), 200,
                                     0.002)
    return (time.perf_counter() - started) / requests * 1e6


def per_ocpp_message(messages: int) -> float:
    """Mean microseconds of counting one OCPP CALL (the adapter's call observer)."""
    actions = ["StatusNotification", "Heartbeat", "MeterValues", "ReserveNow"]
    started = time.perf_counter()
    for i in range(messages):
        metrics.ocpp_message(OcppVersion.V16, actions[i & 3], metrics.Direction.IN)
    return (time.perf_counter() - started) / messages * 1e6


def populate() -> int:
    modules = [*sorted(metrics.OCPI_MODULES), "other"]
    for module in modules:
        for method in ("GET", "POST", "PUT", "PATCH", "DELETE"):
            for status in ("1000", "2000", "2001", "2003", "3000"):
                metrics.ocpi_requests.labels(module, method, status, "200").inc()
                metrics.ocpi_request_duration.labels(module, method).observe(0.01)
    for version in OcppVersion:
        for action in metrics.OCPP_ACTIONS:
            for direction in metrics.Direction:
                metrics.ocpp_message(version, action, direction)
    for command in ("ReserveNow", "CancelReservation", "RemoteStart", "RemoteStop",
                    "UnlockConnector"):
        for outcome in CommandOutcome:
            metrics.observe_command_roundtrip(command, outcome, 0.3)
    return sum(len(family.samples) for family in metrics.REGISTRY.collect())


def scrape_ms(rounds: int = 50) -> tuple[float, int]:
    samples = []
    size = 0
    for _ in range(rounds):
        started = time.perf_counter()
        response = _render()
        samples.append((time.perf_counter() - started) * 1e3)
        size = len(response)
    return statistics.median(samples), size


def _render() -> bytes:
    return generate_latest(metrics.REGISTRY)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200_000)
    args = parser.parse_args()
    print(f"middleware bookkeeping per OCPI request: {per_request(args.requests):.2f} us "
          f"(mean of {args.requests:,})")
    print(f"counting one OCPP message: {per_ocpp_message(args.requests):.2f} us")
    series = populate()
    median, size = scrape_ms()
    print(f"GET /metrics with {series:,} samples: {median:.2f} ms to render, "
          f"{size / 1024:.0f} KiB (median of 50)")


if __name__ == "__main__":
    main()
