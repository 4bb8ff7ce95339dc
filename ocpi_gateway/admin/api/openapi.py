"""The OpenAPI 3.1 document of the admin API, generated from the operation table and the
pydantic models the routes parse and answer with (never written by hand)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, Literal

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from ocpi_gateway.admin.access import CSRF_HEADER, SAFE_METHODS, SESSION_COOKIE
from ocpi_gateway.admin.api.framework import ErrorBody, Operation

_REF = "#/components/schemas/{model}"
_PATH_PARAM = re.compile(r"\{([^}:]+)(?::[^}]*)?\}")
_ERRORS = {400: "bad input (the details name each field)", 401: "not authenticated",
           403: "not allowed (role, CSRF)", 404: "no such thing", 409: "conflict with the "
           "current state", 415: "the body is not JSON", 429: "too many failed logins",
           500: "internal error", 503: "unavailable (the audit log cannot be written, "
           "the charger or store is unreachable)"}

Mode = Literal["validation", "serialization"]


def _models(operations: Sequence[Operation]) -> list[tuple[type[BaseModel], Mode]]:
    wanted: list[tuple[type[BaseModel], Mode]] = [(ErrorBody, "serialization")]
    for op in operations:
        for model, mode in ((op.query, "validation"), (op.body, "validation"),
                            (op.response, "serialization")):
            if model is not None and (model, mode) not in wanted:
                wanted.append((model, mode))  # type: ignore[arg-type]
    return wanted


def _name(ref: dict[str, Any]) -> str:
    return str(ref["$ref"]).rsplit("/", 1)[1]


def _query_parameters(schema: dict[str, Any]) -> list[dict[str, Any]]:
    required = set(schema.get("required", []))
    parameters = []
    for name, prop in schema.get("properties", {}).items():
        parameter: dict[str, Any] = {"name": name, "in": "query", "required": name in required,
                                     "schema": {k: v for k, v in prop.items()
                                                if k != "description"}}
        if prop.get("description"):
            parameter["description"] = prop["description"]
        parameters.append(parameter)
    return parameters


def _json_content(ref: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": ref}}


def openapi_document(operations: Sequence[Operation], *, title: str, version: str,
                     server_url: str | None = None) -> dict[str, Any]:
    key_map, top = models_json_schema(_models(operations), ref_template=_REF)
    components: dict[str, Any] = dict(top.get("$defs", {}))
    error_ref = key_map[(ErrorBody, "serialization")]
    query_models = {_name(key_map[(op.query, "validation")]) for op in operations if op.query}
    paths: dict[str, dict[str, Any]] = {}
    for op in operations:
        path = _PATH_PARAM.sub(lambda m: "{" + m.group(1) + "}", op.path)
        item: dict[str, Any] = {
            "operationId": op.operation_id, "summary": op.summary, "tags": [op.tag],
        }
        if op.description:
            item["description"] = op.description
        parameters = [{"name": name, "in": "path", "required": True,
                       "schema": {"type": "string"}} for name in _PATH_PARAM.findall(op.path)]
        if op.query is not None:
            parameters += _query_parameters(
                components[_name(key_map[(op.query, "validation")])])
        if op.role is not None and op.method not in SAFE_METHODS:
            parameters.append({
                "name": CSRF_HEADER, "in": "header", "required": False,
                "description": "the session's CSRF token: required with the session cookie, "
                "not with a bearer token", "schema": {"type": "string"}})
        if parameters:
            item["parameters"] = parameters
        if op.body is not None:
            ref = key_map[(op.body, "validation")]
            # A body whose every field has a default may be left out.
            item["requestBody"] = {"required": bool(components[_name(ref)].get("required")),
                                   "content": _json_content(ref)}
        responses: dict[str, Any] = {}
        if op.response is not None:
            responses[str(op.status)] = {
                "description": "done" if op.action else "what was asked for",
                "content": _json_content(key_map[(op.response, "serialization")])}
        elif op.streams is not None:
            responses["200"] = {"description": "a stream, until the client leaves",
                                "content": {op.streams: {"schema": {"type": "string"}}}}
        else:
            responses["204"] = {"description": "done"}
        errors = set(op.errors) | {500}
        if op.role is not None:
            errors |= {401, 403}
        if op.body is not None or op.query is not None:
            errors |= {400}
        if op.body is not None:
            errors |= {415}
        if op.action is not None:
            errors |= {503}
        for status in sorted(errors):
            responses[str(status)] = {"description": _ERRORS[status],
                                      "content": _json_content(error_ref)}
        item["responses"] = responses
        item["security"] = [] if op.role is None else [{"bearer": []}, {"session": []}]
        if op.role is not None:
            item["x-required-role"] = op.role.value
        paths.setdefault(path, {})[op.method.lower()] = item
    for name in query_models:
        components.pop(name, None)  # described as parameters instead
    document: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version,
                 "description": "The gateway's admin API. Viewers read; operators also act "
                 "(every action is in the audit log with who did it). Log in with POST "
                 "/admin/api/session (cookie + CSRF token) or get a bearer token with POST "
                 "/admin/api/tokens."},
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer",
                           "description": "an API token from POST /admin/api/tokens"},
                "session": {"type": "apiKey", "in": "cookie", "name": SESSION_COOKIE,
                            "description": "a browser session from POST /admin/api/session; "
                            f"unsafe requests also carry {CSRF_HEADER}"},
            },
        },
        "tags": [{"name": tag} for tag in dict.fromkeys(op.tag for op in operations)],
    }
    if server_url:
        document["servers"] = [{"url": server_url}]
    return document
