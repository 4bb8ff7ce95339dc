"""A reload's reading of the locations file, without stalling the event loop (issue 13).

Parsing and validating 10,000 locations is seconds of CPU that, in a thread, still holds the
GIL for long slices (libyaml's events, pydantic's validation of a chunk). So:

- a big file is parsed in a child process (``python -m ocpi_gateway.locations.reread``), a
  small one in a thread; either way ``changes`` compares each location with what the current
  catalog was read from (``catalog.content_key``) and validates only those that differ, so
  that an invalid file is refused with the same messages as at start;
- the child sends, per location, its id and key, and the parsed data of the changed ones
  only, pickled (a child of our own, through a pipe: pickle keeps the parser's types, so the
  parent validates exactly what the child did), in frames of a few hundred KB;
- the event loop validates the changed locations one at a time, keeps the current catalog's
  objects for the others (no copy, no pydantic work), checks the whole (ids unique, no OCPP
  target claimed twice, the other files' checks) and indexes it, handing the loop back every
  few milliseconds (``config_apply.Yielder``). The catalog it returns is not read by anyone
  before the publisher swaps it in.
"""

from __future__ import annotations

import asyncio
import pickle
import struct
import subprocess
import sys
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, NoReturn

from pydantic import ValidationError

from ocpi_gateway.domain.operator_file import read_yaml
from ocpi_gateway.locations.catalog import (
    LocationsCatalog,
    LocationsConfigError,
    content_key,
    duplicate_ids,
    parse_locations,
)
from ocpi_gateway.locations.models import OperatorLocation, OperatorLocations

CHILD_FROM_BYTES = 2_000_000
"""File size from which a reload parses in a child process (about 800 locations): below, a
thread costs the loop little and spares a second interpreter's start."""
FRAME_BYTES = 256 * 1024
"""About how much the child sends at a time: one frame is unpickled on the loop at once."""
CHECK_CHUNK = 500
"""Locations given to another file's check (``LocationsCheck``) at a time."""

Pause = Callable[[], Awaitable[None]]
Record = tuple[str, bytes, Any]
"""(location id, content key, the parsed data when it changed, else None)."""


@dataclass(slots=True)
class Changes:
    """What a reread found: every location of the file in order, the changed ones with their
    data (and, from a thread, already validated)."""

    records: list[Record] = field(default_factory=list)
    validated: dict[str, OperatorLocation] = field(default_factory=dict)


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
        _refuse(raw, path)
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
        _refuse(raw, path)


def _refuse(raw: object, path: Path) -> NoReturn:
    # The whole file's validation words the errors as at start (places named by ids).
    parse_locations(raw, path)
    raise LocationsConfigError(f"{path}: not a list of locations")


def read_in_thread(path: Path, known: Mapping[str, bytes]) -> Changes:
    found = Changes()
    for location_id, key, item, location in changes(path, known):
        found.records.append((location_id, key, item))
        if location is not None:
            found.validated[location_id] = location
    return found


# -- the child process ---------------------------------------------------------------------

_LENGTH = struct.Struct(">I")


def _write_frame(out: BinaryIO, kind: str, payload: object) -> None:
    data = pickle.dumps((kind, payload), protocol=5)
    out.write(_LENGTH.pack(len(data)))
    out.write(data)


def child_main(stdin: BinaryIO, stdout: BinaryIO) -> None:
    path, known = pickle.loads(stdin.read())
    batch: list[Record] = []
    size = 0
    try:
        for location_id, key, item, _ in changes(Path(path), known):
            batch.append((location_id, key, item))
            size += 64 if item is None else 2048  # about what each pickles to
            if size >= FRAME_BYTES:
                _write_frame(stdout, "records", batch)
                batch, size = [], 0
    except LocationsConfigError as exc:
        _write_frame(stdout, "error", str(exc))
    else:
        _write_frame(stdout, "records", batch)
        _write_frame(stdout, "end", None)
    stdout.flush()


def _run_child(path: Path, known: Mapping[str, bytes]) -> tuple[int, bytes, bytes]:
    # In a thread: starting a process waits until it has exec'd, which on a busy machine is
    # a scheduling round of the child's, and the pipes are read without holding the GIL.
    done = subprocess.run(
        [sys.executable, "-m", "ocpi_gateway.locations.reread"],
        input=pickle.dumps((str(path), dict(known)), protocol=5), capture_output=True,
        check=False)
    return done.returncode, done.stdout, done.stderr


async def read_in_child(path: Path, known: Mapping[str, bytes], pause: Pause) -> Changes:
    code, out, err = await asyncio.to_thread(_run_child, path, known)
    found = Changes()
    at = 0
    while at + _LENGTH.size <= len(out):
        length, = _LENGTH.unpack_from(out, at)
        at += _LENGTH.size
        kind, payload = pickle.loads(out[at:at + length])
        at += length
        if kind == "error":
            raise LocationsConfigError(payload)
        if kind == "end":
            return found
        found.records.extend(payload)
        await pause()
    raise LocationsConfigError(
        f"{path}: the process reading it failed (exit {code}): "
        + err.decode(errors="replace").strip()[-2000:])


# -- the new catalog -----------------------------------------------------------------------

async def reread(current: LocationsCatalog, pause: Pause, *,
                 child_from: int | None = None) -> LocationsCatalog:
    """The catalog the file now holds, sharing ``current``'s objects for the locations that
    did not change; raises LocationsConfigError (and keeps ``current``) as a start would."""
    path = current.source
    if path is None:
        return current
    threshold = CHILD_FROM_BYTES if child_from is None else child_from
    try:
        big = path.stat().st_size >= threshold
    except OSError:
        big = False  # read_yaml names the problem
    if big:
        found = await read_in_child(path, current.keys, pause)
    else:
        found = await asyncio.to_thread(read_in_thread, path, current.keys)
    return await assemble(found, current, pause)


async def assemble(found: Changes, current: LocationsCatalog, pause: Pause) -> LocationsCatalog:
    source = current.source
    assert source is not None
    catalog = LocationsCatalog([], source, current.checks)
    ids: Counter[str] = Counter()
    conflict: str | None = None
    locations: list[OperatorLocation] = []
    for location_id, key, item in found.records:
        location = None
        if item is None:
            location = current.get(location_id)
        else:
            location = found.validated.get(location_id) or OperatorLocation.model_validate(item)
        if location is None:  # the child named a location the current catalog lacks
            raise LocationsConfigError(f"{source}: location {location_id!r}: read again "
                                       "without its data; reload once more")
        ids[location.id.upper()] += 1
        conflict = conflict or catalog.claimed(location)
        catalog.add(location)
        catalog.keys[location.id] = key
        locations.append(location)
        await pause()
    await pause()
    dupes = duplicate_ids(source, ids)
    if dupes is not None:
        raise LocationsConfigError(dupes)
    if conflict is not None:
        raise LocationsConfigError(conflict)
    await _check(catalog, locations, pause)
    return catalog


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


if __name__ == "__main__":
    child_main(sys.stdin.buffer, sys.stdout.buffer)
