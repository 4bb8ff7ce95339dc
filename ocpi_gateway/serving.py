"""``ocpi-gateway serve``: start the application, say where it listens, stop it cleanly.

What an operator sees at start: one line per problem and a non-zero exit when Redis or the
store cannot be reached (or a wait, with ``startup_wait_seconds``), and the URLs to use once
the port is bound, not before.
"""

from __future__ import annotations

import asyncio
import dataclasses
import gc
import logging
import signal
import sqlite3
import ssl
import sys
from collections.abc import Callable
from datetime import datetime
from typing import TextIO

import structlog
from aiohttp import web
from pymongo.errors import PyMongoError
from redis.exceptions import RedisError

from ocpi_gateway.config import ConfigError, GatewaySettings, environment_warnings
from ocpi_gateway.config_check.consistency import disagreements
from ocpi_gateway.listening import StormSite
from ocpi_gateway.redis_clients import RedisTarget, open_redis
from ocpi_gateway.store import open_store
from ocpi_gateway.versions import versions_url

log = structlog.get_logger(__name__)

SHUTDOWN_SECONDS = 10.0
"""In-flight requests finish for up to this long after SIGTERM before cleanup closes the
store."""


STARTUP_FAILURES = (RedisError, PyMongoError, sqlite3.Error, OSError)


class DependencyUnavailable(Exception):
    """Redis or the store cannot be reached; the message is one line an operator can act on."""


def check_app_files(app: web.Application, settings: GatewaySettings) -> list[str]:
    """What the loaded operator files contradict in each other (``config check`` for the
    files the app holds); its warnings are for ``config check`` only."""
    from ocpi_gateway.locations.extension import LOCATIONS
    from ocpi_gateway.ocpp_wiring import CHARGERS
    from ocpi_gateway.reservations.extension import POLICY

    if LOCATIONS not in app or settings.locations_file is None:
        return []
    chargers = app.get(CHARGERS) if settings.chargers_file is not None else None
    policy = app[POLICY].current() if POLICY in app and settings.policy_file else None
    found = disagreements(app[LOCATIONS].catalog.locations(), settings.locations_file,
                          chargers=chargers, chargers_file=settings.chargers_file,
                          policy=policy, policy_file=settings.policy_file)
    return found.errors


async def wait_for_dependencies(settings: GatewaySettings, *,
                                sleep: Callable[[float], object] = asyncio.sleep,
                                clock: Callable[[], float] | None = None) -> None:
    """Return once the store and Redis (when configured) answer; retry for up to
    ``startup_wait_seconds``, else raise DependencyUnavailable naming what is missing."""
    loop = asyncio.get_running_loop()
    now = clock or loop.time
    deadline = now() + settings.startup_wait_seconds
    delay = 0.5
    while True:
        problem = await _first_missing(settings)
        if problem is None:
            return
        if now() >= deadline:
            raise DependencyUnavailable(problem)
        log.warning("waiting_for_dependency", problem=problem, retry_in_seconds=delay)
        result = sleep(min(delay, max(deadline - now(), 0.0)))
        if asyncio.iscoroutine(result):
            await result
        delay = min(delay * 2, 5.0)


async def _first_missing(settings: GatewaySettings) -> str | None:
    store_kind = settings.store_url.split("://")[0]
    try:
        store = await open_store(settings.store_url)
    except Exception as exc:
        return f"cannot open the {store_kind} store ({_redacted(settings.store_url)}): " \
            f"{_reason(exc)}"
    try:
        if not await store.ping():
            return f"the {store_kind} store ({_redacted(settings.store_url)}) does not answer"
    finally:
        await store.close()
    target = settings.redis
    if target is None:
        return None
    quick = dataclasses.replace(target, retries=0, connect_timeout=min(target.connect_timeout,
                                                                       3.0))
    client = open_redis(quick)
    try:
        await client.ping()
    except Exception as exc:
        return f"cannot reach Redis ({_describe_redis(target)}): {_reason(exc)}"
    finally:
        await client.aclose()
    return None


def _describe_redis(target: RedisTarget) -> str:
    if target.sentinels:
        sentinels = ", ".join(f"{host}:{port}" for host, port in target.sentinels)
        return f"master {target.master!r} via Sentinels {sentinels}"
    return _redacted(target.url or "")


def _redacted(url: str) -> str:
    """The URL without its password."""
    scheme, sep, rest = url.partition("://")
    credentials, at, host = rest.rpartition("@")
    if not sep or not at:
        return url
    user = credentials.split(":", 1)[0]
    return f"{scheme}://{user}:***@{host}"


