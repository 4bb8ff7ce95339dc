"""The operator's reservation policy: YAML models, effective settings, hot reload.

Precedence, from weakest to strongest: ``defaults`` < ``partners.<CC-PID>`` <
``locations.<id>`` < ``locations.<id>.partners.<CC-PID>``. A location wins over a partner
because its keys describe the site (walk-in reserve, whole-charger use); the nested form is
there for the rare per-partner-at-one-site exception.
"""

from __future__ import annotations

import os
import re
import threading
from enum import StrEnum
from pathlib import Path
from typing import Any, Self

import structlog
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from ocpi_gateway.domain.operator_file import (
    OperatorFileError,
    describe_validation_error,
    read_yaml,
)
from ocpi_gateway.reservation_policy.enforcement.terms import (
    MAX_GRACE_MINUTES,
    NoShowRate,
    NoShowRateOverride,
    NoShowStrikes,
    NoShowStrikesOverride,
)
from ocpi_gateway.reservation_policy.models import Partner

log = structlog.get_logger(__name__)

PARTNER_KEY = re.compile(r"^[A-Z]{2}-[A-Z0-9]{3}$")


class PolicyError(OperatorFileError):
    """The policy file is unreadable or invalid; each line names the file and the key."""


class OrderingRule(StrEnum):
    CONNECTOR_WANTED = "connector_wanted"
    SINGLE_CONNECTOR = "single_connector"
    LEAST_RECENTLY_RESERVED = "least_recently_reserved"
    SPREAD_ACROSS_CHARGERS = "spread_across_chargers"
    HIGHEST_POWER = "highest_power"


DEFAULT_ORDERING: tuple[OrderingRule, ...] = (
    OrderingRule.CONNECTOR_WANTED,
    OrderingRule.SINGLE_CONNECTOR,
    OrderingRule.SPREAD_ACROSS_CHARGERS,
    OrderingRule.LEAST_RECENTLY_RESERVED,
)


def _unique_rules(rules: list[OrderingRule] | None) -> list[OrderingRule] | None:
    if rules is not None and len(set(rules)) != len(rules):
        raise ValueError("a rule may appear only once")
    return rules


MAX_PROMISE_MINUTES = 24 * 60.0
"""A booking's promise (lead + slot + turnover buffer) must fit in the capacity timeline's
longest interval (``capacity.base.MAX_INTERVAL``)."""


class BookingTerms(BaseModel):
    """The terms of future bookings (the OCPI 2.3.0 Bookings module), resolved. Durations in
    minutes, fractions allowed."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = False
    max_advance_days: float = Field(default=7.0, gt=0, le=366)
    min_duration_minutes: float = Field(default=15.0, gt=0)
    max_duration_minutes: float = Field(default=240.0, gt=0)
    timeslot_increment_minutes: float = Field(default=15.0, gt=0)
    activation_lead_minutes: float = Field(default=10.0, ge=0)
    early_start_minutes: float = Field(default=5.0, ge=0)
    noshow_timeout_minutes: float = Field(default=15.0, gt=0)
    cancel_until_minutes: float = Field(default=60.0, ge=0)
    change_until_minutes: float = Field(default=60.0, ge=0)
    turnover_buffer_minutes: float = Field(default=10.0, ge=0)
    waitlist_minutes: float = Field(default=0.0, ge=0)

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.min_duration_minutes > self.max_duration_minutes:
            raise ValueError("min_duration_minutes is greater than max_duration_minutes")
        if self.timeslot_increment_minutes > self.max_duration_minutes:
            raise ValueError("timeslot_increment_minutes is greater than max_duration_minutes")
        if self.early_start_minutes > self.activation_lead_minutes:
            # Before the activation lead no EVSE is held for the booking yet.
            raise ValueError("early_start_minutes is greater than activation_lead_minutes")
        promise = (self.activation_lead_minutes + self.max_duration_minutes
                   + self.turnover_buffer_minutes)
        if promise > MAX_PROMISE_MINUTES:
            raise ValueError(
                f"activation_lead_minutes + max_duration_minutes + turnover_buffer_minutes is "
                f"{promise:g}, more than {MAX_PROMISE_MINUTES:g} (24 h)")
        return self


class BookingTermsOverride(BaseModel):
    """Any subset of the booking terms; absent keys inherit."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool | None = None
    max_advance_days: float | None = Field(default=None, gt=0, le=366)
    min_duration_minutes: float | None = Field(default=None, gt=0)
    max_duration_minutes: float | None = Field(default=None, gt=0)
    timeslot_increment_minutes: float | None = Field(default=None, gt=0)
    activation_lead_minutes: float | None = Field(default=None, ge=0)
    early_start_minutes: float | None = Field(default=None, ge=0)
    noshow_timeout_minutes: float | None = Field(default=None, gt=0)
    cancel_until_minutes: float | None = Field(default=None, ge=0)
    change_until_minutes: float | None = Field(default=None, ge=0)
    turnover_buffer_minutes: float | None = Field(default=None, ge=0)
    waitlist_minutes: float | None = Field(default=None, ge=0)


