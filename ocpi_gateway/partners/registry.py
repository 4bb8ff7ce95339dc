"""The partner registry: partners and the tokens they present, over a DocumentStore.

Collections: ``partners`` (key: partner id) and ``partner_tokens`` (key: SHA-256 of a token the
partner presents to us → partner id and token kind). We never store those tokens themselves;
tokens we send to partners are stored as given (see docs/security.md).
"""

from __future__ import annotations

import builtins
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from ocpi_gateway.domain.store import DocumentStore
from ocpi_gateway.partners.models import (
    Partner,
    PartnerEndpoint,
    PartnerRole,
    PartnerState,
    TokenKind,
)
from ocpi_gateway.transport.auth import authorization_header, new_token, token_hash

PARTNERS = "partners"
TOKENS = "partner_tokens"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class RegistrationConflict(Exception):
    """Another handshake of the same partner finished first."""


@dataclass(frozen=True, slots=True)
class Caller:
    """Who sent a request: the partner and which of its tokens it used."""

    partner: Partner
    kind: TokenKind
    token: str
    base64_token: bool
    """Whether the caller base64-encoded its token (a hint for how to send ours)."""


class PartnerRegistry:
    def __init__(self, store: DocumentStore, *, auth_cache_ttl: float = 2.0) -> None:
        self._store = store
        # token hash → (monotonic expiry, caller). Every functional-module request
        # authenticates; two store reads each would cap the gateway's request rate. Changes
        # made here clear it at once; another instance's revocation is seen within the TTL.
        self._auth_cache: dict[str, tuple[float, Caller]] = {}
        self._auth_cache_ttl = auth_cache_ttl

    async def get(self, partner_id: str) -> Partner | None:
        doc = await self._store.get(PARTNERS, partner_id)
        return None if doc is None else Partner.model_validate(doc)

    async def list(self) -> builtins.list[Partner]:
        return [Partner.model_validate(d) for d in await self._store.find(PARTNERS,
                                                                          order_by="created_at")]

    async def registered(self) -> builtins.list[Partner]:
        docs = await self._store.find(PARTNERS, {"state": PartnerState.REGISTERED.value},
                                      order_by="created_at")
        return [Partner.model_validate(d) for d in docs]

    async def by_party(self, country_code: str, party_id: str) -> Partner | None:
        """The registered partner serving this role (e.g. the eMSP a token belongs to)."""
        for partner in await self.registered():
            if partner.has_party(country_code, party_id):
                return partner
        return None

    async def save(self, partner: Partner) -> None:
        self._auth_cache.clear()
        partner.updated_at = _now()
        await self._store.put(PARTNERS, partner.id, partner.model_dump(mode="json"))

    async def invite(self, name: str) -> tuple[Partner, str]:
        """A new partner with a fresh token A; the token is returned once, stored only hashed."""
        now = _now()
        partner = Partner(id=uuid.uuid4().hex, name=name, state=PartnerState.INVITED,
                          created_at=now, updated_at=now)
        await self.save(partner)
        token = new_token()
        await self._add_token(partner.id, token, TokenKind.INVITE)
        return partner, token

    async def create(self, name: str) -> Partner:
        """A partner we register with ourselves (client direction); no token issued yet."""
        now = _now()
        partner = Partner(id=uuid.uuid4().hex, name=name, state=PartnerState.INVITED,
                          created_at=now, updated_at=now)
        await self.save(partner)
        return partner

    async def authenticate(self, candidates: builtins.list[tuple[str, bool]]) -> Caller | None:
        """The caller owning one of the header's readings (see transport.auth.token_candidates).

        Unregistered partners and dangling tokens authenticate nobody."""
        now = time.monotonic()
        for token, encoded in candidates:
            digest = token_hash(token)
            cached = self._auth_cache.get(digest)
            if cached is not None and cached[0] > now:
                caller = cached[1]
                # A copy: handlers may reassign the partner's fields (the credentials module
                # does before register()); they never mutate its lists in place.
                return Caller(caller.partner.model_copy(), caller.kind, token, encoded)
            doc = await self._store.get(TOKENS, digest)
            if doc is None:
                continue
            partner = await self.get(str(doc["partner_id"]))
            if partner is None or partner.state is PartnerState.UNREGISTERED:
                return None
            caller = Caller(partner, TokenKind(doc["kind"]), token, encoded)
            if caller.kind is TokenKind.CREDENTIALS and partner.registered:
                if len(self._auth_cache) > 10_000:
                    self._auth_cache.clear()
                self._auth_cache[digest] = (now + self._auth_cache_ttl,
                                            Caller(partner.model_copy(), caller.kind,
                                                   "", encoded))
            return caller
        return None

    async def register(
        self,
        partner: Partner,
        *,
        roles: builtins.list[PartnerRole],
        versions_url: str,
        version: str,
        endpoints: builtins.list[PartnerEndpoint],
        token_to_send: str,
        send_base64: bool,
        issue_token: str | None = None,
    ) -> str:
        """Record a successful handshake; revoke every token the partner had (token A, the old
        credentials token) and issue a new credentials token, returned once.

        Raises RegistrationConflict when the partner changed since ``partner`` was read (two
        POSTs with the same token A race: exactly one wins)."""
        previous = partner.revision
        partner.revision += 1
        partner.state = PartnerState.REGISTERED
        partner.roles = roles
        partner.versions_url = versions_url
        partner.version = version
        partner.endpoints = endpoints
        partner.token_to_send = token_to_send
        partner.send_base64 = send_base64
        partner.updated_at = _now()
        if not await self._store.replace_if(PARTNERS, partner.id, partner.model_dump(mode="json"),
                                            expected={"revision": previous}):
            raise RegistrationConflict(partner.id)
        await self.revoke_tokens(partner.id)
        token = issue_token or new_token()
        await self._add_token(partner.id, token, TokenKind.CREDENTIALS)
        return token

    async def issue_credentials_token(self, partner_id: str) -> str:
        """A new token for the partner before a handshake we start (our token B)."""
        token = new_token()
        await self._add_token(partner_id, token, TokenKind.CREDENTIALS)
        return token

    async def unregister(self, partner: Partner) -> None:
        """Stop all traffic: its tokens stop working, ours is forgotten, pushes stop."""
        await self.revoke_tokens(partner.id)
        partner.state = PartnerState.UNREGISTERED
        partner.token_to_send = None
        await self.save(partner)

    async def revoke_tokens(self, partner_id: str) -> None:
        self._auth_cache.clear()
        for doc in await self._store.find(TOKENS, {"partner_id": partner_id}):
            await self._store.delete(TOKENS, str(doc["hash"]))

    async def headers_for(self, partner_id: str) -> dict[str, str] | None:
        """Authorization header for calling the partner; None when it is not registered
        (fits ``ocpi_gateway.deliveries.engine.HeadersFor``)."""
        partner = await self.get(partner_id)
        if partner is None or not partner.registered or partner.token_to_send is None:
            return None
        return {"Authorization": authorization_header(partner.token_to_send,
                                                      base64_encoded=partner.send_base64)}

    async def _add_token(self, partner_id: str, token: str, kind: TokenKind) -> None:
        digest = token_hash(token)
        await self._store.put(TOKENS, digest, {"hash": digest, "partner_id": partner_id,
                                               "kind": kind.value, "created_at": _now()})

    async def delete(self, partner_id: str) -> None:
        """Forget a partner entirely (a handshake we started that failed)."""
        self._auth_cache.clear()
        await self.revoke_tokens(partner_id)
        await self._store.delete(PARTNERS, partner_id)
