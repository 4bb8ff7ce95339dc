"""Who is calling the admin API, and logging in.

A request is authenticated by exactly one of:

- ``Authorization: Bearer <token>``: an API token (``POST /admin/api/tokens``), or on
  ``POST /admin/reload`` only the legacy ``admin_token`` of gateway.yaml;
- the session cookie of a browser login (``POST /admin/api/session``). Its unsafe requests
  (POST, PUT, PATCH, DELETE) must carry the session's CSRF token in ``X-CSRF-Token``, and an
  ``Origin`` header, when the browser sends one, must be the gateway's own.

Password checks cost scrypt (as for chargers, ocpp_adapter/auth.py): a slot of the login
limiter is taken before each one, per (operator name, address) and per name for the
addresses it never logged in from, so a guesser is stopped after a few tries whatever it sends
at once, and the operator's own address is not locked out by someone else's guessing.
"""

from __future__ import annotations

import functools
import hmac
from dataclasses import dataclass
from enum import StrEnum

from aiohttp import web
from yarl import URL

from ocpi_gateway.admin.credentials import AdminCredentials, Credential, CredentialKind
from ocpi_gateway.admin.operators import OperatorAccount, OperatorsSource, Role
from ocpi_gateway.ocpp_adapter.auth import (
    LoginLimiter,
    PasswordChecker,
    client_address,
    hash_password,
)

SESSION_COOKIE = "ocpi_gateway_admin"
CSRF_HEADER = "X-CSRF-Token"
LEGACY = "admin_token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})



@functools.cache
def _dummy_hash() -> str:
    """Checked for an unknown name, so that its answer takes as long as a wrong password's
    (made once, when first needed: a CLI run should not pay scrypt for nothing)."""
    return hash_password("no operator has this password")


class Via(StrEnum):
    SESSION = "session"
    TOKEN = "token"
    ADMIN_TOKEN = "admin_token"


@dataclass(frozen=True, slots=True)
class Principal:
    name: str
    role: Role
    via: Via
    csrf: str | None = None
    """The session's CSRF token (cookie logins only)."""

    def may(self, needed: Role) -> bool:
        return self.role.allows(needed)


class Refusal(Exception):
    """Not authenticated (401), not allowed (403) or too many failed logins (429)."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


class LoginOutcome(StrEnum):
    OK = "ok"
    WRONG = "wrong name or password"
    LIMITED = "too many failed logins"


@dataclass(frozen=True, slots=True)
class Login:
    outcome: LoginOutcome
    account: OperatorAccount | None = None


class Access:
    def __init__(self, operators: OperatorsSource, credentials: AdminCredentials,
                 passwords: PasswordChecker, limiter: LoginLimiter, *,
                 admin_token: str | None, public_url: str, session_seconds: float,
                 token_seconds: float, cookie_secure: bool) -> None:
        self.operators = operators
        self.credentials = credentials
        self.passwords = passwords
        self.limiter = limiter
        self._admin_token = admin_token or None
        self._origin = URL(public_url).origin()
        self.session_seconds = session_seconds
        self.token_seconds = token_seconds
        self.cookie_secure = cookie_secure

    # -- logging in ------------------------------------------------------------------

    async def login(self, name: str, password: str, remote: str | None) -> Login:
        account = self.operators.get(name)
        attempt = await self.limiter.begin(name.casefold(), client_address(remote or "?"))
        if attempt is None:
            return Login(LoginOutcome.LIMITED)
        stored = account.password_hash if account is not None else _dummy_hash()
        right = await self.passwords.check(name, password, stored)
        if account is None or not right:
            return Login(LoginOutcome.WRONG)
        await self.limiter.succeeded(attempt)
        return Login(LoginOutcome.OK, account)

    async def open_session(self, account: OperatorAccount) -> tuple[str, Credential]:
        return await self.credentials.issue(
            CredentialKind.SESSION, account.name, account.password_fingerprint,
            ttl=self.session_seconds)

    async def issue_token(self, account: OperatorAccount, *, ttl: float | None,
                          label: str | None) -> tuple[str, Credential]:
        return await self.credentials.issue(
            CredentialKind.TOKEN, account.name, account.password_fingerprint,
            ttl=min(ttl or self.token_seconds, self.token_seconds), label=label)

    # -- authenticating ------------------------------------------------------------------

    async def authenticate(self, request: web.Request, *, legacy: bool = False
                           ) -> Principal:
        """The caller, or Refusal(401). ``legacy``: the route also takes ``admin_token``."""
        header = request.headers.get("Authorization")
        if header is not None:
            scheme, _, value = header.partition(" ")
            value = value.strip()
            if scheme.lower() != "bearer" or not value:
                raise Refusal(401, "unauthenticated", "Authorization must be Bearer <token>")
            if legacy and self._admin_token is not None and hmac.compare_digest(
                    value.encode(), self._admin_token.encode()):
                return Principal(LEGACY, Role.OPERATOR, Via.ADMIN_TOKEN)
            credential = await self.credentials.lookup(CredentialKind.TOKEN, value)
            principal = self._principal(credential, Via.TOKEN)
            if principal is None:
                raise Refusal(401, "unauthenticated", "unknown or expired token")
            return principal
        cookie = request.cookies.get(SESSION_COOKIE)
        if cookie:
            credential = await self.credentials.lookup(CredentialKind.SESSION, cookie)
            principal = self._principal(credential, Via.SESSION)
            if principal is None:
                raise Refusal(401, "unauthenticated", "session expired; log in again")
            if request.method not in SAFE_METHODS:
                self._check_browser_origin(request, principal)
            return principal
        raise Refusal(401, "unauthenticated",
                      "log in (POST /admin/api/session) or send Authorization: Bearer <token>")

    def _principal(self, credential: Credential | None, via: Via) -> Principal | None:
        if credential is None:
            return None
        account = self.operators.get(credential.operator)
        if account is None or account.password_fingerprint != credential.fingerprint:
            return None  # removed from the file, or a new password since
        return Principal(account.name, account.role, via, credential.csrf)

    def _check_browser_origin(self, request: web.Request, principal: Principal) -> None:
        given = request.headers.get(CSRF_HEADER, "")
        if principal.csrf is None or not hmac.compare_digest(given.encode(),
                                                             principal.csrf.encode()):
            raise Refusal(403, "csrf", f"{CSRF_HEADER} missing or wrong for this session")
        origin = request.headers.get("Origin")
        if origin is not None and not self.same_origin(request, origin):
            raise Refusal(403, "csrf", f"Origin {origin} is not this gateway")

    def same_origin(self, request: web.Request, origin: str) -> bool:
        try:
            given = URL(origin).origin()
        except ValueError:
            return False
        # The public URL, or the instance addressed directly (as the proxy does not forward
        # /admin/, an operator often reaches an instance by its own address).
        return given in (self._origin, request.url.origin())
