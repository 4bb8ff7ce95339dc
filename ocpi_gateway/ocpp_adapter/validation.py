"""Schema validation of inbound CALLs with compiled validators.

The ``ocpp`` package validates with ``jsonschema``, about half of an inbound message's CPU time.
We validate inbound requests against the package's own schema files with ``fastjsonschema``
(compiled once per action), and the errors map to the same CALLERROR codes the package uses.
Like the package, ``format`` is not enforced: chargers' timestamps are too often sloppy to
refuse a status report over it (we parse them leniently instead).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import fastjsonschema  # type: ignore[import-untyped]
import orjson
from ocpp.exceptions import (
    FormatViolationError,
    OCPPError,
    ProtocolError,
    TypeConstraintViolationError,
)
from ocpp.exceptions import (
    NotImplementedError as OcppNotImplementedError,
)

from ocpi_gateway.ocpp_adapter.ocpp_internals import request_schema_path

_LENIENT_FORMATS: dict[str, Callable[[str], bool]] = {
    "date-time": lambda value: True,
    "uri": lambda value: True,
}


@functools.cache
def _validator(version: str, action: str) -> Callable[[Any], Any] | None:
    path = request_schema_path(version, action)
    try:
        schema = orjson.loads(path.read_bytes().removeprefix(b"\xef\xbb\xbf"))
    except (OSError, orjson.JSONDecodeError):
        return None
    compiled: Callable[[Any], Any] = fastjsonschema.compile(schema, formats=_LENIENT_FORMATS)
    return compiled


def validate_request(version: str, action: str, payload: dict[str, Any]) -> None:
    """Raise the OCPPError the package would for a payload its schema refuses."""
    validator = _validator(version, action)
    if validator is None:
        raise OcppNotImplementedError(details={"cause": f"no schema for {action}"})
    try:
        validator(payload)
    except fastjsonschema.JsonSchemaValueException as exc:
        raise _error_for(exc) from exc


def _error_for(exc: fastjsonschema.JsonSchemaValueException) -> OCPPError:
    details = {"cause": exc.message}
    if exc.rule in ("type", "maxLength"):
        return TypeConstraintViolationError(details=details)
    if exc.rule == "required":
        return ProtocolError(details=details)
    return FormatViolationError(details=details)
