"""The operators file (``operators_file`` in gateway.yaml): who may use the admin API.

    operators:
      - name: alice
        role: operator          # or viewer: reads only
        password_hash: scrypt$14$8$1$...   # ocpi-gateway operators hash-password

The file is read again when it changes (its modification time is looked at, at most once a
second): an operator removed, or given another role or password, is refused or re-scoped on
the next request, whatever session or token they hold.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import structlog
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ocpi_gateway.domain.operator_file import (
    ItemNames,
    OperatorFileError,
    describe_validation_error,
    read_yaml,
)

log = structlog.get_logger(__name__)


class OperatorsConfigError(OperatorFileError):
    """The operators file is unreadable or invalid; the message names the file and the key."""


class Role(StrEnum):
    VIEWER = "viewer"
    """Reads everything the API shows."""
    OPERATOR = "operator"
    """Reads, and acts: cancels, moves, retries, revokes, sends commands to chargers."""

    def allows(self, needed: Role) -> bool:
        return self is Role.OPERATOR or needed is Role.VIEWER


class OperatorAccount(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._@-]+$")
    role: Role
    password_hash: str = Field(
        min_length=1, description="ocpi-gateway operators hash-password (scrypt, as for "
        "chargers)")

    @field_validator("password_hash")
    @classmethod
    def _scrypt(cls, value: str) -> str:
        parts = value.split("$")
        if len(parts) != 6 or parts[0] != "scrypt":
            raise ValueError("not a hash made by `ocpi-gateway operators hash-password`")
        return value

    @property
    def password_fingerprint(self) -> str:
        """Changes with the password: a session or token made before a change is void."""
        return hashlib.sha256(self.password_hash.encode()).hexdigest()[:32]


class OperatorsFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    operators: list[OperatorAccount] = Field(default_factory=list)

    @field_validator("operators")
    @classmethod
    def _unique(cls, value: list[OperatorAccount]) -> list[OperatorAccount]:
        seen: set[str] = set()
        for account in value:
            if account.name.casefold() in seen:
                raise ValueError(f"operator name {account.name!r} appears twice")
            seen.add(account.name.casefold())
        return value


def load_operators(path: Path | str) -> OperatorsFile:
    raw = read_yaml(path, OperatorsConfigError, empty={})
    try:
        return OperatorsFile.model_validate(raw)
    except ValidationError as exc:
        raise OperatorsConfigError(describe_validation_error(
            path, raw, exc, model=OperatorsFile,
            items={"operators": ItemNames("operator", id_key="name")})) from exc


@dataclass(slots=True)
class _Loaded:
    accounts: dict[str, OperatorAccount]
    stamp: tuple[int, int] | None


class OperatorsSource:
    """The accounts of the operators file, re-read when the file changes. A file that became
    invalid is logged and the accounts read before stay (a typo must not lock everyone out,
    nor let anyone in)."""

    def __init__(self, path: Path | None, *, check_every: float = 1.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.path = path
        self._check_every = check_every
        self._clock = clock
        self._checked_at = clock()
        self._loaded = _Loaded({}, None)
        if path is not None:
            self._loaded = self._read(path)  # invalid at start: the start fails

    @staticmethod
    def _stamp(path: Path) -> tuple[int, int] | None:
        try:
            info = os.stat(path)
        except OSError:
            return None
        return info.st_mtime_ns, info.st_size

    def _read(self, path: Path) -> _Loaded:
        stamp = self._stamp(path)
        accounts = {a.name.casefold(): a for a in load_operators(path).operators}
        return _Loaded(accounts, stamp)

    def _refresh(self) -> None:
        if self.path is None:
            return
        now = self._clock()
        if now - self._checked_at < self._check_every:
            return
        self._checked_at = now
        if self._stamp(self.path) == self._loaded.stamp:
            return
        try:
            self._loaded = self._read(self.path)
        except OperatorsConfigError as exc:
            log.error("operators_file_refused", error=str(exc))
            self._loaded.stamp = self._stamp(self.path)  # not re-read until it changes again
            return
        log.info("operators_file_reloaded", operators=len(self._loaded.accounts))

    def get(self, name: str) -> OperatorAccount | None:
        """The account named ``name`` (case-insensitive), as the file says now."""
        self._refresh()
        return self._loaded.accounts.get(name.casefold())

    def names(self) -> list[str]:
        self._refresh()
        return sorted(a.name for a in self._loaded.accounts.values())
