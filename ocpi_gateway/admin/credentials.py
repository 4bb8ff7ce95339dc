"""Browser sessions and API tokens of operators, kept in the store (every instance sharing it
accepts them) as the SHA-256 of the secret, never the secret itself.

A credential names its operator and a fingerprint of the operator's password hash: it is void
once the operator leaves the operators file or gets a new password (access.py checks both on
every request). A session also holds the CSRF token its unsafe requests must carry.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from enum import StrEnum

from ocpi_gateway.domain.store import DocumentStore, Range

COLLECTION = "admin_credentials"
TOKEN_PREFIX = "ogt_"
"""API tokens start with it (a leaked one is recognisable in a log or a repository)."""


class CredentialKind(StrEnum):
    SESSION = "session"
    TOKEN = "token"


@dataclass(frozen=True, slots=True, kw_only=True)
class Credential:
    kind: CredentialKind
    operator: str
    fingerprint: str
    created_at: float
    expires_at: float
    csrf: str | None = None
    label: str | None = None


_FIELDS = frozenset(Credential.__dataclass_fields__)


def secret_key(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


class AdminCredentials:
    def __init__(self, store: DocumentStore, *, clock: Callable[[], float] = time.time) -> None:
        self._store = store
        self._clock = clock

    async def issue(self, kind: CredentialKind, operator: str, fingerprint: str, *,
                    ttl: float, label: str | None = None) -> tuple[str, Credential]:
        """A new secret (session id or token) and what is stored under its hash."""
        secret = secrets.token_urlsafe(32)
        if kind is CredentialKind.TOKEN:
            secret = TOKEN_PREFIX + secret
        now = self._clock()
        credential = Credential(
            kind=kind, operator=operator, fingerprint=fingerprint, created_at=now,
            expires_at=now + ttl, label=label,
            csrf=secrets.token_urlsafe(32) if kind is CredentialKind.SESSION else None)
        doc = asdict(credential)
        doc["kind"] = kind.value
        doc["key"] = secret_key(secret)  # for the housekeeping's delete
        await self._store.put(COLLECTION, doc["key"], doc)
        return secret, credential

    async def lookup(self, kind: CredentialKind, secret: str) -> Credential | None:
        """The live credential of that kind behind ``secret``; an expired one is deleted."""
        if not secret or len(secret) > 200:
            return None
        key = secret_key(secret)
        doc = await self._store.get(COLLECTION, key)
        if doc is None or doc.get("kind") != kind.value:
            return None
        fields = {k: v for k, v in doc.items() if k in _FIELDS}
        credential = Credential(**{**fields, "kind": CredentialKind(doc["kind"])})
        if credential.expires_at <= self._clock():
            await self._store.delete(COLLECTION, key)
            return None
        return credential

    async def revoke(self, secret: str) -> bool:
        return await self._store.delete(COLLECTION, secret_key(secret))

    async def forget_expired(self) -> int:
        """Delete every expired credential; how many (housekeeping)."""
        gone = 0
        for doc in await self._store.find(COLLECTION, {"expires_at": Range(lte=self._clock())}):
            gone += await self._store.delete(COLLECTION, str(doc["key"]))
        return gone
