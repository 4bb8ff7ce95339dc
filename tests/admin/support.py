"""The admin API in tests: an operators file, a client that logs in like a browser (cookie jar,
CSRF header) or like a script (bearer token), and every answer checked against the OpenAPI
document the gateway serves."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import jsonschema
import yaml
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from ocpi_gateway.ocpp_adapter.auth import hash_password

PASSWORDS = {"alice": "alice-password-1", "victor": "victor-password-1",
             "olga": "olga-password-12"}
ROLES = {"alice": "operator", "victor": "viewer", "olga": "operator"}


def write_operators(path: Path, names: Sequence[str] = ("alice", "victor"),
                    passwords: dict[str, str] | None = None) -> Path:
    """An operators file; cheap scrypt parameters keep logins fast in tests."""
    passwords = {**PASSWORDS, **(passwords or {})}
    path.write_text(yaml.safe_dump({"operators": [
        {"name": name, "role": ROLES[name],
         "password_hash": hash_password(passwords[name], log2_n=8)} for name in names]}),
        encoding="utf-8")
    return path


class OpenApiChecker:
    """Validates answers against the served document: the operation's declared response
    schema for its status, with every $ref resolved inside the document."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document
        resource: Resource[Any] = Resource(contents=document, specification=DRAFT202012)
        self._registry: Registry[Any] = Registry().with_resource("urn:admin-api", resource)

    def operation(self, method: str, template: str) -> dict[str, Any]:
        return dict(self.document["paths"][template][method.lower()])

    def check(self, method: str, template: str, status: int, body: Any) -> None:
        responses = self.operation(method, template)["responses"]
        assert str(status) in responses, f"{method} {template}: {status} is not documented"
        content = responses[str(status)].get("content")
        if content is None:
            assert body is None, f"{method} {template}: {status} documents no body"
            return
        schema = content["application/json"]["schema"]
        ref = "urn:admin-api" + schema["$ref"] if "$ref" in schema else None
        validator = jsonschema.Draft202012Validator(
            {"$ref": ref} if ref else schema, registry=self._registry)
        errors = sorted(validator.iter_errors(body), key=lambda e: list(e.path))
        assert not errors, f"{method} {template} {status}: " + "; ".join(
            f"{'/'.join(map(str, e.path))}: {e.message}" for e in errors[:5])


def template_of(document: dict[str, Any], method: str, path: str) -> str:
    """The document's path template that ``path`` (without query) matches."""
    parts = path.split("?")[0].split("/")
    for template, item in document["paths"].items():
        pieces = template.split("/")
        if method.lower() in item and len(pieces) == len(parts) and all(
                p.startswith("{") or p == q for p, q in zip(pieces, parts, strict=True)):
            return str(template)
    raise AssertionError(f"{method} {path} is not in the OpenAPI document")


@dataclass
class Answer:
    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)


class AdminClient:
    """One operator's client: ``login`` (cookie + CSRF) or ``use_token`` (bearer)."""

    def __init__(self, base_url: str, *, local_addr: str | None = None) -> None:
        connector = aiohttp.TCPConnector(local_addr=(local_addr, 0)) if local_addr else None
        # unsafe: the test gateway is addressed by IP, whose cookies the default jar refuses.
        self.http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True),
                                          connector=connector)
        self.base_url = base_url
        self.csrf: str | None = None
        self.token: str | None = None
        self.checker: OpenApiChecker | None = None

    async def close(self) -> None:
        await self.http.close()

    async def raw(self, method: str, path: str, *, json: Any = None,
                  headers: dict[str, str] | None = None, send_csrf: bool = True) -> Answer:
        all_headers = dict(headers or {})
        if self.token is not None:
            all_headers.setdefault("Authorization", f"Bearer {self.token}")
        if send_csrf and self.csrf is not None and method not in ("GET", "HEAD"):
            all_headers.setdefault("X-CSRF-Token", self.csrf)
        async with self.http.request(method, self.base_url + path, json=json,
                                     headers=all_headers) as response:
            text = await response.text()
            body = None
            if text and response.content_type == "application/json":
                body = await response.json()
            return Answer(response.status, body, dict(response.headers))

    async def call(self, method: str, path: str, **kwargs: Any) -> Answer:
        """``raw``, and the answer checked against the served OpenAPI document."""
        answer = await self.raw(method, path, **kwargs)
        if self.checker is not None:
            self.checker.check(method, template_of(self.checker.document, method, path),
                               answer.status, answer.body)
        return answer

    async def login(self, name: str, password: str | None = None) -> Answer:
        answer = await self.raw("POST", "/admin/api/session",
                                json={"name": name, "password": password or PASSWORDS[name]})
        if answer.status == 200:
            self.csrf = answer.body["csrf_token"]
            await self.load_document()
        return answer

    async def use_token(self, name: str, password: str | None = None, **extra: Any) -> Answer:
        answer = await self.raw("POST", "/admin/api/tokens",
                                json={"name": name, "password": password or PASSWORDS[name],
                                      **extra})
        if answer.status == 201:
            self.token = answer.body["token"]
            await self.load_document()
        return answer

    async def load_document(self) -> None:
        if self.checker is None:
            answer = await self.raw("GET", "/admin/api/openapi.json")
            assert answer.status == 200, answer
            self.checker = OpenApiChecker(answer.body)
