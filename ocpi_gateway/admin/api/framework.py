"""The admin API's operation table: each operation names its method and path, the role it
needs, and the pydantic models of its query, body and answer. The same table mounts the
routes (parsing and checking requests with those models) and generates the OpenAPI document
(``openapi.py``), so the document cannot drift from what the routes accept and answer.

Every operation but the login ones authenticates (``access.py``) before anything else; an
operation with an ``action`` name is an action, recorded in the audit log with who did it
and how it ended, refusals included.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
import structlog
from aiohttp import web
from pydantic import BaseModel, ValidationError

from ocpi_gateway.admin.access import Access, Principal, Refusal
from ocpi_gateway.admin.audit import AuditEntry, AuditLog
from ocpi_gateway.admin.operators import Role

log = structlog.get_logger(__name__)

ACCESS: web.AppKey[Access] = web.AppKey("admin_access", Access)
AUDIT: web.AppKey[AuditLog] = web.AppKey("admin_audit", AuditLog)


class ErrorBody(BaseModel):
    """Every refusal and failure of the admin API."""

    error: str
    """A stable code: ``unauthenticated``, ``forbidden``, ``csrf``, ``rate_limited``,
    ``invalid``, ``not_found``, ``conflict``, ``unavailable``, ``internal``."""
    message: str
    details: list[str] = []


class ApiError(Exception):
    """Raised by a handler: answered with its status and an :class:`ErrorBody`."""

    def __init__(self, status: int, code: str, message: str,
                 details: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = list(details)


def not_found(what: str) -> ApiError:
    return ApiError(404, "not_found", f"no {what}")


@dataclass(frozen=True, slots=True)
class Call:
    """What a handler gets: the request, the caller and the parsed inputs."""

    request: web.Request
    principal: Principal | None
    path: dict[str, str]
    query: Any
    body: Any

    @property
    def app(self) -> web.Application:
        return self.request.app


Handler = Callable[[Call], Awaitable[BaseModel | web.StreamResponse | None]]


@dataclass(frozen=True, slots=True)
class Operation:
    method: str
    path: str
    """aiohttp's form, ``{name}`` for a path parameter."""
    handler: Handler
    summary: str
    tag: str
    role: Role | None = Role.VIEWER
    """None: answers without authentication (logging in, and nothing else)."""
    query: type[BaseModel] | None = None
    body: type[BaseModel] | None = None
    response: type[BaseModel] | None = None
    status: int = 200
    action: str | None = None
    """The audit log's name of what it does; None for a read."""
    legacy_token: bool = False
    """Also takes gateway.yaml's ``admin_token`` (only ``POST /admin/reload``)."""
    description: str = ""
    errors: tuple[int, ...] = field(default=(400, 404))
    streams: str | None = None
    """The media type of a streamed answer (``text/event-stream``): the handler prepares and
    writes it itself; ``response`` is then None."""

    @property
    def operation_id(self) -> str:
        return getattr(self.handler, "__name__", self.path).strip("_")


