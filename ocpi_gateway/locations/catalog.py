"""The operator's locations read from YAML, indexed both ways between EVSEs and chargers.

Other parts (Commands, the reservation policy) call this read model; it knows nothing of live
status, which ``LocationsPublisher`` adds.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path

from pydantic import ValidationError

from ocpi_gateway.domain.ids import ChargerAddress
from ocpi_gateway.domain.operator_file import (
    ItemNames,
    OperatorFileError,
    describe_validation_error,
    read_yaml,
)
from ocpi_gateway.locations.file_stream import content_key
from ocpi_gateway.locations.models import OperatorEvse, OperatorLocation, OperatorLocations


class LocationsConfigError(OperatorFileError):
    """The locations file is unreadable or invalid: each line names file, location and field."""


ITEM_NAMES = {"locations": ItemNames("location", inner={"evses": "uid"})}


def _describe(source: Path | str, raw: object, exc: ValidationError) -> str:
    return describe_validation_error(source, raw, exc, model=OperatorLocations, items=ITEM_NAMES)


VALIDATION_CHUNK = 50
"""Locations validated per pydantic call: one call holds the GIL throughout, and a reload
validates in a thread beside the event loop, which must not wait for 10,000 at once."""


def _validate(raw: object) -> OperatorLocations:
    items = raw.get("locations") if isinstance(raw, dict) else None
    if not isinstance(raw, dict) or not isinstance(items, list) or (
            len(items) <= VALIDATION_CHUNK):
        return OperatorLocations.model_validate(raw)
    try:
        OperatorLocations.model_validate({**raw, "locations": []})  # the other root keys
        locations: list[OperatorLocation] = []
        for start in range(0, len(items), VALIDATION_CHUNK):
            chunk = {"locations": items[start:start + VALIDATION_CHUNK]}
            locations.extend(OperatorLocations.model_validate(chunk).locations)
    except ValidationError:
        # Errors are reported with their place in the whole file: validate it whole.
        return OperatorLocations.model_validate(raw)
    return OperatorLocations.model_construct(locations=locations)


def parse_locations(raw: object, source: Path | str = "<locations>") -> list[OperatorLocation]:
    if raw is None:
        raw = {}
    try:
        parsed = _validate(raw)
    except ValidationError as exc:
        raise LocationsConfigError(_describe(source, raw, exc)) from exc
    dupes = duplicate_ids(source, Counter(loc.id.upper() for loc in parsed.locations))
    if dupes is not None:
        raise LocationsConfigError(dupes)
    _check_charger_mapping(source, parsed.locations)
    return list(parsed.locations)


def _mapping_conflict(source: Path | str, location: OperatorLocation, evse: OperatorEvse,
                      key: tuple[str, int | None, int | None], other: tuple[str, str]) -> str:
    return (f"{source}: location {location.id!r}: evses[{evse.uid}].charge_point_id:"
            f" {key[0]} evse {key[1]} connector {key[2]} is already EVSE"
            f" {other[1]!r} of location {other[0]!r}")


def duplicate_ids(source: Path | str, ids: Counter[str]) -> str | None:
    """``ids``: the locations' ids upper-cased, counted; the error naming each repeated one."""
    dupes = sorted(i for i, n in ids.items() if n > 1)
    if not dupes:
        return None
    return "\n".join(
        f"{source}: location {dupe!r}: id: appears {ids[dupe]} times (ids are compared "
        "without regard to case)" for dupe in dupes)


def _check_charger_mapping(source: Path | str, locations: Iterable[OperatorLocation]) -> None:
    """Two EVSEs must never claim the same OCPP evse/connector of a charger."""
    seen: dict[tuple[str, int | None, int | None], tuple[str, str]] = {}
    for location in locations:
        for evse in location.evses:
            keys: list[tuple[str, int | None, int | None]]
            if evse.ocpp_evse_id is not None:
                keys = [(evse.charge_point_id, evse.ocpp_evse_id, None)]
            else:
                keys = [(evse.charge_point_id, None, c.ocpp_connector_id)
                        for c in evse.connectors]
            for key in keys:
                if key in seen:
                    raise LocationsConfigError(
                        _mapping_conflict(source, location, evse, key, seen[key]))
                seen[key] = (location.id, evse.uid)


def load_locations_file(path: Path | str) -> list[OperatorLocation]:
    return read_locations_file(path)[0]


