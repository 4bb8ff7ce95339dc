"""The partner registry: partners and the tokens they present, over a DocumentStore.

Collections: ``partners`` (key: partner id), ``partner_tokens`` (key: SHA-256 of a token the
partner presents to us → partner id and token kind) and ``partners_meta`` (the ``epoch``: a new
value after every change of a partner or its tokens, so that every instance sharing the store
drops its authentication cache at once). We never store those tokens themselves; tokens we send
to partners are stored as given (see docs/security.md). Who a presented token authenticates,
and the caches of that, is ``authentication.py``'s.
"""

from __future__ import annotations

import builtins
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

import structlog

from ocpi_gateway.domain.store import DocumentStore
from ocpi_gateway.partners.authentication import TOKENS, Authentication, Caller
from ocpi_gateway.partners.grants import Grants
from ocpi_gateway.partners.models import (
    Partner,
    PartnerEndpoint,
    PartnerRole,
    PartnerState,
    TokenKind,
)
from ocpi_gateway.partners.role_claims import OwnerState, RoleClaims, claim_key
from ocpi_gateway.partners.shared_read import SharedRead
from ocpi_gateway.transport.auth import authorization_header, new_token, token_hash

log = structlog.get_logger(__name__)

PARTNERS = "partners"
META = "partners_meta"
EPOCH = "epoch"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class RegistrationConflict(Exception):
    """Another handshake of the same partner finished first."""


class RolesRefused(Exception):
    """A handshake declared roles the operator did not grant, or that another registered
    partner holds; the message names them."""


