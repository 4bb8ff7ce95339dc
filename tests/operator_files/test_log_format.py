"""``log_format``: readable lines on a terminal and JSON lines otherwise (``auto``, the
default), or either one always."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
import structlog

from ocpi_gateway.config import GatewaySettings, LogFormat
from ocpi_gateway.logging import configure_logging


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture(autouse=True)
def _restored() -> Iterator[None]:
    saved = structlog.get_config()
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    structlog.configure(**saved)
    root.handlers[:] = handlers
    root.setLevel(level)


def _logged(stream: io.StringIO, log_format: LogFormat) -> str:
    configure_logging("INFO", log_format, stream=stream)
    structlog.get_logger("test").info("gateway_started", listen="127.0.0.1:8080")
    return stream.getvalue().strip()


def test_auto_is_the_default() -> None:
    assert GatewaySettings.model_fields["log_format"].default is LogFormat.AUTO


def test_auto_is_readable_on_a_terminal_and_json_elsewhere() -> None:
    readable = _logged(Terminal(), LogFormat.AUTO)
    assert "gateway_started" in readable and "listen" in readable
    with pytest.raises(json.JSONDecodeError):
        json.loads(readable)
    line = json.loads(_logged(io.StringIO(), LogFormat.AUTO))
    assert (line["event"], line["listen"], line["level"]) == (
        "gateway_started", "127.0.0.1:8080", "info")


def test_json_and_console_whatever_the_output() -> None:
    assert json.loads(_logged(Terminal(), LogFormat.JSON))["event"] == "gateway_started"
    plain = _logged(io.StringIO(), LogFormat.CONSOLE)
    assert "[info" in plain and "gateway_started" in plain
    assert not plain.startswith("{") and "\x1b[" not in plain  # no colours into a file
