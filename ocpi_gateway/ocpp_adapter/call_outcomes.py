"""A command's CALL to a charger, ended: the ``CommandReply`` its answer (or its failure)
makes, for :meth:`ocpp_adapter.session.OcppSession.ask`. The ``ocpp`` package raises a
CALLERROR as ``OCPPError``, an unknown error code as ``UnknownCallErrorCodeError`` (not an
``OCPPError``), a response it cannot build as a TypeError or ValueError."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import structlog
from ocpp.exceptions import NotImplementedError as OcppNotImplementedError
from ocpp.exceptions import NotSupportedError, OCPPError, UnknownCallErrorCodeError

from ocpi_gateway.domain.charger_commands import ChargerCommand, CommandOutcome, CommandReply
from ocpi_gateway.ocpp_adapter.connection import ConnectionClosed

log = structlog.get_logger(__name__)

Answered = Callable[[ChargerCommand, Any], CommandReply]
"""The version's reply to a command from the charger's response (``OcppSession.reply``)."""


def reply_of(charge_point_id: str, command: ChargerCommand, call: asyncio.Future[Any],
             answered: Answered) -> CommandReply:
    """The reply of a call that ended (``call`` is done)."""
    kind = type(command).__name__
    try:
        response = call.result()
    except (OcppNotImplementedError, NotSupportedError) as exc:
        log.info("ocpp_command_not_supported", charge_point_id=charge_point_id, command=kind,
                 error=exc.code)
        return CommandReply(outcome=CommandOutcome.NOT_SUPPORTED, error=exc.code)
    except OCPPError as exc:
        log.warning("ocpp_command_call_error", charge_point_id=charge_point_id, command=kind,
                    error=exc.code, description=exc.description)
        return CommandReply(outcome=CommandOutcome.REJECTED, error=exc.code)
    except UnknownCallErrorCodeError as exc:
        log.warning("ocpp_command_call_error", charge_point_id=charge_point_id, command=kind,
                    error=str(exc))
        return CommandReply(outcome=CommandOutcome.REJECTED, error=str(exc)[:100])
    except TimeoutError:
        return CommandReply(outcome=CommandOutcome.TIMEOUT)
    except ConnectionClosed:
        return CommandReply(outcome=CommandOutcome.OFFLINE)
    except (TypeError, ValueError) as exc:
        # A response the schema let through but the package could not build.
        log.warning("ocpp_command_bad_response", charge_point_id=charge_point_id,
                    command=kind, error=str(exc))
        return CommandReply(outcome=CommandOutcome.REJECTED)
    return answered(command, response)


def consume(future: asyncio.Future[Any]) -> None:
    """Retrieve the outcome of an abandoned call so asyncio does not log it as lost."""
    if not future.cancelled():
        future.exception()
