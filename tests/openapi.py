"""Validate OCPI bodies against the official OpenAPI files (tests/openapi_specs/, verbatim).

The YAML files are read as they are; every ``$ref`` (across files too) is inlined, and the
resulting JSON Schema is compiled with fastjsonschema. A violation raises ``OpenApiViolation``
at the first error, naming the field (``data.evses[0].status must be one of [...]``).

Usage::

    from tests.openapi import validate_response, validate_request, validate_object

    validate_response("2.2.1", "GET", "/locations/LOC1", body)        # what the gateway answered
    validate_request("2.2.1", "PUT", "/locations/NL/EXA/LOC1", body,   # what it sent to a peer
                     interface="receiver")
    validate_object("2.3.0", "commands", "CommandResult", body)

Paths are relative to the version (``/locations/...``; ``/versions`` and ``/versions/2.2.1``
for the Versions module); ``gateway_path`` turns the gateway's URLs into them. A response whose
``status_code`` is not 1000 is checked against the error envelope only (OCPI answers errors in
the envelope, without the operation's data). ``format: open-enum`` accepts any string in 2.3.0;
in 2.2.1, which has no OpenEnum type, only the listed values.
"""

from __future__ import annotations

import copy
import functools
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import fastjsonschema  # type: ignore[import-untyped]
import yaml

SPEC_ROOT = Path(__file__).parent / "openapi_specs" / "ocpi"
VERSIONS = ("2.2.1", "2.3.0")

_OUR_INTERFACE = {
    # The gateway is a CPO: the interface each module serves, and the one it calls on peers.
    "locations": ("sender", "receiver"),
    "commands": ("receiver", "sender"),
    "tokens": ("receiver", "sender"),
    "hubclientinfo": ("receiver", "sender"),
    "tariffs": ("sender", "receiver"),
    "sessions": ("sender", "receiver"),
    "cdrs": ("sender", "receiver"),
    "bookings": ("sender", "receiver"),
    "credentials": ("", ""),
    "versions": ("", ""),
}
_FORMATS: dict[str, Callable[[str], bool]] = {
    # OCPI's own annotations, and formats the files use that fastjsonschema would not know.
    "enum": lambda _: True,
    "open-enum": lambda _: True,
    "uuid": lambda _: True,
}


class OpenApiViolation(AssertionError):
    """A body does not match the official schema; the message names the field."""


class _Yaml12Loader(yaml.SafeLoader):
    """OpenAPI 3.1 files are YAML 1.2, whose booleans are only true/false: PyYAML's YAML 1.1
    would read TaxIncluded's ``YES`` / ``NO`` as booleans."""


_Yaml12Loader.yaml_implicit_resolvers = {
    first: [(tag, regex) for tag, regex in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()}
_Yaml12Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
    list("tTfF"))


@functools.cache
def _document(path: Path) -> Any:
    return yaml.load(path.read_text(encoding="utf-8"), Loader=_Yaml12Loader)


def _pointer(document: Any, pointer: str) -> Any:
    node = document
    for part in [p for p in pointer.split("/") if p]:
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def _open_enums(base: Path) -> bool:
    # The 2.2.1 files mark some enums open-enum by anticipation, but the 2.2.1 text has no
    # OpenEnum type (it came with 2.3.0): a 2.2.1 body must use the listed values.
    return "2.2.1" not in base.parts