class PolicySettings(BaseModel):
    """Fully resolved settings for one (location, partner)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = True
    min_duration_minutes: float = Field(default=5.0, ge=0)
    max_duration_minutes: float = Field(default=120.0, gt=0)
    walk_in_reserve: int = Field(default=0, ge=0)
    max_concurrent_per_emsp: int | None = Field(default=None, ge=0)
    ordering: tuple[OrderingRule, ...] = DEFAULT_ORDERING
    allow_whole_charger: bool = False
    bookings: BookingTerms = BookingTerms()
    free_cancellation_minutes: float | None = Field(default=None, ge=0)
    """A reservation cancelled by the eMSP within this many minutes of being made costs
    nothing; later, the time it held the EVSE is billed (a CDR, by the tariff's RESERVATION
    elements). None: cancelling is always free."""
    grace_minutes: float = Field(default=0.0, ge=0, le=MAX_GRACE_MINUTES)
    """A reservation stays valid this long past its expiry (the charger's ReserveNow expiry
    includes it) before it counts as a no-show."""
    no_show_strikes: NoShowStrikes = NoShowStrikes()
    max_no_show_rate: NoShowRate = NoShowRate()

    @field_validator("ordering")
    @classmethod
    def _ordering_unique(cls, value: tuple[OrderingRule, ...]) -> tuple[OrderingRule, ...]:
        _unique_rules(list(value))
        return value

    @model_validator(mode="after")
    def _durations(self) -> Self:
        if self.min_duration_minutes > self.max_duration_minutes:
            raise ValueError("min_duration_minutes is greater than max_duration_minutes")
        return self


class PolicyOverride(BaseModel):
    """Any subset of the settings; absent keys inherit."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool | None = None
    min_duration_minutes: float | None = Field(default=None, ge=0)
    max_duration_minutes: float | None = Field(default=None, gt=0)
    walk_in_reserve: int | None = Field(default=None, ge=0)
    max_concurrent_per_emsp: int | None = Field(default=None, ge=0)
    ordering: list[OrderingRule] | None = None
    allow_whole_charger: bool | None = None
    bookings: BookingTermsOverride | None = None
    free_cancellation_minutes: float | None = Field(default=None, ge=0)
    grace_minutes: float | None = Field(default=None, ge=0, le=MAX_GRACE_MINUTES)
    no_show_strikes: NoShowStrikesOverride | None = None
    max_no_show_rate: NoShowRateOverride | None = None

    @field_validator("ordering")
    @classmethod
    def _ordering_unique(cls, value: list[OrderingRule] | None) -> list[OrderingRule] | None:
        return _unique_rules(value)

    def values(self) -> dict[str, Any]:
        return self.model_dump(exclude_unset=True, exclude_none=True)


SECTIONS = ("bookings", "no_show_strikes", "max_no_show_rate")
"""Keys whose value is a mapping of keys of their own, each inherited on its own."""


def _check_partner_keys(value: dict[str, Any]) -> dict[str, Any]:
    for key in value:
        if not PARTNER_KEY.match(key):
            raise ValueError(f"partner key {key!r} must be COUNTRY-PARTY, e.g. NL-ABC")
    return value


class LocationOverride(PolicyOverride):
    partners: dict[str, PolicyOverride] = {}
    reservation_only: bool | None = None
    """Walk-ins refused at this site: its chargers authorize only reserved tokens."""

    @field_validator("partners")
    @classmethod
    def _partner_keys(cls, value: dict[str, PolicyOverride]) -> dict[str, PolicyOverride]:
        return _check_partner_keys(value)


class PolicyFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    defaults: PolicySettings = PolicySettings()
    partners: dict[str, PolicyOverride] = {}
    locations: dict[str, LocationOverride] = {}
    _bookings_possible: dict[str, bool] = PrivateAttr(default_factory=dict)

    @field_validator("partners")
    @classmethod
    def _partner_keys(cls, value: dict[str, PolicyOverride]) -> dict[str, PolicyOverride]:
        return _check_partner_keys(value)

    def combination_errors(self) -> list[tuple[str, str]]:
        """(key, message) for every override that is invalid once merged with what it inherits.

        An override can break a cross-key rule (min > max) only in combination; each
        combination the file names is checked so that the error shows at ``policy check``.
        """
        errors: list[tuple[str, str]] = []
        combos: list[tuple[str | None, str | None, str]] = [
            (None, pk, f"partners.{pk}") for pk in self.partners]
        for location_id, loc in self.locations.items():
            combos.append((location_id, None, f"locations.{location_id}"))
            combos.extend((location_id, pk, f"locations.{location_id}.partners.{pk}")
                          for pk in loc.partners)
        for loc_id, partner_key, where in combos:
            try:
                self._resolve(loc_id, partner_key)
            except ValueError as exc:
                errors.append((where, str(exc)))
        return errors

    def _resolve(self, location_id: str | None, partner_key: str | None) -> PolicySettings:
        merged: dict[str, Any] = self.defaults.model_dump()
        layers: list[dict[str, Any]] = []
        if partner_key is not None and partner_key in self.partners:
            layers.append(self.partners[partner_key].values())
        loc = self.locations.get(location_id) if location_id is not None else None
        if loc is not None:
            layers.append({k: v for k, v in loc.values().items()
                           if k not in ("partners", "reservation_only")})
            if partner_key is not None and partner_key in loc.partners:
                layers.append(loc.partners[partner_key].values())
        for layer in layers:
            # The sections merge key by key: an override names only what it changes.
            sections = {name: {**merged[name], **layer.pop(name, {})} for name in SECTIONS}
            merged.update(layer, **sections)
        try:
            return PolicySettings(**merged)
        except ValidationError as exc:
            msgs = "; ".join(
                ".".join(str(part) for part in e["loc"]) + ": " * bool(e["loc"])
                + e["msg"].removeprefix("Value error, ") for e in exc.errors())
            raise ValueError(msgs) from None

    def bookings_possible(self, location_id: str) -> bool:
        """Whether any partner may book at the location: without, a reservation there needs
        no capacity check (and costs what it did before bookings existed)."""
        cached = self._bookings_possible.get(location_id)
        if cached is None:
            loc = self.locations.get(location_id)
            keys = {None, *self.partners, *(loc.partners if loc else {})}
            cached = any(self._resolve(location_id, key).bookings.enabled for key in keys)
            self._bookings_possible[location_id] = cached
        return cached

    def reservation_only(self, location_id: str) -> bool:
        loc = self.locations.get(location_id)
        return bool(loc is not None and loc.reservation_only)

    def effective(self, location_id: str, partner: Partner | None = None) -> PolicySettings:
        return self._resolve(location_id, partner.key if partner else None)


def parse_policy(raw: Any, source: Path | str = "<policy>") -> PolicyFile:
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise PolicyError(f"{source}: (top level): must be a mapping")
    try:
        policy = PolicyFile.model_validate(raw)
    except ValidationError as exc:
        raise PolicyError(describe_validation_error(source, raw, exc, model=PolicyFile)) from None
    errors = policy.combination_errors()
    if errors:
        raise PolicyError("\n".join(f"{source}: {key}: {msg}" for key, msg in errors))
    return policy


def load_policy(path: Path | str) -> PolicyFile:
    path = Path(path)
    return parse_policy(read_yaml(path, PolicyError), path)


class PolicySource:
    """The current policy, reloaded when the file's mtime changes or on ``reload()``.

    A broken edit never takes effect: the last good policy stays in force and the error is
    logged, so that an operator's typo cannot switch reservations off in production.
    """

    def __init__(self, path: Path | str | None = None, *, policy: PolicyFile | None = None
                 ) -> None:
        self._path = Path(path) if path is not None else None
        self._lock = threading.Lock()
        self._mtime: int | None = None
        if policy is not None:
            self._policy = policy
        elif self._path is not None:
            self._mtime = self._stat()
            self._policy = load_policy(self._path)
        else:
            self._policy = PolicyFile()
        self.last_error: str | None = None

    @property
    def path(self) -> Path | None:
        return self._path

    def _stat(self) -> int | None:
        if self._path is None:
            return None
        try:
            return os.stat(self._path).st_mtime_ns
        except OSError:
            return None

    def reload(self) -> PolicyFile:
        """Read the file now; raises PolicyError and keeps the old policy if it is invalid."""
        if self._path is None:
            return self._policy
        with self._lock:
            mtime = self._stat()
            try:
                policy = load_policy(self._path)
            except PolicyError as exc:
                self._mtime = mtime
                self.last_error = str(exc)
                log.error("policy_reload_failed", path=str(self._path), error=str(exc))
                raise
            self._policy, self._mtime, self.last_error = policy, mtime, None
            log.info("policy_reloaded", path=str(self._path))
            return policy

    def current(self) -> PolicyFile:
        if self._path is not None and self._stat() != self._mtime:
            try:
                self.reload()
            except PolicyError:
                pass
        return self._policy

    def effective(self, location_id: str, partner: Partner | None = None) -> PolicySettings:
        return self.current().effective(location_id, partner)

    def bookings_possible(self, location_id: str) -> bool:
        return self.current().bookings_possible(location_id)

    def reservation_only(self, location_id: str) -> bool:
        return self.current().reservation_only(location_id)
