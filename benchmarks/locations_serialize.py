"""What the typed path costs when a Locations page is not cached (right after a change): a
page of 10 built through the version seam (typed 2.2.1 / 2.3.0 objects, serialized once per
location and version) against the reference of the same run, the untyped path the sender used
before the seam (``orjson.dumps`` of the publisher's dicts). A cached page (the steady state
that benchmarks/locations_get.py measures) is the same bytes lookup on both paths.

Two typed cases: "cold" (nothing built for the page's locations: startup, first GET, a
reloaded location) and "status change" (one EVSE of each location changed status: what a push
and the next GET cost; a publisher that keeps typed objects (``_objects``,
``_status_changed``) copies them, one that does not builds them again). Rounds interleave
them; min and median per page are printed, and the ratios.
``--catalog N`` then times the first full GET of all pages (the handler's page size) of an
N-location catalog in each version, nothing built before.

Runs against older code too (``PYTHONPATH=<other checkout>``): the publisher of before the
typed live state kept dicts (``_docs``), which it then dumps as they are; today's untyped
reference is the JSON form of its typed state (``published_doc``), built before timing.

Usage: .venv/bin/python benchmarks/locations_serialize.py [--locations 200] [--rounds 7]
       [--pages 200] [--catalog 10000]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import resource
import statistics
import time
from typing import Any, cast

import orjson
import structlog

from ocpi_gateway.locations.catalog import LocationsCatalog
from ocpi_gateway.locations.handlers import DEFAULT_MAX_LIMIT
from ocpi_gateway.locations.publisher import LocationsPublisher
from ocpi_gateway.locations.sample import sample_locations
from ocpi_gateway.reservation_policy.availability.base import EvseStatus
from ocpi_gateway.reservation_policy.availability.memory import MemoryAvailability


def _docs(publisher: LocationsPublisher) -> dict[str, dict[str, Any]]:
    """The published Locations as JSON-ready dicts: the untyped path's state (before the seam
    the publisher kept these; since, its live state is typed and this is their JSON form)."""
    kept = getattr(publisher, "_docs", None)
    if kept is not None:
        return cast(dict[str, dict[str, Any]], kept)
    cached = getattr(publisher, "_bench_docs", None)
    if cached is None:
        cached = {loc.id: publisher.published_doc(loc.id) for loc in publisher._live}
        publisher._bench_docs = cached  # type: ignore[attr-defined]
    return cast(dict[str, dict[str, Any]], cached)


def untyped_page(publisher: LocationsPublisher, offset: int) -> bytes:
    docs = _docs(publisher)
    ids = sorted(docs)[offset:offset + 10]
    return orjson.dumps([docs[i] for i in ids])


def _forget_all(publisher: LocationsPublisher) -> None:
    getattr(publisher, "_objects", {}).clear()
    pages = getattr(publisher, "_pages", None)
    if pages is not None:
        pages.clear()
    else:
        publisher._serialized.clear()  # type: ignore[attr-defined]
        publisher._page_cache.clear()  # type: ignore[attr-defined]


def typed_page(publisher: LocationsPublisher, offset: int, version: str) -> bytes:
    _forget_all(publisher)  # nothing built yet
    body, _ = publisher.page(offset, 10, None, None, version)
    return body


FLIP = {"AVAILABLE": "CHARGING", "CHARGING": "AVAILABLE"}


def changed_page(publisher: LocationsPublisher, offset: int, version: str) -> bytes:
    """Each location of the page had one EVSE change status (as a charger's report does)."""
    live = getattr(publisher, "_live", None)
    if live is None:  # the publisher of before: dicts
        publisher._page_cache.clear()  # type: ignore[attr-defined]
        for location_id in sorted(publisher._docs)[offset:offset + 10]:  # type: ignore[attr-defined]
            evse = publisher._docs[location_id]["evses"][0]  # type: ignore[attr-defined]
            evse["status"] = FLIP.get(evse["status"], "AVAILABLE")
            changed = getattr(publisher, "_status_changed", None)
            if changed is not None:
                changed(location_id, evse["uid"], evse["status"], evse["last_updated"])
            else:
                _forget_all(publisher)
    else:
        for location_id in sorted(loc.id for loc in live)[offset:offset + 10]:
            location = live.get(location_id)
            evse = location.evses[0]
            status = EvseStatus(FLIP.get(evse.status.value, "AVAILABLE"))
            publisher._statuses.set(location, evse, status, evse.last_updated)
    body, _ = publisher.page(offset, 10, None, None, version)
    return body


def _rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize() / 2**20


async def full_get(size: int) -> None:
    publisher = LocationsPublisher(LocationsCatalog(sample_locations(size)),
                                   MemoryAvailability())
    await publisher.start()
    limit = DEFAULT_MAX_LIMIT
    print(f"first full GET of {size} locations (pages of {limit}), nothing built before:")
    for version in ("2.2.1", "2.3.0"):
        times = []
        for _ in range(3):
            _forget_all(publisher)
            start = time.perf_counter()
            for offset in range(0, size, limit):
                publisher.page(offset, limit, None, None, version)
            times.append(time.perf_counter() - start)
        print(f"  {version}: min {min(times) * 1e3:8.0f} ms  median "
              f"{statistics.median(times) * 1e3:8.0f} ms")
    gc.collect()
    print(f"  resident memory after both: {_rss_mb():.0f} MB")
    docs = _docs(publisher)
    start = time.perf_counter()
    for offset in range(0, size, limit):
        orjson.dumps([docs[i] for i in sorted(docs)[offset:offset + limit]])
    print(f"  untyped dumps (before the seam, incl. its sort): "
          f"{(time.perf_counter() - start) * 1e3:.0f} ms")
    await publisher.stop()


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--locations", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--pages", type=int, default=200)
    parser.add_argument("--catalog", type=int, default=0)
    args = parser.parse_args()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    publisher = LocationsPublisher(LocationsCatalog(sample_locations(args.locations)),
                                   MemoryAvailability())
    await publisher.start()
    offsets = [(n * 10) % max(args.locations - 10, 1) for n in range(args.pages)]
    build = {"untyped (before the seam)": lambda o: untyped_page(publisher, o),
             "typed 2.2.1 cold": lambda o: typed_page(publisher, o, "2.2.1"),
             "typed 2.3.0 cold": lambda o: typed_page(publisher, o, "2.3.0"),
             "typed 2.2.1 status change": lambda o: changed_page(publisher, o, "2.2.1"),
             "typed 2.3.0 status change": lambda o: changed_page(publisher, o, "2.3.0")}
    runs: dict[str, list[float]] = {label: [] for label in build}
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
        print(f"  {label:<30} {min(values):8.0f} / {statistics.median(values):8.0f}"
              f"   ({sizes[label]} bytes)")
    base = runs["untyped (before the seam)"]
    for label in list(build)[1:]:
        ratios = [t / b for t, b in zip(runs[label], base, strict=True)]
        print(f"  {label} / untyped: min {min(ratios):.2f}  median {statistics.median(ratios):.2f}")
    if args.catalog:
        await full_get(args.catalog)


if __name__ == "__main__":
    asyncio.run(main())