def _resolve(node: Any, base: Path, seen: tuple[str, ...] = ()) -> Any:
    """``node`` with every $ref inlined (refs are relative to the file ``base``)."""
    if isinstance(node, list):
        return [_resolve(item, base, seen) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        ref = str(node["$ref"])
        file_part, _, pointer = ref.partition("#")
        target_file = (base.parent / file_part).resolve() if file_part else base
        key = f"{target_file}#{pointer}"
        if key in seen:
            raise RuntimeError(f"recursive $ref {ref} in {base}")
        target = _resolve(_pointer(_document(target_file), pointer), target_file, (*seen, key))
        siblings = {k: v for k, v in node.items() if k not in ("$ref", "description")}
        return {**target, **_resolve(siblings, base, seen)} if siblings else target
    resolved = {k: _resolve(v, base, seen) for k, v in node.items()
                if k not in ("example", "examples", "x-enumDescriptions")}
    if resolved.get("format") == "open-enum" and _open_enums(base):
        # OCPI 2.3.0: "unknown values SHALL be accepted"; the listed ones are only the known.
        resolved.pop("enum", None)
    return resolved


def _interface_file(version: str, module: str, interface: str) -> Path:
    name = f"{interface}-interface.yaml" if interface else "interface.yaml"
    return SPEC_ROOT / version / "modules" / module / name


def _resolved(version: str, file: str, pointer: str) -> Any:
    path = (SPEC_ROOT / version / file).resolve()
    return _resolve(_pointer(_document(path), pointer), path)


@functools.cache
def _compiled(version: str, file: str, pointer: str, inner: str = "") -> Callable[[Any], Any]:
    """The validator of the schema at ``pointer`` (then ``inner`` within the resolved node)."""
    schema = _pointer(_resolved(version, file, pointer), inner)
    validator: Callable[[Any], Any] = fastjsonschema.compile(copy.deepcopy(schema),
                                                             formats=_FORMATS)
    return validator


def _check(validator: Callable[[Any], Any], body: Any, what: str) -> None:
    try:
        validator(body)
    except fastjsonschema.JsonSchemaValueException as exc:
        field = re.sub(r"^data", "body", exc.message)
        raise OpenApiViolation(f"{what}: {field} (value: {exc.value!r:.200})") from None


def _template_regex(template: str) -> re.Pattern[str]:
    parts = re.split(r"(\{[^}]+\})", template)
    return re.compile("^" + "".join("[^/]+" if p.startswith("{") else re.escape(p)
                                    for p in parts) + "/?$")


def _operation_path(version: str, module: str, interface: str, path: str) -> str:
    """The path template of the interface file that ``path`` is an instance of; literal
    templates (``/commands/RESERVE_NOW``) win over ones with parameters."""
    file = _interface_file(version, module, interface)
    templates = list(_document(file)["paths"])
    matching = [t for t in templates if _template_regex(t).match(path)]
    if not matching:
        raise OpenApiViolation(f"{version} {module}: no operation for path {path}")
    return min(matching, key=lambda t: t.count("{"))


def _escape(template: str) -> str:
    return template.replace("~", "~0").replace("/", "~1")


def module_of(path: str) -> str:
    return path.strip("/").split("/")[0]


def validate_response(version: str, method: str, path: str, body: Any, *,
                      http_status: int = 200, interface: str | None = None) -> None:
    """A response of the gateway (``interface`` defaults to the one a CPO serves)."""
    module = module_of(path)
    status_code = body.get("status_code") if isinstance(body, dict) else None
    what = f"{version} {method} {path} response"
    # The envelope is the same in both texts (status_code and timestamp required), but only
    # the 2.3.0 file says so: the 2.2.1 file's OCPIResponse forgot its ``required``.
    _check(_compiled("2.3.0", "components/schema.yaml", "/components/schemas/OCPIResponse"),
           body, what)
    if status_code != 1000 or (interface is None and module not in _OUR_INTERFACE):
        return  # an error, or a module OCPI does not define (a test's own): the envelope only
    interface = _OUR_INTERFACE[module][0] if interface is None else interface
    template = _operation_path(version, module, interface, path)
    responses = _document(_interface_file(version, module, interface))["paths"][template][
        method.lower()]["responses"]
    code = str(http_status) if str(http_status) in responses else "200"
    file = str(_interface_file(version, module, interface).relative_to(SPEC_ROOT / version))
    pointer = f"/paths/{_escape(template)}/{method.lower()}/responses/{code}"
    if "content" not in _resolved(version, file, pointer):
        return  # e.g. 201 without a documented body
    _check(_compiled(version, file, pointer, "/content/application~1json/schema"), body, what)


def validate_request(version: str, method: str, path: str, body: Any, *,
                     interface: str | None = None) -> None:
    """A request body (what the gateway sends to a peer, by default, or receives)."""
    module = module_of(path)
    interface = _OUR_INTERFACE[module][1] if interface is None else interface
    template = _operation_path(version, module, interface, path)
    file = str(_interface_file(version, module, interface).relative_to(SPEC_ROOT / version))
    pointer = f"/paths/{_escape(template)}/{method.lower()}/requestBody"
    _check(_compiled(version, file, pointer, "/content/application~1json/schema"), body,
           f"{version} {method} {path} request body")


def validate_object(version: str, module: str, schema: str, body: Any) -> None:
    """One named schema of a module (``components`` for the shared ones)."""
    file = "components/schema.yaml" if module == "components" else f"modules/{module}/schema.yaml"
    _check(_compiled(version, file, f"/components/schemas/{schema}"), body,
           f"{version} {module}.{schema}")


def gateway_path(url_path: str) -> tuple[str, str]:
    """(version, path relative to the version) of a gateway URL path: ``/ocpi/2.2.1/locations/X``
    → ``("2.2.1", "/locations/X")``; ``/ocpi/versions`` → ``("", "/versions")`` and
    ``/ocpi/2.3.0`` → ``("2.3.0", "/versions/2.3.0")``."""
    parts = url_path.strip("/").split("/")
    if parts[:2] == ["ocpi", "versions"]:
        return "", "/versions"
    version = parts[1]
    if len(parts) == 2:
        return version, f"/versions/{version}"
    return version, "/" + "/".join(parts[2:])


def validate_gateway_response(method: str, url_path: str, body: Any, *,
                              http_status: int = 200) -> None:
    """A response of the gateway at ``url_path`` (``/ocpi/...``), in the version of its URL. The
    version list (``/ocpi/versions``) belongs to no version: it is checked against the newest,
    whose VersionNumber is open (2.2.1's closed list cannot name a later version)."""
    version, path = gateway_path(url_path)
    if version and version not in VERSIONS:
        # A version we do not serve answers an error: the envelope is the same in all.
        version, path = VERSIONS[0], "/unknown"
    validate_response(version or VERSIONS[-1], method, path, body, http_status=http_status)
