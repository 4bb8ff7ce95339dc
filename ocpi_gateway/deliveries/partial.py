"""PUT once, then PATCH only what changed: what a receiver was last queued of an object (a
digest per field, and per field of each child object, e.g. a BookingLocation's Calendars),
kept in the shared store so that every instance diffs against the same copy.

A plan is a PUT of the whole object when the receiver cannot hold it yet (no copy: never
sent, or sent before a restart of the store), when a field or a child went away (a PATCH
cannot remove: mod_locations, mod_bookings), or when another instance changed the copy in
between (compare-and-set lost); otherwise PATCHes of the object's changed fields and of each
changed child at ``{url}/{child id}``, each with ``last_updated`` (OCPI: every PATCH has it);
nothing when only ``last_updated`` moved. A PATCH the receiver refuses is repaired by the
outbox's resync (GET, then PUT of the whole current object), whose provider ``forget``s the
copy.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ocpi_gateway.deliveries.models import Outgoing
from ocpi_gateway.domain.digests import json_digest
from ocpi_gateway.domain.store import Delete, DocumentStore
from ocpi_gateway.transport.request_ids import fresh_hex_id

COLLECTION = "pushed_copies"
STAMP = "last_updated"

Json = dict[str, Any]
_Digests = dict[str, str]


def _fields(body: Json, skip: frozenset[str]) -> _Digests:
    return {k: json_digest(v) for k, v in body.items() if k not in skip}


def _changed(before: _Digests, after: _Digests, body: Json) -> Json | None:
    """The fields of ``body`` that differ from ``before``, with its stamp; None when one went
    away; empty when nothing but the stamp moved."""
    if not before.keys() <= after.keys():
        return None
    changed = {k: body[k] for k, d in after.items() if before.get(k) != d}
    return {**changed, STAMP: body[STAMP]} if changed else {}


@dataclass(frozen=True, slots=True)
class Patch:
    url: str
    body: Json


@dataclass(frozen=True, slots=True)
class Plan:
    put: Json | None
    """The whole object to PUT; None when the patches say it all."""
    patches: tuple[Patch, ...] = ()

    def outgoing(self, partner_id: str, url: str, *, headers: dict[str, str],
                 resync: Json) -> list[Outgoing]:
        """The deliveries, ordered on the object's URL (a child's PATCH never overtakes the
        object's PUT) and coalesced there; ``resync`` names the object for the outbox's
        resync provider (with ``url``, where the whole object is PUT)."""
        if self.put is not None:
            return [Outgoing(partner_id=partner_id, method="PUT", url=url, body=self.put,
                             ordering_key=url, coalesce=True, headers=headers)]
        return [Outgoing(partner_id=partner_id, method="PATCH", url=p.url, body=p.body,
                         ordering_key=url, coalesce=True, resync={**resync, "url": url},
                         headers=headers)
                for p in self.patches]


@dataclass(frozen=True, slots=True)
class _Copy:
    fields: _Digests
    children: dict[str, _Digests]

    @classmethod
    def of(cls, body: Json, children: str | None) -> _Copy:
        skip = frozenset({STAMP} | ({children} if children else set()))
        kids = (body.get(children) or []) if children else []
        return cls(_fields(body, skip),
                   {str(c["id"]): _fields(c, frozenset({STAMP, "id"})) for c in kids})

    def doc(self, rev: str, partner_id: str, url: str) -> Json:
        return {"rev": rev, "fields": self.fields, "children": self.children,
                "partner_id": partner_id, "url": url}

    def patches(self, now: _Copy, body: Json, url: str, children: str | None
                ) -> list[Patch] | None:
        if self.children.keys() != now.children.keys():
            return None
        top = _changed(self.fields, now.fields, body)
        if top is None:
            return None
        found = [Patch(url, top)] if top else []
        for child in ((body.get(children) or []) if children else []):
            cid = str(child["id"])
            part = _changed(self.children[cid], now.children[cid], child)
            if part is None:
                return None
            if part:
                found.append(Patch(f"{url}/{cid}", part))
        return found


class SentCopies:
    def __init__(self, store: DocumentStore) -> None:
        self._store = store

    @staticmethod
    def _key(partner_id: str, url: str) -> str:
        return f"{partner_id}|{url}"

    async def plan(self, partner_id: str, url: str, body: Json, *,
                   children: str | None = None, whole: bool = False,
                   keep: bool = True) -> Plan:
        """What to send ``partner_id`` for ``body`` at ``url``, the copy updated to it.
        ``children``: the field listing child objects PATCHed at their own URL; ``whole``: PUT
        it in any case (a receiver that may have lost it); ``keep`` False: nothing more will
        be sent (a booking ended), so the copy is dropped."""
        key = self._key(partner_id, url)
        now = _Copy.of(body, children)
        doc = None if whole else await self._store.get(COLLECTION, key)
        patches: Sequence[Patch] | None = None
        if doc is not None:
            patches = _Copy(doc["fields"], doc["children"]).patches(now, body, url, children)
        copy = now.doc(fresh_hex_id(), partner_id, url)
        if not keep:
            await self._store.delete(COLLECTION, key)
        elif doc is None or patches is None:
            await self._store.put(COLLECTION, key, copy)
        elif not await self._store.replace_if(COLLECTION, key, copy,
                                              expected={"rev": doc["rev"]}):
            # Another instance queued a change of this object since we read its copy: the
            # receiver may hold something neither copy says, so it gets the whole object.
            await self._store.put(COLLECTION, key, copy)
            patches = None
        if patches is None:
            return Plan(put=body)
        return Plan(put=None, patches=tuple(patches))

    async def forget(self, partner_id: str, url: str) -> None:
        """The receiver gets the object whole by other means (a resync's PUT, of the object
        as it is then): its next change is PUT whole too, so whatever was queued meanwhile
        cannot leave the receiver holding what no copy says."""
        await self._store.delete(COLLECTION, self._key(partner_id, url))

    async def forget_partner(self, partner_id: str) -> int:
        """Drop every copy of what ``partner_id`` was sent (it is no receiver any more: a
        partner that comes back is sent everything whole); how many. Rare, so read without
        an index (one would cost every push): a scan of the copies."""
        copies = await self._store.find(COLLECTION, {"partner_id": partner_id})
        await self._store.write_batch([Delete(COLLECTION, self._key(partner_id, c["url"]))
                                       for c in copies])
        return len(copies)
