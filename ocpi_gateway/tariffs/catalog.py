"""The operator's tariffs read from ``tariffs.yaml`` (a top-level ``tariffs:`` list of OCPI
Tariff objects, see ``models.py``), validated with errors naming file, tariff and key, and
completed for publishing: ``country_code`` / ``party_id`` default to the CPO's first party,
``last_updated`` to the file's modification time when the tariff last changed."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError

from ocpi_gateway.domain.operator_file import ItemNames, describe_validation_error, read_yaml
from ocpi_gateway.locations.catalog import LocationsConfigError
from ocpi_gateway.locations.models import OperatorLocation
from ocpi_gateway.tariffs.models import Tariff


class TariffsConfigError(LocationsConfigError):
    """The tariffs file is unreadable or invalid, or a connector names a tariff it lacks. A
    LocationsConfigError: the operator files are reloaded together, and refused together."""


class OperatorTariffs(BaseModel):
    """The root of ``tariffs.yaml``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    tariffs: list[Tariff] = []


def _describe(source: Path | str, raw: object, exc: ValidationError) -> str:
    return describe_validation_error(source, raw, exc, model=OperatorTariffs,
                                     items={"tariffs": ItemNames("tariff")})


def parse_tariffs(raw: object, source: Path | str = "<tariffs>") -> list[Tariff]:
    if raw is None:
        raw = {}
    try:
        parsed = OperatorTariffs.model_validate(raw)
    except ValidationError as exc:
        raise TariffsConfigError(_describe(source, raw, exc)) from exc
    ids = Counter(t.id.upper() for t in parsed.tariffs)  # CiString: one id in any case
    dupes = sorted(i for i, n in ids.items() if n > 1)
    if dupes:
        raise TariffsConfigError("\n".join(
            f"{source}: tariff {dupe!r}: id: appears {ids[dupe]} times (ids are compared "
            "without regard to case)" for dupe in dupes))
    return list(parsed.tariffs)


def load_tariffs_file(path: Path | str) -> tuple[list[Tariff], datetime]:
    """The tariffs and the file's modification time."""
    source = Path(path)
    raw = read_yaml(source, TariffsConfigError)
    try:
        modified = datetime.fromtimestamp(source.stat().st_mtime, UTC)
    except OSError as exc:
        raise TariffsConfigError(f"{source}: cannot read: {exc.strerror}") from exc
    return parse_tariffs(raw, source), modified


class TariffsCatalog:
    """Immutable snapshot of the published tariffs; ``reload`` returns a new one."""

    def __init__(self, tariffs: Iterable[Tariff], *, party: tuple[str, str],
                 modified: datetime, source: Path | None = None,
                 previous: TariffsCatalog | None = None) -> None:
        self.source = source
        self.party = party
        self._tariffs: dict[str, Tariff] = {}
        self._written: dict[str, Tariff] = {}  # as the operator wrote them, to spot changes
        for written in tariffs:
            self._written[written.id] = written
            last_updated = written.last_updated
            if last_updated is None:
                before = previous.get(written.id) if previous is not None else None
                unchanged = before is not None and previous is not None \
                    and previous._written.get(written.id) == written
                last_updated = before.last_updated if unchanged and before else modified
            self._tariffs[written.id] = written.model_copy(update={
                "country_code": written.country_code or party[0],
                "party_id": written.party_id or party[1],
                "last_updated": last_updated})
        self._folded = {tariff_id.casefold(): tariff_id for tariff_id in self._tariffs}
        self._order = sorted(self._tariffs.values(),
                             key=lambda t: (t.last_updated or modified, t.id))

    @classmethod
    def from_file(cls, path: Path | str, *, party: tuple[str, str],
                  previous: TariffsCatalog | None = None) -> TariffsCatalog:
        tariffs, modified = load_tariffs_file(path)
        return cls(tariffs, party=party, modified=modified, source=Path(path),
                   previous=previous)

    def reload(self) -> TariffsCatalog:
        """A fresh catalog from the same file; raises TariffsConfigError and keeps self."""
        if self.source is None:
            return self
        return TariffsCatalog.from_file(self.source, party=self.party, previous=self)

    def get(self, tariff_id: str) -> Tariff | None:
        found = self._folded.get(tariff_id.casefold())
        return self._tariffs[found] if found is not None else None

    def tariffs(self) -> list[Tariff]:
        """Every tariff, oldest ``last_updated`` first (the order pages are served in)."""
        return list(self._order)

    def visible_to(self, parties: Iterable[tuple[str, str]]) -> list[Tariff]:
        """The tariffs a partner acting for ``parties`` may see: those for everyone and those
        the operator lists one of its parties for (oldest first)."""
        names = {f"{cc}{pid}".upper() for cc, pid in parties}
        return [t for t in self._order
                if not t.partners or any(_party_key(p) in names for p in t.partners)]

    def changed_since(self, previous: TariffsCatalog) -> tuple[list[str], list[str]]:
        """(ids new or changed, ids gone) relative to ``previous``."""
        changed = [i for i, t in self._tariffs.items() if previous._tariffs.get(i) != t]
        gone = [i for i in previous._tariffs if i not in self._tariffs]
        return changed, gone

    def check_references(self, locations: Iterable[OperatorLocation],
                         source: Path | str | None) -> None:
        """Every connector's ``tariff_ids`` names a tariff of this catalog (one error
        naming every one that does not)."""
        problems = [
            f"{source or '<locations>'}: location {location.id!r}: "
            f"evses[{evse.uid}].connectors[{connector.id}].tariff_ids: "
            f"unknown tariff {tariff_id!r} (not in {self.source or 'the tariffs file'})"
            for location in locations for evse in location.evses
            for connector in evse.connectors for tariff_id in connector.tariff_ids
            if tariff_id.casefold() not in self._folded]
        if problems:
            raise TariffsConfigError("\n".join(problems))


def _party_key(name: str) -> str:
    return name.replace("*", "").replace("-", "").upper()
