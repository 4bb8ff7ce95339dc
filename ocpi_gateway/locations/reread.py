"""The locations file read into a catalog at start and on a reload, a location at a time.

A big file (``CHILD_FROM_BYTES``) is parsed by a child process that streams its locations
(``locations.file_stream``); a small one in this process (at start) or a thread (a reload).
Either way each location goes through one ``CatalogBuilder``: validated as it arrives (or, on
a reload, the current catalog's object kept when its ``content_key`` did not change: no copy,
no pydantic work), checked against the ones before it (no OCPP target claimed twice) and
indexed. So at start the validation runs while the child still parses, and neither the parsed
file nor a second copy of the locations is ever alive; on a reload the event loop does its
part in slices (``config_apply.Yielder``) and goes on serving chargers and partners.

Whatever is wrong with the file, the refusal is the one a start in this process words
(``catalog.parse_locations``, places named by ids): when the stream finds a problem, the file is
read again here for the message. The catalog a reload returns is read by nobody before the
publisher swaps it in.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

from pydantic import ValidationError

from ocpi_gateway.domain.operator_file import read_yaml
from ocpi_gateway.locations.catalog import (
    LocationsCatalog,
    LocationsCheck,
    LocationsConfigError,
    duplicate_ids,
    parse_locations,
)
from ocpi_gateway.locations.file_stream import (
    ChildFailed,
    ChildStream,
    Record,
    content_key,
    frame_of,
)
from ocpi_gateway.locations.models import OperatorLocation, OperatorLocations

CHILD_FROM_BYTES = 2_000_000
"""File size from which the file is parsed in a child process (about 800 locations): below,
this process (or a thread) costs little and spares a second interpreter's start."""
CHECK_CHUNK = 500
"""Locations given to another file's check (``LocationsCheck``) at a time."""

Pause = Callable[[], Awaitable[None]]


class _Whole(Exception):
    """The stream cannot give this file: read it whole in this process."""


class _Received:
    """What the child's frames said so far."""

    def __init__(self) -> None:
        self.root: Mapping[Any, Any] = {}
        self.ended = False

    def records(self, data: bytes) -> list[Record]:
        frame = frame_of(data)
        if frame[0] == "records":
            return frame[1]
        if frame[0] == "root":
            self.root = frame[1]
        elif frame[0] == "whole":
            raise _Whole(frame[1])
        else:
            self.ended = True
        return []


class CatalogBuilder:
    """A catalog built a location at a time, in the file's order; ``current`` (a reload) lends
    the objects of the locations whose key it already has."""

    def __init__(self, source: Path, checks: Sequence[LocationsCheck] = (),
                 current: LocationsCatalog | None = None) -> None:
        self.catalog = LocationsCatalog([], source, checks)
        self.locations: list[OperatorLocation] = []
        self._current = current
        self._ids: Counter[str] = Counter()
        self._conflict: str | None = None

    def add(self, record: Record, validated: OperatorLocation | None = None) -> None:
        """Raises ValidationError when the location is invalid."""
        location_id, key, item = record
        if item is None:
            location = self._current.get(location_id) if self._current is not None else None
            if location is None:  # the child named a location the current catalog lacks
                raise LocationsConfigError(
                    f"{self.catalog.source}: location {location_id!r}: read again without its "
                    "data; reload once more")
        else:
            location = validated or OperatorLocation.model_validate(item)
        self._ids[location.id.upper()] += 1
        self._conflict = self._conflict or self.catalog.claimed(location)
        self.catalog.add(location)
        self.catalog.keys[location.id] = key
        self.locations.append(location)

    def finish(self, root: Mapping[Any, Any]) -> LocationsCatalog:
        """The catalog, once every location was added; ``root``: the file's other keys.
        Raises ValidationError or LocationsConfigError as ``parse_locations`` would."""
        OperatorLocations.model_validate({**root, "locations": []})
        source = self.catalog.source
        assert source is not None
        dupes = duplicate_ids(source, self._ids)
        if dupes is not None:
            raise LocationsConfigError(dupes)
        if self._conflict is not None:
            raise LocationsConfigError(self._conflict)
        return self.catalog


def refuse(path: Path) -> NoReturn:
    """The message of a start in this process for what is wrong with ``path``."""
    parse_locations(read_yaml(path, LocationsConfigError), path)
    raise LocationsConfigError(f"{path}: not a list of locations")


def _is_big(path: Path, child_from: int | None) -> bool:
    try:
        return path.stat().st_size >= (CHILD_FROM_BYTES if child_from is None else child_from)
    except OSError:
        return False  # read_yaml names the problem


# -- at start ------------------------------------------------------------------------------

