"""structlog configured for JSON lines on stdout (readable lines on a terminal), with the
request's context."""

from __future__ import annotations

import logging
import sys
from typing import TextIO

import structlog

from ocpi_gateway.config import LogFormat
from ocpi_gateway.transport.log_context import merge_request_context


def configure_logging(level: str = "INFO", log_format: LogFormat = LogFormat.JSON,
                      stream: TextIO | None = None) -> None:
    """Request id, correlation id and partner come from the request's context
    (transport.log_context), then whatever was bound with structlog.contextvars. ``auto`` is
    readable on a terminal and JSON when the output goes to a file or a log collector."""
    out = sys.stdout if stream is None else stream
    numeric = logging.getLevelName(level.upper())
    if not isinstance(numeric, int):
        numeric = logging.INFO
    logging.basicConfig(format="%(message)s", stream=out, level=numeric)
    readable = log_format is LogFormat.CONSOLE or (
        log_format is LogFormat.AUTO and out.isatty())
    renderer: structlog.typing.Processor = (
        structlog.dev.ConsoleRenderer(colors=out.isatty()) if readable
        else structlog.processors.JSONRenderer())
    structlog.configure(
        processors=[
            merge_request_context,
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.StackInfoRenderer(),
            *([] if readable else [structlog.processors.format_exc_info]),
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(out),
        cache_logger_on_first_use=True,
    )
