"""Every periodic job is a ``domain.loops.BackgroundLoop`` (issue 10: one helper for the
background loops, with its logging, last-run gauge and ``/ready``): no module of the gateway
sleeps in a loop of its own, except the waits listed here, which are no periodic jobs."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "ocpi_gateway"

NOT_PERIODIC = {
    "domain/loops.py": "the helper itself",
    "serving.py": "waits for the store and Redis at startup, with a deadline",
    "ocpp_adapter/routing/redis.py": "a stream consumer backing off after a Redis error",
    "console/feed_redis.py": "a stream consumer backing off after a Redis error",
    "deliveries/engine.py": "a write retried with backoff inside one delivery",
    "demo": "the demo's simulated chargers and eMSPs, not the gateway",
}


def _sleeps_in_a_loop(tree: ast.AST) -> list[int]:
    lines = []
    for loop in ast.walk(tree):
        if not isinstance(loop, ast.While | ast.For | ast.AsyncFor):
            continue
        for node in ast.walk(loop):
            if (isinstance(node, ast.Await) and isinstance(node.value, ast.Call)
                    and isinstance(node.value.func, ast.Attribute)
                    and node.value.func.attr == "sleep"
                    and not (node.value.args and isinstance(node.value.args[0], ast.Constant)
                             and node.value.args[0].value == 0)):
                lines.append(node.lineno)
    return lines


def test_no_module_runs_a_periodic_job_of_its_own() -> None:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        name = path.relative_to(PACKAGE).as_posix()
        if any(name == allowed or name.startswith(allowed + "/") for allowed in NOT_PERIODIC):
            continue
        lines = _sleeps_in_a_loop(ast.parse(path.read_text(encoding="utf-8")))
        if lines:
            found[name] = lines
    assert found == {}


def test_the_check_sees_a_hand_written_loop() -> None:
    tree = ast.parse("async def f():\n    while True:\n        await asyncio.sleep(30)\n"
                     "        await job()\n")
    assert _sleeps_in_a_loop(tree) == [3]
    assert _sleeps_in_a_loop(ast.parse(
        "async def f():\n    while True:\n        await asyncio.sleep(0)\n")) == []
