"""Opening a DocumentStore from its URL (the ``store_url`` setting)."""

from __future__ import annotations

from ocpi_gateway.domain.store import DocumentStore


class StoreUrlError(ValueError):
    """The store URL names no backend we have."""


async def open_store(url: str) -> DocumentStore:
    """``sqlite:///path`` (``sqlite:///:memory:`` for tests) or ``mongodb://host/db``."""
    if url.startswith("sqlite:///"):
        from ocpi_gateway.store.sqlite import SqliteStore

        return await SqliteStore.open(url[len("sqlite:///"):])
    if url.startswith(("mongodb://", "mongodb+srv://")):
        from ocpi_gateway.store.mongo import MongoStore

        return MongoStore.from_url(url)
    raise StoreUrlError(f"unsupported store_url {url!r}: use sqlite:///PATH or mongodb://HOST/DB")