def read_catalog(path: Path, checks: Sequence[LocationsCheck] = (), *,
                 child_from: int | None = None) -> LocationsCatalog:
    """The catalog of ``path`` (as ``LocationsCatalog.from_file``), a big file streamed from a
    child process; raises LocationsConfigError."""
    if not _is_big(path, child_from):
        return LocationsCatalog.from_file(path, checks)
    builder = CatalogBuilder(path, checks)
    child = ChildStream.start(path, {})
    try:
        root = _take(child, builder)
    except ChildFailed as exc:
        raise LocationsConfigError(f"{path}: {exc}") from exc
    except _Whole:
        return LocationsCatalog.from_file(path, checks)
    except ValidationError:
        refuse(path)
    finally:
        child.close()
    try:
        catalog = builder.finish(root)
    except ValidationError:
        refuse(path)
    for check in checks:
        check(builder.locations, path)
    return catalog


def _take(child: ChildStream, builder: CatalogBuilder) -> Mapping[Any, Any]:
    received = _Received()
    while not received.ended:
        for record in received.records(child.next_frame()):
            builder.add(record)
    return received.root


# -- on a reload ---------------------------------------------------------------------------

@dataclass(slots=True)
class Changes:
    """What a read in a thread found: every location of the file in order, the changed ones
    with their data, already validated."""

    records: list[Record] = field(default_factory=list)
    validated: dict[str, OperatorLocation] = field(default_factory=dict)
    root: dict[Any, Any] = field(default_factory=dict)


def changes(path: Path, known: Mapping[str, bytes]
            ) -> Iterator[tuple[str, bytes, Any, OperatorLocation | None]]:
    """Every location of ``path`` in the file's order, with its data and validated object when
    its key is not the one ``known`` has for its id; raises LocationsConfigError as
    ``parse_locations`` would."""
    raw = read_yaml(path, LocationsConfigError)
    if raw is None:
        raw = {}
    items = raw.get("locations", []) if isinstance(raw, dict) else None
    if not isinstance(items, list):
        refuse(path)
    try:
        OperatorLocations.model_validate({**raw, "locations": []})  # the other root keys
        for item in items:
            key = content_key(item)
            location_id = item.get("id") if isinstance(item, dict) else None
            if isinstance(location_id, str) and known.get(location_id) == key:
                yield location_id, key, None, None
                continue
            location = OperatorLocation.model_validate(item)
            yield location.id, key, item, location
    except ValidationError:
        refuse(path)


def read_in_thread(path: Path, known: Mapping[str, bytes]) -> Changes:
    found = Changes()
    for location_id, key, item, location in changes(path, known):
        found.records.append((location_id, key, item))
        if location is not None:
            found.validated[location_id] = location
    return found


async def reread(current: LocationsCatalog, pause: Pause, *,
                 child_from: int | None = None) -> LocationsCatalog:
    """The catalog the file now holds, sharing ``current``'s objects for the locations that
    did not change; raises LocationsConfigError (and keeps ``current``) as a start would."""
    path = current.source
    if path is None:
        return current
    builder = CatalogBuilder(path, current.checks, current)
    try:
        if _is_big(path, child_from):
            try:
                root = await _take_from_child(path, current.keys, builder, pause)
            except _Whole:
                builder = CatalogBuilder(path, current.checks, current)
                root = await _take_from_thread(path, current.keys, builder, pause)
        else:
            root = await _take_from_thread(path, current.keys, builder, pause)
        await pause()
        catalog = builder.finish(root)
    except ValidationError:
        await asyncio.to_thread(refuse, path)
    await _check(catalog, builder.locations, pause)
    return catalog


async def _take_from_thread(path: Path, known: Mapping[str, bytes], builder: CatalogBuilder,
                            pause: Pause) -> Mapping[Any, Any]:
    found = await asyncio.to_thread(read_in_thread, path, known)
    for record in found.records:
        builder.add(record, found.validated.get(record[0]))
        await pause()
    return {}  # changes() validated the other root keys


async def _take_from_child(path: Path, known: Mapping[str, bytes], builder: CatalogBuilder,
                           pause: Pause) -> Mapping[Any, Any]:
    # Starting a process waits until it has exec'd (on a busy machine, a scheduling round of
    # the child's), and its pipe is read without holding the GIL: both in a thread. A frame
    # is unpickled here, one location validated at a time between pauses.
    child = await asyncio.to_thread(ChildStream.start, path, known)
    received = _Received()
    try:
        while not received.ended:
            for record in received.records(await asyncio.to_thread(child.next_frame)):
                builder.add(record)
                await pause()
        return received.root
    except ChildFailed as exc:
        raise LocationsConfigError(f"{path}: {exc}") from exc
    finally:
        await asyncio.to_thread(child.close)


async def _check(catalog: LocationsCatalog, locations: list[OperatorLocation],
                 pause: Pause) -> None:
    """The other files' checks, a chunk at a time; their problems joined as one check of all
    (each check names a problem per line, location by location)."""
    for check in catalog.checks:
        problems: list[str] = []
        first: Exception | None = None
        for start in range(0, max(len(locations), 1), CHECK_CHUNK):
            try:
                check(locations[start:start + CHECK_CHUNK], catalog.source)
            except Exception as exc:
                first = first or exc
                problems.append(str(exc))
            await pause()
        if first is not None:
            if len(problems) == 1:
                raise first
            raise type(first)("\n".join(problems))


