"""HTTP side of the Tokens receiver: ``{tokens}/{country_code}/{party_id}/{uid}[?type=]``."""

from __future__ import annotations

import functools
from typing import Any

from aiohttp import web
from pydantic import ValidationError

from ocpi_gateway.ocpi import package
from ocpi_gateway.tokens.models import OpenTokenType, Token, TokenType
from ocpi_gateway.tokens.repository import TokenRepository
from ocpi_gateway.transport.body import invalid, parse_json
from ocpi_gateway.transport.context import current_partner, current_routing
from ocpi_gateway.transport.envelope import OcpiError, ocpi_response
from ocpi_gateway.transport.status_codes import OcpiStatus

TOKENS: web.AppKey[TokenRepository] = web.AppKey("tokens", TokenRepository)


def _address(request: web.Request, version: str) -> tuple[str, str, str, OpenTokenType]:
    info = request.match_info
    country_code, party_id, uid = info["country_code"], info["party_id"], info["uid"]
    if len(country_code) != 2 or len(party_id) != 3 or not 0 < len(uid) <= 36:
        raise OcpiError(OcpiStatus.INVALID_OR_MISSING_PARAMETERS,
                        "country_code (2), party_id (3) and token uid (1..36) are required")
    try:
        token_type = package(version).tokens.token_type(
            request.query.get("type", TokenType.RFID.value))
    except ValueError as exc:
        raise OcpiError(OcpiStatus.INVALID_OR_MISSING_PARAMETERS,
                        f"type: unknown TokenType {request.query['type']}") from exc
    # Client-owned objects: an eMSP may only write under its own roles (transport_and_format);
    # a hub under the party its OCPI-from-* headers name (checked by the transport).
    sender = current_routing(request).sender
    routed_from = sender is not None and (sender.country_code, sender.party_id) == (
        country_code.upper(), party_id.upper())
    if not routed_from and not current_partner(request).has_party(country_code, party_id):
        raise OcpiError(OcpiStatus.CLIENT_ERROR,
                        f"{country_code}/{party_id} is not a role of the calling partner",
                        http_status=403)
    return country_code.upper(), party_id.upper(), uid, token_type


def _matches_url(token: Token, country_code: str, party_id: str, uid: str,
                 token_type: OpenTokenType) -> None:
    if (token.country_code.upper(), token.party_id.upper(), token.uid.upper(), token.type) != (
            country_code, party_id, uid.upper(), token_type):
        raise OcpiError(OcpiStatus.INVALID_OR_MISSING_PARAMETERS,
                        "country_code, party_id, uid and type of the body must match the URL")


async def get_token(request: web.Request, version: str) -> web.Response:
    country_code, party_id, uid, token_type = _address(request, version)
    token = await request.app[TOKENS].get(country_code, party_id, uid, token_type)
    if token is None:
        raise OcpiError(OcpiStatus.UNKNOWN_TOKEN, f"unknown token {uid}", http_status=404)
    answer = package(version).tokens.from_internal(token)
    return ocpi_response(answer.model_dump(mode="json", exclude_none=True))


async def put_token(request: web.Request, version: str) -> web.Response:
    country_code, party_id, uid, token_type = _address(request, version)
    raw = await parse_json(request)
    try:
        token = package(version).tokens.to_internal(raw)
    except ValidationError as exc:
        raise invalid(exc) from exc
    _matches_url(token, country_code, party_id, uid, token_type)
    await request.app[TOKENS].put(token)
    return ocpi_response()


async def patch_token(request: web.Request, version: str) -> web.Response:
    country_code, party_id, uid, token_type = _address(request, version)
    repo = request.app[TOKENS]
    current = await repo.get(country_code, party_id, uid, token_type)
    if current is None:
        raise OcpiError(OcpiStatus.UNKNOWN_TOKEN, f"unknown token {uid}", http_status=404)
    patch = await parse_json(request)
    if not isinstance(patch, dict) or "last_updated" not in patch:
        raise OcpiError(OcpiStatus.INVALID_OR_MISSING_PARAMETERS,
                        "last_updated: a PATCH must contain last_updated")
    merged: dict[str, Any] = current.model_dump(mode="json") | patch
    try:
        token = package(version).tokens.to_internal(merged)
    except ValidationError as exc:
        raise invalid(exc) from exc
    _matches_url(token, country_code, party_id, uid, token_type)
    await repo.put(token)
    return ocpi_response()


def add_routes(router: web.UrlDispatcher, prefix: str, version: str) -> None:
    path = prefix + "/{country_code}/{party_id}/{uid}"
    router.add_get(path, functools.partial(get_token, version=version), allow_head=False)
    router.add_put(path, functools.partial(put_token, version=version))
    router.add_patch(path, functools.partial(patch_token, version=version))
