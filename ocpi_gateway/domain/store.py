"""The durable store's interface: collections of JSON documents addressed by key.

Typed repositories (partners, commands, reservations, deliveries, ...) are built on top of it,
each owning its collections, so that a backend stays small and every backend passes the same
contract tests. Backends live in ``ocpi_gateway.store``.
"""

from __future__ import annotations

from typing import Any, Protocol

Document = dict[str, Any]


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

    async def find(
        self,
        collection: str,
        where: dict[str, Any] | None = None,
        *,
        order_by: str | None = None,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[Document]:
        """Documents whose top-level fields equal every value in ``where``."""

    async def count(self, collection: str, where: dict[str, Any] | None = None) -> int: ...

    async def ping(self) -> bool: ...

    async def close(self) -> None: ...
