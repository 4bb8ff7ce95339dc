"""The CLI's acts that only a running gateway can do (cancel a reservation or a booking,
command a charger): they are sent to its admin API with an operator's bearer token, so that
the service function the API runs is the one that runs, the charger is asked over the
websocket that instance holds, the eMSP is told by its outbox, and the act is authorised by
the operator's role and audit-logged with their name, as from the console (docs/decisions.md).

Where: ``--api-url``, else ``OCPI_GATEWAY_ADMIN_URL``, else the ``listen`` address of
gateway.yaml (the proxy does not forward /admin/, so an instance is addressed directly).
Who: the token in ``OCPI_GATEWAY_OPERATOR_TOKEN`` or in the file ``--token-file`` names
(``ocpi-gateway operators token`` makes one); never a flag, which ``ps`` would show.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import ssl
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp

from ocpi_gateway.config import load_settings

URL_ENV = "OCPI_GATEWAY_ADMIN_URL"
TOKEN_ENV = "OCPI_GATEWAY_OPERATOR_TOKEN"
TIMEOUT = 120.0
"""Seconds an act may take: a cancel waits for the charger (10 s), a move for two."""
ANY_ADDRESS = frozenset({"0.0.0.0", "::", ""})


class RemoteError(Exception):
    """One line for the operator, and the exit code: 1 refused, 2 bad input."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True, slots=True)
class Reply:
    status: int
    body: Any


def api_url(args: argparse.Namespace, environ: Mapping[str, str] = os.environ) -> str:
    given = getattr(args, "api_url", None) or environ.get(URL_ENV)
    if given:
        return str(given).rstrip("/")
    listen = load_settings(args.config).listen
    host = "127.0.0.1" if listen.host in ANY_ADDRESS else listen.host
    host = f"[{host}]" if ":" in host else host
    scheme = "https" if listen.tls_cert_file else "http"
    return f"{scheme}://{host}:{listen.port}"


def operator_token(args: argparse.Namespace, environ: Mapping[str, str] = os.environ) -> str:
    path: Path | None = getattr(args, "token_file", None)
    if path is not None:
        try:
            token = path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise RemoteError(f"--token-file {path}: {exc.strerror or exc}", 2) from exc
        if not token:
            raise RemoteError(f"--token-file {path} is empty", 2)
        return token
    token = environ.get(TOKEN_ENV, "").strip()
    if not token:
        raise RemoteError(f"no operator token: set {TOKEN_ENV} (ocpi-gateway operators token "
                          "--name NAME prints one) or give --token-file", 2)
    return token


def path_of(*parts: str) -> str:
    return "/".join(quote(part, safe="") for part in parts)


def tls(args: argparse.Namespace) -> ssl.SSLContext | bool:
    """The certificates an https gateway is checked against: the system's, or ``--ca-file``
    (a private CA, a self-signed certificate). Never unchecked: the token would go to anyone."""
    ca_file: Path | None = getattr(args, "ca_file", None)
    if ca_file is None:
        return True
    try:
        return ssl.create_default_context(cafile=str(ca_file))
    except (OSError, ssl.SSLError) as exc:
        raise RemoteError(f"--ca-file {ca_file}: {getattr(exc, 'strerror', None) or exc}",
                          2) from exc


async def _request(base: str, method: str, path: str, *, token: str | None,
                   json: Any = None, verify: ssl.SSLContext | bool = True) -> Reply:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    timeout = aiohttp.ClientTimeout(total=TIMEOUT)
    try:
        async with aiohttp.ClientSession(timeout=timeout) as http, http.request(
                method, base + path, json=json, headers=headers, ssl=verify) as response:
            body = await response.json(content_type=None) if await response.read() else None
            return Reply(response.status, body)
    except aiohttp.ClientConnectorCertificateError as exc:
        raise RemoteError(f"the certificate of {base} is not trusted here "
                          f"({exc.certificate_error}); give its CA with --ca-file") from exc
    except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
        raise RemoteError(f"no admin API answers at {base} ({type(exc).__name__}: {exc}); "
                          f"is the gateway running? (--api-url or {URL_ENV})") from exc


def call(args: argparse.Namespace, method: str, path: str, *, json: Any = None,
         token: str | None = None, authenticated: bool = True) -> Any:
    """The answer's body for a 2xx; else RemoteError with the API's own message."""
    base = api_url(args)
    if authenticated and token is None:
        token = operator_token(args)
    reply = asyncio.run(_request(base, method, path, token=token, json=json,
                                 verify=tls(args)))
    if 200 <= reply.status < 300:
        return reply.body
    body = reply.body if isinstance(reply.body, dict) else {}
    message = str(body.get("message") or f"HTTP {reply.status}")
    details = body.get("details") or []
    if details:
        message += ": " + "; ".join(str(d) for d in details)
    hint = {401: f" (a token of {TOKEN_ENV} or --token-file that the gateway knows)",
            403: " (an operator's token is needed: a viewer only reads)"}.get(
                reply.status, "") if authenticated else ""
    code = 2 if reply.status in (400, 422) else 1
    label = f"{reply.status} {body['error']}" if body.get("error") else str(reply.status)
    raise RemoteError(f"{label}: {message}{hint}", code)


def add_connection_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--api-url", help=f"the gateway instance's address (default: ${URL_ENV}, "
                        "else gateway.yaml's listen)")
    parser.add_argument("--token-file", type=Path,
                        help=f"a file holding the operator's token (default: ${TOKEN_ENV})")
    add_address_flags(parser)


def add_address_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--ca-file", type=Path, help="check an https gateway's certificate "
                        "against this CA (PEM) instead of the system's")
    parser.add_argument("--json", action="store_true", help="print what the API answers")


def guarded(run: Any) -> int:
    try:
        return int(run())
    except RemoteError as exc:
        print(exc, file=sys.stderr)
        return exc.code
