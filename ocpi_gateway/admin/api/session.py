"""Logging in and out: a browser session (cookie + CSRF token) or an API token."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
from aiohttp import web
from pydantic import BaseModel, Field

from ocpi_gateway.admin.access import SESSION_COOKIE, Access, Login, LoginOutcome, Via
from ocpi_gateway.admin.api.framework import (
    ACCESS,
    AUDIT,
    ApiError,
    Call,
    Operation,
    error_response,
)
from ocpi_gateway.admin.operators import OperatorAccount, Role

TAG = "session"


class LoginBody(BaseModel):
    name: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=1024)


class SessionInfo(BaseModel):
    operator: str
    role: Role
    via: str
    csrf_token: str | None = None
    """Send it as X-CSRF-Token with every POST, PUT, PATCH and DELETE of this session."""
    expires_at: datetime | None = None


class TokenRequest(LoginBody):
    label: str | None = Field(default=None, max_length=100,
                              description="what the token is for (shown in the audit log)")
    expires_in_hours: float | None = Field(
        default=None, gt=0, description="at most admin.token_days; that when absent")


class TokenIssued(BaseModel):
    token: str
    """Send it as ``Authorization: Bearer <token>``. Shown once: only its hash is kept."""
    operator: str
    role: Role
    expires_at: datetime


def _at(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


async def _checked_login(call: Call, body: LoginBody, action: str) -> OperatorAccount:
    access = call.app[ACCESS]
    login: Login = await access.login(body.name, body.password, call.request.remote)
    if login.outcome is not LoginOutcome.OK or login.account is None:
        await call.app[AUDIT].record(operator=body.name, role=None, via="login", action=action,
                                     outcome=login.outcome.value, remote=call.request.remote)
        if login.outcome is LoginOutcome.LIMITED:
            raise ApiError(429, "rate_limited", "too many failed logins; try again later")
        raise ApiError(401, "unauthenticated", "wrong name or password")
    await call.app[AUDIT].record(operator=login.account.name, role=login.account.role.value,
                                 via="login", action=action, remote=call.request.remote)
    return login.account


async def login(call: Call) -> web.StreamResponse:
    access: Access = call.app[ACCESS]
    try:
        account = await _checked_login(call, call.body, "login")
    except ApiError as exc:
        return error_response(exc.status, exc.code, exc.message)
    secret, credential = await access.open_session(account)
    info = SessionInfo(operator=account.name, role=account.role, via=Via.SESSION.value,
                       csrf_token=credential.csrf, expires_at=_at(credential.expires_at))
    response = web.Response(body=orjson.dumps(info.model_dump(mode="json")),
                            content_type="application/json")
    response.set_cookie(SESSION_COOKIE, secret, max_age=int(access.session_seconds),
                        path="/admin", httponly=True, samesite="Strict",
                        secure=access.cookie_secure)
    return response


async def whoami(call: Call) -> SessionInfo:
    principal = call.principal
    assert principal is not None
    return SessionInfo(operator=principal.name, role=principal.role, via=principal.via.value,
                       csrf_token=principal.csrf)


async def logout(call: Call) -> web.StreamResponse:
    access = call.app[ACCESS]
    cookie = call.request.cookies.get(SESSION_COOKIE)
    if call.principal is not None and call.principal.via is Via.SESSION and cookie:
        await access.credentials.revoke(cookie)
    response = web.Response(status=204)
    response.del_cookie(SESSION_COOKIE, path="/admin")
    return response


async def issue_token(call: Call) -> TokenIssued:
    body: TokenRequest = call.body
    access = call.app[ACCESS]
    account = await _checked_login(call, body, "token_issued")
    ttl = body.expires_in_hours * 3600 if body.expires_in_hours else None
    secret, credential = await access.issue_token(account, ttl=ttl, label=body.label)
    return TokenIssued(token=secret, operator=account.name, role=account.role,
                       expires_at=_at(credential.expires_at))


async def revoke_current_token(call: Call) -> None:
    principal = call.principal
    assert principal is not None
    if principal.via is not Via.TOKEN:
        raise ApiError(400, "invalid", "authenticate with the bearer token to revoke it")
    header = call.request.headers.get("Authorization", "")
    await call.app[ACCESS].credentials.revoke(header.partition(" ")[2].strip())


OPERATIONS = [
    Operation("POST", "/admin/api/session", login, "log in: a session cookie and its CSRF "
              "token", TAG, role=None, body=LoginBody, response=SessionInfo,
              errors=(401, 429)),
    Operation("GET", "/admin/api/session", whoami, "who is logged in (and the session's CSRF "
              "token)", TAG, response=SessionInfo, errors=()),
    Operation("DELETE", "/admin/api/session", logout, "log out", TAG, errors=()),
    Operation("POST", "/admin/api/tokens", issue_token, "an API bearer token, for scripts "
              "and the CLI", TAG, role=None, body=TokenRequest, response=TokenIssued,
              status=201, errors=(401, 429)),
    Operation("DELETE", "/admin/api/tokens/current", revoke_current_token,
              "revoke the bearer token this request carries", TAG, errors=(400,)),
]