def read_locations_file(path: Path | str) -> tuple[list[OperatorLocation], dict[str, bytes]]:
    """The file's locations and each one's ``content_key``."""
    source = Path(path)
    raw = read_yaml(source, LocationsConfigError)
    locations = parse_locations(raw, source)
    items = raw.get("locations") if isinstance(raw, dict) else None
    keys = {location.id: content_key(item)
            for location, item in zip(locations, items or (), strict=True)}
    return locations, keys


LocationsCheck = Callable[[Sequence[OperatorLocation], Path | None], None]
"""A check another operator file makes of the locations (e.g. that every connector's
``tariff_ids`` are known); raises LocationsConfigError naming what is wrong."""


class LocationsCatalog:
    """Immutable snapshot of the operator's locations; ``reload`` returns a new one."""

    def __init__(self, locations: Iterable[OperatorLocation], source: Path | None = None,
                 checks: Sequence[LocationsCheck] = (),
                 keys: Mapping[str, bytes] | None = None) -> None:
        self.source = source
        self.checks: tuple[LocationsCheck, ...] = tuple(checks)
        self.keys: dict[str, bytes] = dict(keys or {})
        """Location id → ``content_key`` of what the file said (none for one built in code)."""
        self._locations: dict[str, OperatorLocation] = {}
        self._evses: dict[tuple[str, str], OperatorEvse] = {}
        self._by_ocpp201: dict[tuple[str, int], tuple[str, str]] = {}
        self._by_ocpp16: dict[tuple[str, int], tuple[str, str]] = {}
        self._by_charger: dict[str, list[tuple[str, str]]] = {}
        self._location_ids: dict[str, str] = {}
        self._evse_uids: dict[tuple[str, str], str] = {}
        for location in locations:
            self.add(location)

    def add(self, location: OperatorLocation) -> None:
        """Index one more location: only while the catalog is being built (``__init__``,
        ``locations.reread``), before anyone reads it."""
        self._locations[location.id] = location
        self._location_ids[location.id.casefold()] = location.id
        for evse in location.evses:
            key = (location.id, evse.uid)
            self._evses[key] = evse
            self._evse_uids[(location.id, evse.uid.casefold())] = evse.uid
            self._by_charger.setdefault(evse.charge_point_id, []).append(key)
            if evse.ocpp_evse_id is not None:
                self._by_ocpp201[(evse.charge_point_id, evse.ocpp_evse_id)] = key
            else:
                for connector in evse.connectors:
                    assert connector.ocpp_connector_id is not None  # model-validated
                    self._by_ocpp16[(evse.charge_point_id, connector.ocpp_connector_id)] = key

    def claimed(self, location: OperatorLocation) -> str | None:
        """Before ``add``: the error naming an OCPP evse/connector of ``location`` that an EVSE
        already added claims (as ``parse_locations`` words it), else None. Read from the
        indexes: a reload checks 40,000 EVSEs without a second map of them to free."""
        source = self.source or "<locations>"
        for evse in location.evses:
            if evse.ocpp_evse_id is not None:
                other = self._by_ocpp201.get((evse.charge_point_id, evse.ocpp_evse_id))
                if other is not None:
                    return _mapping_conflict(source, location, evse, (
                        evse.charge_point_id, evse.ocpp_evse_id, None), other)
                continue
            for connector in evse.connectors:
                assert connector.ocpp_connector_id is not None  # model-validated
                other = self._by_ocpp16.get((evse.charge_point_id, connector.ocpp_connector_id))
                if other is not None:
                    return _mapping_conflict(source, location, evse, (
                        evse.charge_point_id, None, connector.ocpp_connector_id), other)
        return None

    def __len__(self) -> int:
        return len(self._locations)

    @classmethod
    def from_file(cls, path: Path | str,
                  checks: Sequence[LocationsCheck] = ()) -> LocationsCatalog:
        locations, keys = read_locations_file(path)
        for check in checks:
            check(locations, Path(path))
        return cls(locations, Path(path), checks, keys)

    def add_check(self, check: LocationsCheck) -> None:
        """Run ``check`` on these locations now (raising as it does) and on every reload."""
        check(self.locations(), self.source)
        self.checks = (*self.checks, check)

    def reload(self) -> LocationsCatalog:
        """A fresh catalog from the same file; raises LocationsConfigError and keeps self."""
        if self.source is None:
            return self
        return LocationsCatalog.from_file(self.source, self.checks)

    def release_some(self, count: int) -> bool:
        """Forget up to ``count`` locations; True while some remain. Only for a catalog that
        was replaced and is no longer read (see locations.heap)."""
        for _ in range(count):
            if not self._locations:
                break
            location_id, location = self._locations.popitem()
            self._location_ids.pop(location_id.casefold(), None)
            for evse in location.evses:
                self._evses.pop((location_id, evse.uid), None)
                self._evse_uids.pop((location_id, evse.uid.casefold()), None)
        if self._locations:
            return True
        for index in (self._evses, self._by_ocpp201, self._by_ocpp16, self._by_charger,
                      self._location_ids, self._evse_uids):
            index.clear()
        return False

    def locations(self) -> list[OperatorLocation]:
        return list(self._locations.values())

    def canonical(
        self, location_id: str, evse_uid: str | None = None, connector_id: str | None = None
    ) -> tuple[str, str | None, str | None] | None:
        """The ids as the operator spelled them, for ids an eMSP sent in another case (OCPI
        ids are CiStrings); None when the location, EVSE or connector is unknown."""
        location = self._location_ids.get(location_id.casefold())
        if location is None:
            return None
        if evse_uid is None:
            return location, None, None
        evse = self._evse_uids.get((location, evse_uid.casefold()))
        if evse is None:
            return None
        if connector_id is None:
            return location, evse, None
        for connector in self._evses[(location, evse)].connectors:
            if connector.id.casefold() == connector_id.casefold():
                return location, evse, connector.id
        return None

    def get(self, location_id: str) -> OperatorLocation | None:
        return self._locations.get(location_id)

    def evse(self, location_id: str, evse_uid: str) -> OperatorEvse | None:
        return self._evses.get((location_id, evse_uid))

    def reservable_evses(self, location_id: str) -> list[str]:
        location = self._locations.get(location_id)
        return [e.uid for e in location.evses if e.reservable] if location else []

    def address_of(self, location_id: str, evse_uid: str) -> ChargerAddress | None:
        """Charger and OCPP target of an EVSE: 2.0.1 evse id, or the 1.6 connector id when the
        EVSE has exactly one connector (several 1.6 connectors in one EVSE: charger-wide)."""
        evse = self._evses.get((location_id, evse_uid))
        if evse is None:
            return None
        if evse.ocpp_evse_id is not None:
            return ChargerAddress(evse.charge_point_id, evse.ocpp_evse_id, None)
        connector_id = evse.connectors[0].ocpp_connector_id if len(evse.connectors) == 1 else None
        return ChargerAddress(evse.charge_point_id, None, connector_id)

    def connector_address(
        self, location_id: str, evse_uid: str, connector_id: str
    ) -> ChargerAddress | None:
        """OCPP target of one OCPI connector (for StartSession/Unlock with connector_id)."""
        evse = self._evses.get((location_id, evse_uid))
        if evse is None:
            return None
        for connector in evse.connectors:
            if connector.id == connector_id:
                if evse.ocpp_evse_id is not None:
                    return ChargerAddress(evse.charge_point_id, evse.ocpp_evse_id,
                                          connector.ocpp_connector_id or 1)
                return ChargerAddress(evse.charge_point_id, None, connector.ocpp_connector_id)
        return None

    def evse_at(
        self, charge_point_id: str, evse_id: int | None, connector_id: int | None
    ) -> tuple[str, str] | None:
        """(location_id, evse_uid) of what a charger reports about; None if unpublished."""
        if evse_id is not None:
            return self._by_ocpp201.get((charge_point_id, evse_id))
        if connector_id is not None:
            return self._by_ocpp16.get((charge_point_id, connector_id))
        return None

    def connector_of(
        self, charge_point_id: str, evse_id: int | None, connector_id: int | None
    ) -> str | None:
        """The OCPI connector id an OCPP (evse, connector) report is about."""
        found = self.evse_at(charge_point_id, evse_id, connector_id)
        if found is None:
            return None
        evse = self._evses[found]
        for connector in evse.connectors:
            if evse.ocpp_evse_id is None and connector.ocpp_connector_id == connector_id:
                return connector.id
            if evse.ocpp_evse_id is not None and (connector.ocpp_connector_id or 1) == (
                    connector_id or 1):
                return connector.id
        return None

    def evses_of_charger(self, charge_point_id: str) -> list[tuple[str, str]]:
        return list(self._by_charger.get(charge_point_id, []))