def _json(status: int, payload: Any, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(status=status, body=orjson.dumps(payload),
                        content_type="application/json", headers=headers)


def error_response(status: int, code: str, message: str,
                   details: Sequence[str] = ()) -> web.Response:
    headers = {"Retry-After": "60"} if status == 429 else None
    return _json(status, ErrorBody(error=code, message=message, details=list(details))
                 .model_dump(mode="json"), headers)


def _problems(exc: ValidationError, where: str) -> list[str]:
    return [f"{where}.{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" if e["loc"]
            else f"{where}: {e['msg']}" for e in exc.errors()]


async def _parse(operation: Operation, request: web.Request) -> tuple[Any, Any]:
    query = body = None
    if operation.query is not None:
        try:
            query = operation.query.model_validate(dict(request.query))
        except ValidationError as exc:
            raise ApiError(400, "invalid", "bad query parameters",
                           _problems(exc, "query")) from exc
    if operation.body is not None:
        if not request.body_exists:
            raw: Any = {}  # the defaults, when the body model has them (cancel, retry...)
        elif request.content_type != "application/json":
            raise ApiError(415, "invalid", "the body must be application/json")
        else:
            try:
                raw = orjson.loads(await request.read() or b"null")
            except orjson.JSONDecodeError as exc:
                raise ApiError(400, "invalid", f"the body is not JSON: {exc}") from exc
        try:
            body = operation.body.model_validate(raw)
        except ValidationError as exc:
            raise ApiError(400, "invalid", "bad body", _problems(exc, "body")) from exc
    return query, body


def route(operation: Operation) -> web.RouteDef:
    async def handle(request: web.Request) -> web.StreamResponse:
        access = request.app[ACCESS]
        audit = request.app[AUDIT]
        principal: Principal | None = None
        path = dict(request.match_info)
        body: Any = None
        entry: AuditEntry | None = None
        try:
            if operation.role is not None:
                principal = await access.authenticate(request, legacy=operation.legacy_token)
                if not principal.may(operation.role):
                    raise Refusal(403, "forbidden",
                                  f"{principal.name} is a {principal.role.value}; this needs "
                                  f"the {operation.role.value} role")
            query, body = await _parse(operation, request)
            structlog.contextvars.bind_contextvars(
                operator=principal.name if principal else None)
            if operation.action is not None and principal is not None:
                # Written before the action: an action whose record cannot be written is
                # not taken.
                entry = await _begin(audit, operation, principal, path, body, request)
            result = await operation.handler(Call(request, principal, path, query, body))
        except Refusal as refusal:
            await _refused(audit, operation, principal, path, body, request, entry,
                           f"refused: {refusal.code}")
            return error_response(refusal.status, refusal.code, refusal.message)
        except ApiError as exc:
            await _refused(audit, operation, principal, path, body, request, entry,
                           f"refused: {exc.code}: {exc.message}")
            return error_response(exc.status, exc.code, exc.message, exc.details)
        except Exception:
            log.exception("admin_api_failed", operation=operation.operation_id)
            await _refused(audit, operation, principal, path, body, request, entry, "failed")
            return error_response(500, "internal", "internal error")
        if isinstance(result, web.StreamResponse):
            if entry is not None:
                await _finish(audit, entry, "ok" if result.status < 400
                              else f"refused: HTTP {result.status}")
            return result
        if entry is not None:
            await _finish(audit, entry, "ok")
        if result is None:
            return web.Response(status=204)
        return _json(operation.status, result.model_dump(mode="json"))

    handle.__name__ = operation.operation_id
    if operation.method == "GET":
        return web.get(operation.path, handle, allow_head=False)  # HEAD is not documented
    return web.route(operation.method, operation.path, handle)


def _details(body: Any) -> dict[str, Any]:
    # Never a password, even a wrong one.
    return body.model_dump(mode="json", exclude={"password"}) \
        if isinstance(body, BaseModel) else {}


async def _begin(audit: AuditLog, operation: Operation, principal: Principal,
                 path: dict[str, str], body: Any, request: web.Request) -> AuditEntry:
    assert operation.action is not None
    try:
        return await audit.record(
            operator=principal.name, role=principal.role.value, via=principal.via.value,
            action=operation.action, target=path, details=_details(body),
            outcome="started", remote=request.remote)
    except Exception as exc:
        log.exception("admin_audit_write_failed", action=operation.action,
                      operator=principal.name)
        raise ApiError(503, "unavailable",
                       "the audit log cannot be written; nothing was done") from exc


async def _finish(audit: AuditLog, entry: AuditEntry, outcome: str) -> None:
    try:
        await audit.finish(entry, outcome)
    except Exception:
        # Done is done: the log line says how it ended, the stored entry says "started".
        log.exception("admin_audit_write_failed", action=entry.action,
                      operator=entry.operator, outcome=outcome)


async def _refused(audit: AuditLog, operation: Operation, principal: Principal | None,
                   path: dict[str, str], body: Any, request: web.Request,
                   entry: AuditEntry | None, outcome: str) -> None:
    """An action refused or failed: its entry finished, or one written now when the caller
    is known (a viewer trying an action). Unauthenticated attempts are only logged: anyone
    could fill the store with them."""
    if entry is not None:
        await _finish(audit, entry, outcome)
        return
    if operation.action is None and (principal is None or outcome != "refused: forbidden"):
        return
    if principal is None:
        log.warning("admin_audit", operator=None, action=operation.action, target=path,
                    outcome=outcome, remote=request.remote)
        return
    try:
        await audit.record(
            operator=principal.name, role=principal.role.value, via=principal.via.value,
            action=operation.action or f"{operation.method} {operation.path}", target=path,
            details=_details(body), outcome=outcome, remote=request.remote)
    except Exception:
        log.exception("admin_audit_write_failed", action=operation.action,
                      operator=principal.name, outcome=outcome)


def routes(operations: Sequence[Operation]) -> list[web.RouteDef]:
    return [route(op) for op in operations]
