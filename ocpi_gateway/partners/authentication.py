"""Who a request comes from: the partner owning the token its Authorization header carries.

Every functional-module request authenticates; two store reads each (the token row, the
partner) would cap the gateway's request rate, so the callers found are cached, and a hit costs
one read of the partner epoch instead (shared by the requests queued with it:
``shared_read.py``). Any instance that changes a partner or its tokens writes a new epoch
(``registry.py``), which empties every instance's cache on its next request: a revocation
anywhere is effective at once. The TTL bounds what the epoch cannot see (a token row deleted
by hand).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from ocpi_gateway.domain.store import DocumentStore
from ocpi_gateway.partners.models import Partner, PartnerState, TokenKind
from ocpi_gateway.partners.shared_read import SharedRead
from ocpi_gateway.transport.auth import token_candidates, token_hash

TOKENS = "partner_tokens"
"""SHA-256 of a token a partner presents to us → partner id and token kind (the tokens
themselves are never stored)."""


@dataclass(frozen=True, slots=True)
class Caller:
    """Who sent a request: the partner and which of its tokens it used."""

    partner: Partner
    kind: TokenKind
    token: str
    base64_token: bool
    """Whether the caller base64-encoded its token (a hint for how to send ours)."""


_Cached = tuple[float, str | None, Caller]
"""(expiry on the clock, the partner epoch its rows were read in, the caller)."""


class Authentication:
    def __init__(self, store: DocumentStore, partner: Callable[[str], Awaitable[Partner | None]],
                 epoch: SharedRead[str | None], *, ttl: float,
                 clock: Callable[[], float]) -> None:
        """``partner``: the stored partner of an id; ``epoch``: the partner epoch's reads."""
        self._store = store
        self._partner = partner
        self._epoch_reads = epoch
        self._ttl = ttl
        self._clock = clock
        # token hash → the caller that token authenticated.
        self._auth_cache: dict[str, _Cached] = {}
        # Authorization header → the same: a repeated header skips base64, SHA-256 and the
        # partner copy too. Only headers that authenticated a registered partner get in, so a
        # flood of wrong tokens cannot grow it.
        self._header_cache: dict[str, _Cached] = {}

    def forget(self) -> None:
        """This process changed a partner or its tokens: nothing cached holds."""
        self._auth_cache.clear()
        self._header_cache.clear()

    def cached_reader(self, header: str) -> Caller | None:
        """What ``authenticate_header(header, to_change=False)`` would answer, when that is
        known without awaiting (the header cached, and a partner-epoch read shared with the
        requests queued with this one done and agreeing: ``SharedRead.settled``); else None,
        and the caller asks ``authenticate_header``. The caller is shared: only read it."""
        cached = self._header_cache.get(header)
        if cached is None or cached[0] <= self._clock():
            return None
        read = self._epoch_reads.settled()
        if read is None or read.result() != cached[1]:
            return None
        return cached[2]

    async def authenticate_header(self, header: str | None, *,
                                  to_change: bool = True) -> Caller | None:
        """The caller an Authorization header authenticates (both readings of its token).

        ``to_change=False`` may return the cached caller itself, whose partner the receiver
        must only read (functional modules); otherwise its partner is a copy that may be
        reassigned (the credentials module does before register())."""
        if not header:
            return None
        now = self._clock()
        epoch = await self._epoch_reads.get()  # before the rows, as in authenticate()
        cached = self._header_cache.get(header)
        if cached is not None and cached[0] > now and cached[1] == epoch:
            known = cached[2]
            if not to_change:
                return known
            # Handlers that change the partner reassign fields, never mutate its lists.
            return Caller(known.partner.model_copy(), known.kind, known.token,
                          known.base64_token)
        caller = await self.authenticate(token_candidates(header))
        if caller is not None and caller.kind is TokenKind.CREDENTIALS and (
                caller.partner.registered):
            if len(self._header_cache) > 10_000:
                self._header_cache.clear()
            self._header_cache[header] = (now + self._ttl, epoch,
                                          Caller(caller.partner.model_copy(), caller.kind,
                                                 caller.token, caller.base64_token))
        return caller

    async def authenticate(self, candidates: list[tuple[str, bool]]) -> Caller | None:
        """The caller owning one of the header's readings (see transport.auth.token_candidates).

        Unregistered partners and dangling tokens authenticate nobody."""
        now = self._clock()
        # Read before the token and partner: an entry is tagged with an epoch that was current
        # when its rows were read, so a change made meanwhile is never hidden by it.
        epoch = await self._epoch_reads.get()
        for token, encoded in candidates:
            digest = token_hash(token)
            cached = self._auth_cache.get(digest)
            if cached is not None and cached[0] > now and cached[1] == epoch:
                caller = cached[2]
                # A copy: handlers may reassign the partner's fields (the credentials module
                # does before register()); they never mutate its lists in place.
                return Caller(caller.partner.model_copy(), caller.kind, token, encoded)
            doc = await self._store.get(TOKENS, digest)
            if doc is None:
                continue
            partner = await self._partner(str(doc["partner_id"]))
            if partner is None or partner.state in (PartnerState.UNREGISTERED,
                                                    PartnerState.REVOKED):
                return None
            caller = Caller(partner, TokenKind(doc["kind"]), token, encoded)
            if caller.kind is TokenKind.CREDENTIALS and partner.registered:
                if len(self._auth_cache) > 10_000:
                    self._auth_cache.clear()
                self._auth_cache[digest] = (now + self._ttl, epoch,
                                            Caller(partner.model_copy(), caller.kind,
                                                   "", encoded))
            return caller
        return None
