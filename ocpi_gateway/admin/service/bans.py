"""Bans of tokens as an operator sees them (the current or last ban of each token, with the
earlier ones), filtered by eMSP, token, source, in force or not and when they end, in keyset
pages; and the operator's acts on them, through ``Enforcement`` (the one writer of bans,
compare-and-set), so a lift or a new ban counts at every instance's next admission."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any, ClassVar

from pydantic import BaseModel, Field, model_validator

from ocpi_gateway.admin.service.errors import Conflict, Invalid, NotFound
from ocpi_gateway.admin.service.query import DriverQuery, add, party, sort_param
from ocpi_gateway.domain.store import DocumentStore, Range, Where
from ocpi_gateway.reservation_policy.enforcement.bans import BANS, Ban, BanSource
from ocpi_gateway.reservation_policy.enforcement.records import token_key
from ocpi_gateway.reservation_policy.enforcement.service import BanError, Enforcement
from ocpi_gateway.reservation_policy.models import Partner
from ocpi_gateway.reservation_policy.policy import PARTNER_KEY


class BanFilter(DriverQuery):
    """The query of ``GET /admin/api/bans``; ``from`` and ``to`` bound when the ban ends."""

    SORTS: ClassVar[Mapping[str, str]] = {"until": "until_ts"}
    TIME_FIELD: ClassVar[str | None] = "until_ts"

    sort: str = sort_param(SORTS, "-until")
    source: BanSource | None = Field(default=None, description="no_shows or operator")
    in_force: bool = Field(default=False, description="only bans in force now (not lifted, "
                           "not ended)")

    def filters(self) -> Where:
        where: Where = {}
        if self.emsp and self.token:
            where["key"] = f"{self.emsp}/{self.token.upper()}"
        else:
            add(where, "partner_key", self.emsp or None)
            add(where, "token_uid", self.token or None)
        add(where, "source", self.source.value if self.source is not None else None)
        return where

    def where_at(self, now: datetime) -> Where:
        where = self.where()
        if self.in_force:
            where["lifted_at"] = None
            ends = where.get("until_ts")
            where["until_ts"] = Range(gt=now.timestamp(), gte=ends.gte, lt=ends.lt) \
                if isinstance(ends, Range) else Range(gt=now.timestamp())
        return where


class EarlierBan(BaseModel):
    since: datetime
    until: datetime
    source: BanSource
    reason: str
    by: str
    lifted_at: datetime | None
    lifted_by: str | None
    lift_reason: str | None


class BanView(BaseModel):
    key: str
    """``<eMSP party>/<token uid>``: the path of the ban in this API."""
    emsp: str
    token_uid: str
    in_force: bool
    since: datetime
    until: datetime
    source: BanSource
    reason: str
    """What the eMSP is told."""
    by: str
    """``policy``, or the operator who set it."""
    no_shows: list[str]
    """The no-show records that caused it."""
    lifted_at: datetime | None
    lifted_by: str | None
    lift_reason: str | None
    history: list[EarlierBan] | None = None
    """The token's earlier bans, oldest first (one ban only)."""


class BansPage(BaseModel):
    items: list[BanView]
    next_cursor: str | None


class LiftBody(BaseModel):
    reason: str = Field(default="", max_length=200, description="why, kept with the ban")


class SetBanBody(BaseModel):
    until: datetime | None = Field(default=None, description="when it ends (ISO 8601)")
    days: float | None = Field(default=None, gt=0, le=3660,
                               description="or: for this many days from now")
    reason: str = Field(min_length=1, max_length=200, description="what the eMSP is told")

    @model_validator(mode="after")
    def _one_end(self) -> SetBanBody:
        if (self.until is None) == (self.days is None):
            raise ValueError("give until or days, not both")
        return self

    def end(self, now: datetime) -> datetime:
        if self.until is not None:
            return self.until if self.until.tzinfo is not None \
                else self.until.replace(tzinfo=now.tzinfo)
        assert self.days is not None
        return now + timedelta(days=self.days)


def _earlier(entry: dict[str, Any]) -> EarlierBan:
    return EarlierBan.model_validate(entry)


def view(ban: Ban, now: datetime, *, with_history: bool = False) -> BanView:
    return BanView(
        key=ban.key, emsp=ban.partner.key, token_uid=ban.token_uid, in_force=ban.active(now),
        since=ban.since, until=ban.until, source=ban.source, reason=ban.reason, by=ban.by,
        no_shows=list(ban.no_shows), lifted_at=ban.lifted_at, lifted_by=ban.lifted_by,
        lift_reason=ban.lift_reason,
        history=[_earlier(e) for e in ban.history] if with_history else None)


def partner_of(emsp: str) -> Partner:
    """``DE-ABC`` (any case, ``*`` for ``-``) → the eMSP; NotFound for anything else."""
    key = party(emsp) or ""
    if not PARTNER_KEY.match(key):
        raise NotFound(f"no eMSP {emsp!r}: name it COUNTRY-PARTY, e.g. DE-ABC")
    country, _, party_id = key.partition("-")
    return Partner(country, party_id)


async def list_bans(store: DocumentStore, query: BanFilter, now: datetime) -> BansPage:
    items, next_cursor = await query.page(store, BANS, lambda d: view(Ban.from_doc(d), now),
                                          where=query.where_at(now))
    return BansPage(items=items, next_cursor=next_cursor)


async def get_ban(store: DocumentStore, emsp: str, token_uid: str, now: datetime
                  ) -> BanView:
    doc = await store.get(BANS, token_key(partner_of(emsp), token_uid))
    if doc is None:
        raise NotFound(f"no ban of {token_uid} of {emsp}")
    return view(Ban.from_doc(doc), now, with_history=True)


async def lift_ban(enforcement: Enforcement, emsp: str, token_uid: str, *, operator: str,
                   reason: str, now: datetime) -> BanView:
    """End the token's ban now and forgive its no-shows so far (Conflict: not banned)."""
    try:
        lifted = await enforcement.lift(partner_of(emsp), token_uid, by=operator, reason=reason)
    except BanError as exc:
        raise Conflict(str(exc)) from exc
    if lifted is None:
        raise Conflict(f"{token_uid} of {emsp} is not banned")
    return view(lifted, now, with_history=True)


async def set_ban(enforcement: Enforcement, emsp: str, token_uid: str, body: SetBanBody, *,
                  operator: str, now: datetime) -> BanView:
    """Ban the token until the body's end (replacing any ban it has)."""
    try:
        ban = await enforcement.set_ban(partner_of(emsp), token_uid, until=body.end(now),
                                        reason=body.reason, by=operator)
    except BanError as exc:
        raise Invalid(str(exc)) from exc
    return view(ban, now, with_history=True)
