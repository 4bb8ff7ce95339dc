"""The durable store's interface: collections of JSON documents addressed by key.

Typed repositories (partners, commands, reservations, deliveries, ...) are built on top of it,
each owning its collections, so that a backend stays small and every backend passes the same
contract tests. Backends live in ``ocpi_gateway.store``.

A query's ``where`` maps fields to a condition (a dotted name, ``token.uid``, is a field of a
nested object: the admin API filters sessions and CDRs by their token's uid that way): a
scalar (equality; ``None`` matches a field that is null or absent), a :class:`Range` or a
:class:`OneOf`. ``order_by`` is a field
or a sequence of fields, each descending when prefixed with ``-``; ties are broken by key, in
the direction of the last field (so that an index on the fields and the key serves the order
read either way, and "newest first" lists the later key first among equals), so an order is
total and a page of :meth:`DocumentStore.find_page` can continue after the last
document of the previous one (keyset pagination: no rows skipped or read again as writes come
in, and a late page costs what the first one does).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

Document = dict[str, Any]
Scalar = bool | int | float | str


@dataclass(frozen=True, slots=True)
class Range:
    """The field lies within the given bounds (each optional; at least one). A document whose
    field is absent or null is outside every range. Bounds compare with values of their own
    type only (numbers with numbers, strings with strings)."""

    gte: Scalar | None = None
    gt: Scalar | None = None
    lte: Scalar | None = None
    lt: Scalar | None = None

    def __post_init__(self) -> None:
        if self.gte is None and self.gt is None and self.lte is None and self.lt is None:
            raise ValueError("a Range needs at least one bound")

    def bounds(self) -> list[tuple[str, Scalar]]:
        """(operator, value) of each bound given, operators as in SQL."""
        pairs: list[tuple[str, Scalar | None]] = [
            (">=", self.gte), (">", self.gt), ("<=", self.lte), ("<", self.lt)]
        return [(op, value) for op, value in pairs if value is not None]


@dataclass(frozen=True, slots=True)
class OneOf:
    """The field equals one of ``values`` (none: nothing matches)."""

    values: tuple[Scalar, ...]

    def __init__(self, values: Sequence[Scalar]) -> None:
        if any(v is None for v in values):
            raise ValueError("OneOf takes no None: ask for None with an equality")
        object.__setattr__(self, "values", tuple(values))


Condition = Scalar | Range | OneOf | None
Where = dict[str, Any]
"""field → :data:`Condition`."""
OrderBy = str | Sequence[str]

@dataclass(frozen=True, slots=True)
class Put:
    """Insert or replace, as :meth:`DocumentStore.put`."""

    collection: str
    key: str
    doc: Document


@dataclass(frozen=True, slots=True)
class Insert:
    """Insert only if absent, as :meth:`DocumentStore.insert`."""

    collection: str
    key: str
    doc: Document


@dataclass(frozen=True, slots=True)
class Delete:
    collection: str
    key: str


Write = Put | Insert | Delete
"""One write of :meth:`DocumentStore.write_batch`."""

Cursor = tuple[tuple[Any, ...], str]
"""Where a page ended: the values of its last document's order fields, and its key."""


@dataclass(frozen=True, slots=True)
class Page:
    docs: list[Document]
    next: Cursor | None
    """Pass as ``after`` for the following page; None when this page is the last."""


def order_fields(order_by: OrderBy | None) -> list[tuple[str, bool]]:
    """(field, descending) of each order field."""
    if order_by is None:
        return []
    fields = [order_by] if isinstance(order_by, str) else list(order_by)
    return [(f.lstrip("-"), f.startswith("-")) for f in fields if f]


def key_descending(order_by: OrderBy | None) -> bool:
    """Whether the key, the last tie-breaker, is read descending: as the last order field."""
    fields = order_fields(order_by)
    return bool(fields) and fields[-1][1]


def field_value(doc: Document, field: str) -> Any:
    """The value of a (dotted) field in ``doc``; None when it or an object on its way is
    absent or not an object."""
    value: Any = doc
    for part in field.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def cursor_of(doc: Document, key: str, order_by: OrderBy) -> Cursor:
    """The cursor after ``doc`` (stored under ``key``) in the order ``order_by``."""
    values = []
    for field, _ in order_fields(order_by):
        value = field_value(doc, field)
        if value is None:
            raise ValueError(f"a paged order field must be in every document: {field} is not")
        values.append(value)
    return tuple(values), key


class DocumentStore(Protocol):
    async def get(self, collection: str, key: str) -> Document | None: ...

    async def put(self, collection: str, key: str, doc: Document) -> None:
        """Insert or replace."""

    async def insert(self, collection: str, key: str, doc: Document) -> bool:
        """Insert only if absent; False when the key exists (atomic)."""

    async def replace_if(
        self, collection: str, key: str, doc: Document, *, expected: dict[str, Any]
    ) -> bool:
        """Replace only if the stored document has every field of ``expected`` at that value
        (atomic compare-and-set); False otherwise or when absent."""

    async def delete(self, collection: str, key: str) -> bool: ...

    async def write_batch(self, writes: Sequence[Write]) -> list[bool]:
        """Apply ``writes`` in their order, committed together (SQLite: one transaction, all
        or none; MongoDB: ordered bulk writes, one per run of writes to a collection, which
        stop at the first that fails). One result per write: an Insert's is whether it
        inserted (False when the key existed, before the batch or by an earlier write of
        it); a Put's and a Delete's is True (a Delete of an absent key is no error). Each
        write is durable once this returns, as it would be by its own call."""

    async def find(
        self,
        collection: str,
        where: Where | None = None,
        *,
        order_by: OrderBy | None = None,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[Document]:
        """Documents matching every condition of ``where``, in ``order_by`` order (by key
        when none is given)."""

    async def find_page(
        self,
        collection: str,
        where: Where | None = None,
        *,
        order_by: OrderBy,
        limit: int,
        after: Cursor | None = None,
    ) -> Page:
        """Up to ``limit`` documents matching ``where`` in ``order_by`` order, starting after
        ``after`` (a previous page's ``next``). Every order field must be present, not
        null, in every document the query can match (a creation time, a sequence number)."""

    async def count(self, collection: str, where: Where | None = None) -> int: ...

    async def ping(self) -> bool: ...

    async def close(self) -> None: ...