class PartnerRegistry:
    def __init__(self, store: DocumentStore, *, auth_cache_ttl: float = 2.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        """``auth_cache_ttl``: seconds an authenticated token is reused (on ``clock``)
        while the partner epoch stays."""
        self._store = store
        self._headers_cache: dict[str, tuple[str | None, dict[str, str] | None]] = {}
        self._epoch_reads: SharedRead[str | None] = SharedRead(self._read_epoch)
        self._authentication = Authentication(store, self.get, self._epoch_reads,
                                              ttl=auth_cache_ttl, clock=clock)
        self._registered: tuple[str, builtins.list[Partner]] | None = None
        self._claims = RoleClaims(store, self._owner_state)

    @property
    def store(self) -> DocumentStore:
        return self._store

    async def _epoch(self) -> str | None:
        return await self._epoch_reads.get()

    async def _read_epoch(self) -> str | None:
        doc = await self._store.get(META, EPOCH)
        return None if doc is None else str(doc["value"])

    async def _changed(self) -> None:
        """Every instance's auth cache is stale from now on."""
        self._authentication.forget()
        self._headers_cache.clear()
        self._registered = None
        await self._store.put(META, EPOCH, {"value": uuid.uuid4().hex})
        self._epoch_reads.forget()

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

    async def registered_now(self) -> builtins.list[Partner]:
        """``registered()``, the last answer reused while no partner changed on any instance
        (the partner epoch, one shared read): what per-object pushes (Sessions, CDRs) read.
        The partners returned are shared: do not change them."""
        epoch = await self._epoch()
        cached = self._registered
        if epoch is not None and cached is not None and cached[0] == epoch:
            return cached[1]
        partners = await self.registered()
        if epoch is not None:
            self._registered = (epoch, partners)
        return partners

    async def by_party(self, country_code: str, party_id: str) -> Partner | None:
        """The registered partner serving this role (e.g. the eMSP a token belongs to)."""
        for partner in await self.registered():
            if partner.has_party(country_code, party_id):
                return partner
        return None

    async def save(self, partner: Partner) -> None:
        partner.updated_at = _now()
        await self._store.put(PARTNERS, partner.id, partner.model_dump(mode="json"))
        await self._changed()

    async def invite(self, name: str, grants: Grants) -> tuple[Partner, str]:
        """A new partner with a fresh token A; the token is returned once, stored only hashed.
        Its handshake may declare only the roles ``grants`` allows."""
        now = _now()
        partner = Partner(id=uuid.uuid4().hex, name=name, state=PartnerState.INVITED,
                          grants=grants, created_at=now, updated_at=now)
        await self.save(partner)
        token = new_token()
        await self._add_token(partner.id, token, TokenKind.INVITE)
        return partner, token

    async def create(self, name: str, grants: Grants) -> Partner:
        """A partner we register with ourselves (client direction); no token issued yet."""
        now = _now()
        partner = Partner(id=uuid.uuid4().hex, name=name, state=PartnerState.INVITED,
                          grants=grants, created_at=now, updated_at=now)
        await self.save(partner)
        return partner

    async def check_roles(self, partner: Partner, roles: builtins.list[PartnerRole]) -> None:
        """Raise RolesRefused unless every role is granted to ``partner`` and held by no other
        registered partner."""
        refused = partner.grants.refused((r.role, r.country_code, r.party_id) for r in roles)
        if refused:
            raise RolesRefused(f"role {', '.join(refused)} not granted to this partner by the "
                               "operator")
        for other in await self.registered():
            if other.id == partner.id:
                continue
            taken = [f"{r.role}:{r.country_code}-{r.party_id}".upper() for r in roles
                     if any(o.role == r.role and o.matches(r.country_code, r.party_id)
                            for o in other.roles)]
            if taken:
                raise RolesRefused(f"role {', '.join(taken)} is held by another registered "
                                   "partner")

    async def _owner_state(self, owner_id: str, key: str) -> OwnerState:
        owner = await self.get(owner_id)
        if owner is None or owner.state in (PartnerState.UNREGISTERED, PartnerState.REVOKED):
            return OwnerState.GONE
        if owner.registered and key in _keys(owner.roles):
            return OwnerState.HOLDS
        return OwnerState.PENDING

    async def migrate_grants(self) -> int:
        """Rewrite the records from before grants existed (their roles became their grants
        when read); returns how many. Run at startup, idempotent."""
        migrated = 0
        for doc in await self._store.find(PARTNERS):
            if "grants" in doc:
                continue
            partner = Partner.model_validate(doc)
            if await self._store.replace_if(PARTNERS, partner.id, partner.model_dump(mode="json"),
                                            expected={"revision": partner.revision}):
                migrated += 1
                log.warning("partner_grants_migrated", partner=partner.name,
                            partner_id=partner.id, grants=partner.grants.describe())
        if migrated:
            await self._changed()
        return migrated

    def cached_reader(self, header: str) -> Caller | None:
        """``Authentication.cached_reader``: the cached caller of ``header`` when known
        without awaiting; else None."""
        return self._authentication.cached_reader(header)

    async def authenticate_header(self, header: str | None, *,
                                  to_change: bool = True) -> Caller | None:
        """``Authentication.authenticate_header``: the caller an Authorization header
        authenticates; with ``to_change=False`` possibly the cached one, only to be read."""
        return await self._authentication.authenticate_header(header, to_change=to_change)

    async def authenticate(self, candidates: builtins.list[tuple[str, bool]]) -> Caller | None:
        """``Authentication.authenticate``: the caller owning one of the header's readings."""
        return await self._authentication.authenticate(candidates)

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
        POSTs with the same token A race: exactly one wins), RolesRefused when a role is not
        granted or held by another registered partner."""
        await self.check_roles(partner, roles)
        held_before = _keys(partner.roles) if partner.registered else set()
        taken = await self._claims.claim(partner.id, _keys(roles))
        if taken:
            await self._claims.release(partner.id, keep=held_before)
            raise RolesRefused(f"role {', '.join(taken)} is held by another registered "
                               "partner")
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
        await self._claims.release(partner.id, keep=_keys(roles))
        await self.revoke_tokens(partner.id)
        token = issue_token or new_token()
        await self._add_token(partner.id, token, TokenKind.CREDENTIALS)
        await self._changed()
        return token

    async def issue_credentials_token(self, partner_id: str) -> str:
        """A new token for the partner before a handshake we start (our token B)."""
        token = new_token()
        await self._add_token(partner_id, token, TokenKind.CREDENTIALS)
        return token

    async def unregister(self, partner: Partner) -> None:
        """Stop all traffic: its tokens stop working, ours is forgotten, pushes stop."""
        await self.revoke_tokens(partner.id)
        await self._claims.release(partner.id)
        partner.state = PartnerState.UNREGISTERED
        partner.token_to_send = None
        await self.save(partner)

    async def revoke(self, partner_id: str) -> Partner | None:
        """Offboard: every token dead at once on every instance (the epoch), no pushes (the
        outbox finds no headers); the record stays, REVOKED. None when unknown."""
        partner = await self.get(partner_id)
        if partner is None:
            return None
        await self.revoke_tokens(partner.id)
        await self._claims.release(partner.id)
        partner.state = PartnerState.REVOKED
        await self.save(partner)
        return partner

    async def grant(self, partner_id: str, grants: Grants) -> Partner | None:
        """Add ``grants`` to what the partner may be (``partners grant``); None when unknown."""
        partner = await self.get(partner_id)
        if partner is None:
            return None
        partner.grants = partner.grants.merged(grants)
        await self.save(partner)
        return partner

    async def revoke_tokens(self, partner_id: str) -> None:
        for doc in await self._store.find(TOKENS, {"partner_id": partner_id}):
            await self._store.delete(TOKENS, str(doc["hash"]))
        await self._changed()

    async def headers_for(self, partner_id: str) -> dict[str, str] | None:
        """Authorization header for calling the partner; None when it is not registered
        (fits ``ocpi_gateway.deliveries.attempts.HeadersFor``). Cached while the epoch stays:
        a revocation on any instance stops the next push."""
        epoch = await self._epoch()
        cached = self._headers_cache.get(partner_id)
        if cached is not None and cached[0] == epoch:
            return cached[1]
        partner = await self.get(partner_id)
        headers = None
        if partner is not None and partner.registered and partner.token_to_send is not None:
            headers = {"Authorization": authorization_header(
                partner.token_to_send, base64_encoded=partner.send_base64)}
        if len(self._headers_cache) > 10_000:
            self._headers_cache.clear()
        self._headers_cache[partner_id] = (epoch, headers)
        return headers

    async def _add_token(self, partner_id: str, token: str, kind: TokenKind) -> None:
        digest = token_hash(token)
        await self._store.put(TOKENS, digest, {"hash": digest, "partner_id": partner_id,
                                               "kind": kind.value, "created_at": _now()})

    async def delete(self, partner_id: str) -> None:
        """Forget a partner entirely (a handshake we started that failed, or offboarding)."""
        await self.revoke_tokens(partner_id)
        await self._claims.release(partner_id)
        await self._store.delete(PARTNERS, partner_id)
        await self._changed()


def _keys(roles: builtins.list[PartnerRole]) -> set[str]:
    return {claim_key(r.role, r.country_code, r.party_id) for r in roles}
