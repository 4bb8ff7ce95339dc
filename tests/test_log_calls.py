"""No log call names a field ``event``: structlog's methods take the event name as their
first argument, called ``event``, so ``log.exception("x", event=...)`` raises a TypeError
where the failure was to be logged (the event bus lost its other subscribers so)."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE_ROOT = Path(__file__).resolve().parent.parent / "ocpi_gateway"
LOG_METHODS = {"debug", "info", "warning", "warn", "error", "exception", "critical", "msg",
               "fatal", "log"}


def test_no_log_call_passes_a_field_named_event() -> None:
    found = []
    for path in sorted(PACKAGE_ROOT.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                    and node.func.attr in LOG_METHODS \
                    and any(kw.arg == "event" for kw in node.keywords):
                found.append(f"{path.relative_to(PACKAGE_ROOT.parent)}:{node.lineno}")
    assert found == []
