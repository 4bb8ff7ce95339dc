"""The HTTP access log (``access_log: true`` in gateway.yaml): one structlog event per request,
in the same format as every other log line, never the Authorization header."""

from __future__ import annotations

import structlog
from aiohttp import web
from aiohttp.abc import AbstractAccessLogger

log = structlog.get_logger("ocpi_gateway.access")


class StructlogAccessLogger(AbstractAccessLogger):
    """aiohttp builds one only when ``AppRunner(access_log=...)`` names a logger; the lines go
    through structlog instead of it, so that they are JSON like the rest."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        log.info("http_request", method=request.method, path=request.path_qs,
                         status=response.status, duration_ms=round(time * 1000, 2),
                         remote=request.remote)


def access_logger_class() -> type[AbstractAccessLogger]:
    return StructlogAccessLogger
