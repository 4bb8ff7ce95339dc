"""What the typed path costs when a Locations page is not cached (right after a change): a
page of 10 built through the version seam (typed 2.2.1 / 2.3.0 objects, serialized once per
location and version) against the reference of the same run, the untyped path the sender used
before the seam (``orjson.dumps`` of the publisher's dicts). A cached page (the steady state
that benchmarks/locations_get.py measures) is the same bytes lookup on both paths.

Rounds interleave the three; min and median per page are printed, and the ratios.

Usage: .venv/bin/python benchmarks/locations_serialize.py [--locations 200] [--rounds 7]
       [--pages 200]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import time

import orjson
import structlog

from ocpi_gateway.locations.catalog import LocationsCatalog
from ocpi_gateway.locations.publisher import LocationsPublisher
from ocpi_gateway.locations.sample import sample_locations
from ocpi_gateway.reservation_policy.availability.memory import MemoryAvailability


def untyped_page(publisher: LocationsPublisher, offset: int) -> bytes:
    ids = sorted(publisher._docs)[offset:offset + 10]
    return orjson.dumps([publisher._docs[i] for i in ids])


def typed_page(publisher: LocationsPublisher, offset: int, version: str) -> bytes:
    publisher._serialized.clear()  # a change just happened: nothing cached
    publisher._page_cache.clear()
    body, _ = publisher.page(offset, 10, None, None, version)
    return body


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--locations", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--pages", type=int, default=200)
    args = parser.parse_args()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    publisher = LocationsPublisher(LocationsCatalog(sample_locations(args.locations)),
                                   MemoryAvailability())
    await publisher.start()
    offsets = [(n * 10) % max(args.locations - 10, 1) for n in range(args.pages)]
    runs: dict[str, list[float]] = {"untyped (before the seam)": [], "typed 2.2.1": [],
                                    "typed 2.3.0": []}
    build = {"untyped (before the seam)": lambda o: untyped_page(publisher, o),
             "typed 2.2.1": lambda o: typed_page(publisher, o, "2.2.1"),
             "typed 2.3.0": lambda o: typed_page(publisher, o, "2.3.0")}
    sizes = {label: len(fn(0)) for label, fn in build.items()}
    for round_index in range(args.rounds):
        order = list(build) if round_index % 2 == 0 else list(build)[::-1]
        for label in order:
            start = time.perf_counter()
            for offset in offsets:
                build[label](offset)
            runs[label].append((time.perf_counter() - start) / len(offsets) * 1e6)
    await publisher.stop()
    print(f"uncached page of 10 locations (4 EVSEs each), {args.rounds} rounds x "
          f"{args.pages} pages; us per page, min / median:")
    for label, values in runs.items():
        print(f"  {label:<28} {min(values):8.0f} / {statistics.median(values):8.0f}"
              f"   ({sizes[label]} bytes)")
    base = runs["untyped (before the seam)"]
    for label in ("typed 2.2.1", "typed 2.3.0"):
        ratios = [t / b for t, b in zip(runs[label], base, strict=True)]
        print(f"  {label} / untyped: min {min(ratios):.2f}  median {statistics.median(ratios):.2f}")


if __name__ == "__main__":
    asyncio.run(main())
