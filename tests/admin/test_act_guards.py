"""Every act of the admin API, whatever it does, is refused the same three ways: a stranger
(401), a viewer (403, audit-logged), a browser session without its CSRF token (403). New acts
are covered by being in the operation table."""

from __future__ import annotations

import re
from collections.abc import Callable

from ocpi_gateway import keys
from ocpi_gateway.admin.api import operations
from ocpi_gateway.admin.audit import COLLECTION as AUDIT
from ocpi_gateway.admin.operators import Role
from tests.admin.support import AdminClient
from tests.peers.gateway import RunningGateway

MakeClient = Callable[..., AdminClient]
ACTS = [op for op in operations() if op.action is not None and op.role is Role.OPERATOR]


def _concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "X", path)


def test_the_acts_of_the_issue_are_operator_acts() -> None:
    acts = {op.action for op in ACTS}
    assert {"cancel_reservation", "move_reservation", "extend_reservation", "cancel_booking",
            "move_booking", "extend_booking", "retry_dead_letter", "drop_dead_letter",
            "reload_files"} <= acts


async def test_every_act_is_refused_to_strangers_viewers_and_forged_requests(
        gateway: RunningGateway, new_client: MakeClient) -> None:
    stranger, viewer, browser = new_client(), new_client(), new_client()
    assert (await viewer.login("victor")).status == 200
    assert (await browser.login("alice")).status == 200
    for op in ACTS:
        path = _concrete(op.path)
        answer = await stranger.raw(op.method, path, json={})
        assert answer.status == 401, (op.path, answer)
        answer = await viewer.call(op.method, path, json={})
        assert (answer.status, answer.body["error"]) == (403, "forbidden"), (op.path, answer)
        answer = await browser.raw(op.method, path, json={}, send_csrf=False)
        assert (answer.status, answer.body["error"]) == (403, "csrf"), (op.path, answer)
    entries = await gateway.app[keys.STORE].find(AUDIT, {"outcome": "refused: forbidden"})
    assert sorted(e["action"] for e in entries) == sorted(op.action for op in ACTS)
    assert {e["operator"] for e in entries} == {"victor"}
    done = await gateway.app[keys.STORE].find(AUDIT, {"outcome": "ok"})
    assert {e["action"] for e in done} == {"login"}
