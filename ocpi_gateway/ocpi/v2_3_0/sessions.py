"""OCPI 2.3.0 Session and its PATCH: the shared fields, total_cost in 2.3.0's Price."""

from __future__ import annotations

from ocpi_gateway.ocpi.shared.sessions import SessionFields, SessionPatchFields, SessionsMapping
from ocpi_gateway.ocpi.v2_3_0 import cdrs
from ocpi_gateway.ocpi.v2_3_0.prices import Price, price


class Session(SessionFields):
    total_cost: Price | None = None


class SessionPatch(SessionPatchFields):
    total_cost: Price | None = None


MAPPING = SessionsMapping(Session, SessionPatch, price, cdrs.dimension, cdrs.token_type)
