"""Reading one operator file (gateway.yaml, locations.yaml, policy.yaml, chargers.yaml,
tariffs.yaml, ...): YAML text → validated model, every problem named by file and key.

Each file's own module says what its model is and how its items are named in messages; the
reading, the YAML errors and the wording of validation errors are here, once, so that every
file answers an operator's mistake the same way: all of its problems at once, in plain words,
with a suggestion for a misspelt key.
"""

from __future__ import annotations

import difflib
import inspect
import types
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Union, get_args, get_origin

import yaml
from pydantic import BaseModel, ValidationError

from ocpi_gateway.domain.yaml_load import safe_load_fast

SIMILAR = 0.7
"""difflib's ratio from which a known key is offered for a misspelt one: a typo or a
transposition (``walk_in_reserv``, ``prot``) passes, an unrelated word (``colour`` for
``country``) does not."""
LISTED_KEYS = 12
"""Up to this many known keys are listed when none is near; more would bury the message."""


class OperatorFileError(Exception):
    """An operator file is unreadable or invalid. One line per problem, each starting with
    the file (or the environment variable) it is in."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.problems: tuple[str, ...] = tuple(message.splitlines())


def read_yaml(path: Path | str, error: type[OperatorFileError] = OperatorFileError, *,
              empty: Any = None) -> Any:
    """The parsed text of ``path``; ``empty`` when the file holds no document."""
    source = Path(path)
    try:
        text = source.read_text(encoding="utf-8")
    except OSError as exc:
        raise error(f"{source}: cannot read: {exc.strerror}") from exc
    try:
        raw = safe_load_fast(text)
    except yaml.YAMLError as exc:
        raise error(f"{source}: not valid YAML: {_one_line(str(exc))}") from exc
    return empty if raw is None else raw


@dataclass(frozen=True, slots=True)
class ItemNames:
    """How the items of a list are named in messages: ``locations.3`` is "location 'AMS-1'"
    at the top of the file and ``evses.0`` is "evses[AMS-1-01]" inside it (the index an
    operator would have to count is replaced by the id they wrote)."""

    noun: str
    id_key: str = "id"
    inner: Mapping[str, str] = field(default_factory=dict)
    """list key → id key of the lists inside an item, named ``key[id]``."""


Source = Callable[[tuple[str | int, ...]], str | None]
"""Where a key's value came from when not the file (e.g. an environment variable), or None."""


def describe_validation_error(source: Path | str, raw: object, exc: ValidationError, *,
                              model: type[BaseModel] | None = None,
                              items: Mapping[str, ItemNames] | None = None,
                              origin: Source | None = None) -> str:
    """One line per problem: ``file: key: what is wrong``.

    ``items`` names the items of the file's top-level lists (``file: location 'X': key: ...``);
    ``model`` lets an unknown key be answered with the nearest known one; ``origin`` names an
    environment variable as the source of a value that came from there."""
    lines = []
    for error in exc.errors():
        loc = tuple(error["loc"])
        message = _message(error, model, loc)
        where = origin(loc) if origin is not None else None
        if where is not None:
            lines.append(f"{where}: {message}")
            continue
        lines.append(f"{source}: {_where(raw, loc, items or {})}: {message}")
    return "\n".join(lines)


def _message(error: Any, model: type[BaseModel] | None, loc: tuple[str | int, ...]) -> str:
    text = str(error["msg"]).removeprefix("Value error, ")
    if error["type"] != "extra_forbidden" or model is None or not loc:
        return text
    known = known_keys(model, loc[:-1])
    if not known:
        return "not a known key"
    near = difflib.get_close_matches(str(loc[-1]), known, n=1, cutoff=SIMILAR)
    if near:
        return f"not a known key; did you mean {near[0]!r}?"
    if len(known) > LISTED_KEYS:
        return "not a known key"
    return "not a known key (known here: " + ", ".join(known) + ")"


def _where(raw: object, loc: tuple[str | int, ...], items: Mapping[str, ItemNames]) -> str:
    names = items.get(str(loc[0])) if len(loc) >= 2 and isinstance(loc[1], int) else None
    if names is None:
        return ".".join(str(part) for part in loc) or "(top level)"
    entry = _child(_child(raw, loc[0]), loc[1])
    ident = entry.get(names.id_key) if isinstance(entry, dict) else None
    head = f"{names.noun} {ident!r}" if ident else f"{names.noun} #{int(loc[1]) + 1}"
    parts: list[str] = []
    rest = list(loc[2:])
    node: object = entry
    while rest:
        part = rest.pop(0)
        id_key = names.inner.get(str(part))
        if id_key is not None and rest and isinstance(rest[0], int):
            index = rest.pop(0)
            node = _child(_child(node, part), index)
            ident = node.get(id_key) if isinstance(node, dict) else None
            parts.append(f"{part}[{ident}]" if ident is not None else f"{part}.{index}")
            continue
        node = _child(node, part)
        parts.append(str(part))
    return f"{head}: {'.'.join(parts) or '(whole object)'}"


def _child(node: object, key: str | int) -> object:
    if isinstance(node, dict):
        return node.get(key)
    if isinstance(node, list) and isinstance(key, int) and 0 <= key < len(node):
        return node[key]
    return None


def known_keys(model: type[BaseModel], loc: Sequence[str | int]) -> list[str]:
    """The keys a model accepts at ``loc`` (its fields' names and aliases), or [] when the
    path leads nowhere a model describes."""
    annotation: Any = model
    for part in loc:
        annotation = _step(annotation, part)
        if annotation is None:
            return []
    for candidate in type_alternatives(annotation):
        if inspect.isclass(candidate) and issubclass(candidate, BaseModel):
            return sorted(_field_names(candidate))
    return []


def _field_names(model: type[BaseModel]) -> set[str]:
    names = set()
    for name, info in model.model_fields.items():
        names.add(info.alias or name)
    return names


def _step(annotation: Any, part: str | int) -> Any:
    for candidate in type_alternatives(annotation):
        origin = get_origin(candidate)
        args = get_args(candidate)
        if isinstance(part, int) and origin in (list, tuple, set, frozenset, Sequence) and args:
            return args[0]
        if isinstance(part, str) and origin in (dict, Mapping) and len(args) == 2:
            return args[1]
        if isinstance(part, str) and inspect.isclass(candidate) \
                and issubclass(candidate, BaseModel):
            for name, info in candidate.model_fields.items():
                if part in (name, info.alias):
                    return info.annotation
    return None


def type_alternatives(annotation: Any) -> list[Any]:
    """The types an annotation may be: ``X | None`` → [X, None], ``Annotated[X, ...]`` → [X]."""
    origin = get_origin(annotation)
    if origin is Annotated:
        return type_alternatives(get_args(annotation)[0])
    if origin is Union or origin is types.UnionType:
        found: list[Any] = []
        for arg in get_args(annotation):
            found.extend(type_alternatives(arg))
        return found
    return [annotation]


def _one_line(text: str) -> str:
    return " ".join(part.strip() for part in text.splitlines() if part.strip())