def _reason(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


def listening_lines(settings: GatewaySettings, bound: tuple[str, int],
                    app: web.Application) -> list[str]:
    """What ``serve`` prints once the port is bound: the address, and the URLs partners,
    chargers and operators use (from ``public_url``)."""
    host, port = bound
    scheme = "https" if settings.listen.tls_cert_file is not None else "http"
    public = settings.public_url.rstrip("/")
    ws_public = public.replace("https://", "wss://", 1).replace("http://", "ws://", 1)
    lines = [f"ocpi-gateway listening on {scheme}://{_host(host)}:{port}",
             f"  OCPI versions: {versions_url(settings.public_url)}",
             f"  OCPP:          {ws_public}/ocpp/<charge point id>"]
    paths = {resource.canonical for resource in app.router.resources()}
    if "/console" in paths:
        lines.append(f"  console:       {public}/console")
    if "/admin/api/docs" in paths:
        lines.append(f"  admin API:     {public}/admin/api/docs")
    if settings.metrics.listen is not None:
        lines.append(f"  metrics:       http://{_host(settings.metrics.listen.host)}:"
                     f"{settings.metrics.listen.port}/metrics")
    elif "/metrics" in paths:
        lines.append(f"  metrics:       {public}/metrics")
    lines.append("  health:        " + f"{public}/health, {public}/ready")
    return lines


def _host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def serve(settings: GatewaySettings, *, out: TextIO = sys.stdout,
          clock: Callable[[], datetime] | None = None) -> int:
    """Run until SIGINT/SIGTERM; 1 when a dependency is missing or the port is taken.
    ``clock``: the application's time (``keys.CLOCK``; the wall clock when None), for tests
    that restart a real process on time they move."""
    from ocpi_gateway.app import create_app
    from ocpi_gateway.logging import configure_logging

    configure_logging(settings.log_level, settings.log_format)
    for warning in environment_warnings():
        log.warning("unknown_environment_variable", problem=warning)
    app = create_app(settings) if clock is None else create_app(settings, clock=clock)
    errors = check_app_files(app, settings)
    if errors:
        raise ConfigError("\n".join(errors))
    try:
        return asyncio.run(_run(app, settings, out))
    except DependencyUnavailable as exc:
        print(f"ocpi-gateway: {exc}", file=sys.stderr)
        return 1


async def _run(app: web.Application, settings: GatewaySettings, out: TextIO) -> int:
    await wait_for_dependencies(settings)
    from ocpi_gateway.access_log import access_logger_class

    runner = web.AppRunner(app, access_log_class=access_logger_class(),
                           access_log=logging.getLogger("ocpi_gateway.access")
                           if settings.access_log else None,
                           shutdown_timeout=SHUTDOWN_SECONDS)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        try:
            await runner.setup()
        except STARTUP_FAILURES as exc:
            # Reachable a moment ago (wait_for_dependencies), gone now: still one line.
            print(f"ocpi-gateway: startup failed: {_reason(exc)}", file=sys.stderr)
            return 1
        # A restart storm: a deep kernel queue, drained in small batches (listening.py).
        site = StormSite(runner, settings.listen.host, settings.listen.port,
                         ssl_context=_tls(settings), shutdown_timeout=SHUTDOWN_SECONDS)
        try:
            await site.start()
        except OSError as exc:
            print(f"ocpi-gateway: cannot listen on {settings.listen.host}:"
                  f"{settings.listen.port}: {exc.strerror or exc}", file=sys.stderr)
            return 1
        freeze_startup_heap()
        bound = _bound_address(runner, settings)
        for line in listening_lines(settings, bound, app):
            print(line, file=out, flush=True)
        log.info("gateway_started", listen=f"{bound[0]}:{bound[1]}",
                 public_url=settings.public_url, store=settings.store_url.split("://")[0],
                 redis=settings.redis_mode.value if settings.redis is not None else None)
        await stop.wait()
        log.info("gateway_stopping")
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)
        await runner.cleanup()
    return 0


def freeze_startup_heap() -> None:
    """What startup built (modules, the catalog, the operator files) lives as long as the
    process: move it out of the garbage collector's sight. A full collection otherwise scans
    it again each time the heap grew by a quarter, which a reconnect storm does several times
    (each pass held the event loop for 0.3 s of CPU with 5,000 chargers, more with a big
    catalog: docs/decisions.md, "Restart storms")."""
    gc.collect()
    gc.freeze()


def _bound_address(runner: web.AppRunner, settings: GatewaySettings) -> tuple[str, int]:
    for address in runner.addresses:
        if isinstance(address, tuple) and len(address) >= 2:
            return str(address[0]), int(address[1])
    return settings.listen.host, settings.listen.port


def _tls(settings: GatewaySettings) -> ssl.SSLContext | None:
    listen = settings.listen
    if listen.tls_cert_file is None or listen.tls_key_file is None:
        return None
    from ocpi_gateway.ocpp_adapter.handshake import server_ssl_context

    return server_ssl_context(str(listen.tls_cert_file), str(listen.tls_key_file))
