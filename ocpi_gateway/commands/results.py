"""Sends CommandResults to the eMSP's response_url through the durable outbox.

The outbox retries with backoff; a result expires with its command's timeout (after it the
eMSP has stopped waiting), and a CPO-side CANCELED_RESERVATION gets a fixed window.
"""

from __future__ import annotations

import time

from ocpi_gateway.commands.models import CommandResult, CommandResultType, DisplayText
from ocpi_gateway.deliveries.engine import DeliveryEngine

LATE_RESULT_GRACE = 10.0
"""Seconds a result found at (or after) the deadline is still tried: a TIMEOUT result is sent
exactly when the deadline passes."""

CANCELED_RESERVATION_WINDOW = 3600.0


def result_body(result: CommandResultType, message: str | None) -> dict[str, object]:
    texts = [DisplayText(language="en", text=message[:512])] if message else []
    return CommandResult(result=result, message=texts).model_dump(mode="json")


class ResultSender:
    def __init__(self, outbox: DeliveryEngine) -> None:
        self._outbox = outbox

    async def send(self, partner_id: str, response_url: str, result: CommandResultType,
                   message: str | None, *, deadline: float,
                   headers: dict[str, str] | None = None) -> None:
        """``headers``: the OCPI routing headers (from our CPO party to the eMSP's)."""
        await self._outbox.enqueue(
            partner_id, "POST", response_url, result_body(result, message),
            ordering_key=f"command-result:{response_url}",
            expires_at=max(deadline, time.time() + LATE_RESULT_GRACE), headers=headers)

    async def send_canceled_reservation(self, partner_id: str, response_url: str,
                                        message: str,
                                        headers: dict[str, str] | None = None) -> None:
        await self.send(partner_id, response_url, CommandResultType.CANCELED_RESERVATION,
                        message, deadline=time.time() + CANCELED_RESERVATION_WINDOW,
                        headers=headers)
