"""Every use the adapter makes of the ``ocpp`` package's internals, and nothing else.

The rest of the adapter uses the package's public API (``ChargePoint.call``, ``@on``, the typed
call / call_result dataclasses, the exceptions). The private pieces below are what let
:class:`ocpp_adapter.session.OcppSession` dispatch inbound CALLs itself at half the CPU
(docs/ocpp.md). ``pyproject.toml`` pins ``ocpp`` to the minor version they were written
against; tests/ocpp/test_ocpp_internals_contract.py checks each assumption, numbered as here,
against the installed release, so that a new release breaks the build instead of the chargers:

1. ``ocpp.messages.ASYNC_VALIDATION`` is a module flag that ``validate_payload`` reads at each
   call; False validates in the caller instead of the default thread pool.
2. ``ChargePoint.__init__(id, connection, response_timeout, logger)`` assigns ``route_map`` and
   ``_response_queue`` on the instance; ``call()`` sends through ``_send``, holds ``_call_lock``
   while it waits and takes the answer from ``_response_queue``; ``_connection`` is the
   connection given; ``_ocpp_version`` names the version ("1.6", "2.0.1").
3. ``routing.create_route_map(obj)`` maps each ``@on`` action to ``{"_on_action": <bound
   handler>, ...}``; ``on(action, skip_schema_validation=...)`` marks a handler.
4. ``charge_point.camel_to_snake_case`` / ``snake_to_camel_case`` convert a dict's keys.
5. The JSON schemas lie in the package at ``v16/schemas/<Action>.json`` and
   ``v201/schemas/<Action>Request.json``.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import ocpp
import ocpp.messages
from ocpp.charge_point import ChargePoint, camel_to_snake_case, snake_to_camel_case
from ocpp.routing import create_route_map, on

_Fn = TypeVar("_Fn", bound=Callable[..., Any])

_SCHEMA_DIRS = {"1.6": "v16", "2.0.1": "v201"}


def validate_inline() -> None:
    """(1) The package validates payloads in the default thread pool. jsonschema is pure Python
    and holds the GIL, so the pool buys no parallelism, only two thread hops per message
    (docs/ocpp.md). Process-wide, as the flag is; idempotent."""
    ocpp.messages.ASYNC_VALIDATION = False


def handles(action: str) -> Callable[[_Fn], _Fn]:
    """(3) ``ocpp.routing.on`` with a type mypy can see through, the package's validation off:
    :class:`OcppSession` validates the request itself (ocpp_adapter.validation)."""
    register: Callable[[_Fn], _Fn] = on(action, skip_schema_validation=True)
    return register


@functools.lru_cache(maxsize=4096)
def snake_key(key: str) -> str:
    """(4) The package's own key conversion, memoized (its regexes cost a sixth of a message)."""
    converted: str = next(iter(camel_to_snake_case({key: None})))
    return converted


@functools.lru_cache(maxsize=4096)
def camel_key(key: str) -> str:
    converted: str = next(iter(snake_to_camel_case({key: None})))
    return converted


def request_schema_path(version: str, action: str) -> Path:
    """(5) The package's JSON schema of an inbound request."""
    name = action if version == "1.6" else f"{action}Request"
    return Path(ocpp.__file__).resolve().parent / _SCHEMA_DIRS[version] / "schemas" / f"{name}.json"


class PackageChargePoint(ChargePoint):  # type: ignore[misc]
    """(2, 3) ``ocpp.ChargePoint`` with the per-connection costs taken out, and the private
    attributes the session needs behind names of ours."""

    _route_tables: ClassVar[dict[type, dict[str, Callable[..., Any]]]] = {}

    @property
    def route_map(self) -> dict[str, Callable[..., Any]]:
        """Action → handler function (to call with the session first), computed once per class:
        the package builds one per connection, with a bound method per action."""
        cls = type(self)
        table = PackageChargePoint._route_tables.get(cls)
        if table is None:
            table = {
                action: hooks["_on_action"].__func__
                for action, hooks in create_route_map(self).items()
                if "_on_action" in hooks
            }
            PackageChargePoint._route_tables[cls] = table
        return table

    @route_map.setter
    def route_map(self, value: object) -> None:
        """The package's __init__ assigns a per-instance map; the property replaces it."""

    # An asyncio.Queue costs ~1.5 KB; most connections are idle and never get a command.
    @property
    def _response_queue(self) -> asyncio.Queue[Any]:
        queue: asyncio.Queue[Any] | None = self.__dict__.get("_responses")
        if queue is None:
            queue = self.__dict__["_responses"] = asyncio.Queue()
        return queue

    @_response_queue.setter
    def _response_queue(self, value: object) -> None:
        """Ignored: the queue is made on first use."""

    @property
    def package_connection(self) -> Any:
        """The connection object given to ``__init__``."""
        return self._connection

    @property
    def schema_version(self) -> str:
        """"1.6" or "2.0.1", as the package names the version of its schemas."""
        version: str = self._ocpp_version
        return version

    def awaiting_response(self) -> bool:
        """A ``call()`` is waiting for the charger's answer."""
        locked: bool = self._call_lock.locked()
        return locked

    def deliver_response(self, message: Any) -> None:
        """Hand a CALLRESULT/CALLERROR to the waiting ``call()``."""
        self._response_queue.put_nowait(message)

    async def send_frame(self, frame: str) -> None:
        """Send one serialized frame the way the package does (wire log, then the connection)."""
        await self._send(frame)
