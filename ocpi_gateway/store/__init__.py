"""Durable store backends for :class:`domain.store.DocumentStore`; :func:`open_store` picks one."""

from ocpi_gateway.store.factory import open_store

__all__ = ["open_store"]
