"""``yaml.safe_load`` for big operator files (10,000 locations), several times faster.

PyYAML's pure-Python parser is its slowest part; libyaml's (``CSafeLoader``, in PyYAML's
wheels) replaces it. What remains is Python: the implicit-type resolution of every plain
scalar (a regex per candidate type) and the generic constructor. Operator files repeat their
keys and most values, so resolutions are memoized per load, and strings, lists and maps are built
straight from the parser's events, without PyYAML's node tree (which for 10,000 locations
costs more memory than everything the gateway keeps). Typed scalars (ints, floats,
booleans, nulls, timestamps) go to PyYAML's own safe constructor; a document with explicit
tags, merge keys, unhashable keys or several documents is loaded again by PyYAML's
``CSafeLoader``, whose result and errors stay the reference.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import yaml
from yaml.events import (
    AliasEvent,
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceEndEvent,
    SequenceStartEvent,
    StreamEndEvent,
)
from yaml.nodes import ScalarNode

_Base: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

_STR = "tag:yaml.org,2002:str"
_SEQ = "tag:yaml.org,2002:seq"
_MAP = "tag:yaml.org,2002:map"
_IMMUTABLE = frozenset(f"tag:yaml.org,2002:{name}"
                       for name in ("bool", "int", "float", "null", "timestamp"))
_SPECIAL_KEYS = frozenset({"tag:yaml.org,2002:merge", "tag:yaml.org,2002:value"})


_TYPED_FIRST = frozenset(yaml.SafeLoader.yaml_implicit_resolvers)
"""First characters that may start an int, float, bool, null, timestamp, merge or value."""


class _NotFast(Exception):
    """The document needs PyYAML's own constructor."""


class _FastSafeLoader(_Base):  # type: ignore[misc]
    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._resolved: dict[tuple[str, tuple[bool, bool]], str] = {}

    def resolve(self, kind: Any, value: Any, implicit: Any) -> Any:
        if kind is not ScalarNode or self.yaml_path_resolvers or None in _TYPED_FIRST:
            return super().resolve(kind, value, implicit)
        # As BaseResolver.resolve: a quoted scalar, or a plain one whose first character
        # starts no implicit type, is a string.
        if not implicit[0] or (value and value[0] not in _TYPED_FIRST):
            return _STR
        key = (value, implicit)
        tag = self._resolved.get(key)
        if tag is None:
            tag = self._resolved[key] = super().resolve(kind, value, implicit)
        return tag



class _EventBuilder:
    """Builds the document from the parser's events: no node tree is kept (for 10,000
    locations the tree, two marks a node, would be most of the process's memory)."""

    def __init__(self, loader: _FastSafeLoader) -> None:
        self._loader = loader
        self._anchors: dict[str, Any] = {}
        # One object per distinct string: a big file repeats its keys and most values, and
        # each copy would stay alive in the models built from it.
        self._strings: dict[str, str] = {}
        self._typed: dict[tuple[str, str], Any] = {}
        # A scalar's value by its text, style of plainness and tag: every value a safe load
        # gives a scalar without an explicit tag is immutable (strings, numbers, booleans,
        # null, dates), so an operator file's repeated keys and values cost one lookup.
        self._scalars: dict[tuple[str, Any, str | None], Any] = {}

    def document(self) -> Any:
        loader = self._loader
        loader.get_event()  # StreamStartEvent
        if isinstance(loader.peek_event(), StreamEndEvent):
            return None
        loader.get_event()  # DocumentStartEvent
        value = self.build(loader.get_event())
        loader.get_event()  # DocumentEndEvent
        if not isinstance(loader.peek_event(), StreamEndEvent):
            raise _NotFast  # several documents: PyYAML's own error
        return value

    def build(self, event: Any) -> Any:
        kind = type(event)
        if kind is ScalarEvent and event.anchor is None:
            key = (event.value, event.implicit, event.tag)
            try:
                return self._scalars[key]
            except KeyError:
                pass
            if event.tag not in (None, "!"):
                raise _NotFast  # an explicit tag
            value = self._scalars[key] = self._scalar(event)
            return value
        if kind is AliasEvent:
            if event.anchor not in self._anchors:
                raise _NotFast  # PyYAML's own error
            return self._anchors[event.anchor]
        if event.tag not in (None, "!"):
            raise _NotFast  # an explicit tag
        if kind is ScalarEvent:
            value = self._scalar(event)
        elif kind is SequenceStartEvent:
            value = []
            self._anchor(event, value)
            get = self._loader.get_event
            item = get()
            while type(item) is not SequenceEndEvent:
                value.append(self.build(item))
                item = get()
            return value
        elif kind is MappingStartEvent:
            value = {}
            self._anchor(event, value)
            get = self._loader.get_event
            key_event = get()
            while type(key_event) is not MappingEndEvent:
                if type(key_event) is ScalarEvent and self._tag(key_event) in _SPECIAL_KEYS:
                    raise _NotFast  # a merge key
                key = self.build(key_event)
                value[key] = self.build(get())  # an unhashable key: TypeError
                key_event = get()
            return value
        else:
            raise _NotFast
        self._anchor(event, value)
        return value

    def _anchor(self, event: Any, value: Any) -> None:
        if event.anchor is not None:
            self._anchors[event.anchor] = value

    def _tag(self, event: Any) -> str:
        if event.tag == "!":
            return _STR
        return str(self._loader.resolve(ScalarNode, event.value, event.implicit))

    def _scalar(self, event: Any) -> Any:
        tag = self._tag(event)
        if tag == _STR:
            value: str = event.value
            return self._strings.setdefault(value, value)
        # Typed scalars: PyYAML's constructor, as it would, once per distinct text (the values
        # are immutable: ints, floats, booleans, None, dates).
        key = (tag, event.value)
        if key in self._typed:
            return self._typed[key]
        node = ScalarNode(tag, event.value, event.start_mark, event.end_mark, event.style)
        value = self._loader.construct_object(node, deep=True)
        if tag in _IMMUTABLE:
            self._typed[key] = value
        return value


def safe_load_fast(text: str) -> Any:
    """What ``yaml.safe_load(text)`` returns, raising the same ``yaml.YAMLError`` on bad
    input."""
    loader = _FastSafeLoader(text)
    try:
        return _EventBuilder(loader).document()
    except (_NotFast, TypeError, RecursionError):
        pass
    finally:
        loader.dispose()
    return yaml.load(text, Loader=_Base)  # a safe loader (CSafeLoader or SafeLoader)


class NotStreamable(Exception):
    """The document is not a plain mapping whose list can be streamed: load it whole."""


class RootListStream:
    """The items of one list of the root mapping (``locations:`` of the locations file), each
    handed out as soon as libyaml has parsed it, so that a consumer validates one while the
    rest is still text and the whole list is never held as parsed data. An item is what
    ``safe_load_fast`` would have put in that list (the same strings, shared the same way).

    ``items()`` raises ``NotStreamable`` (possibly after some items) where ``safe_load_fast``
    would need PyYAML's own constructor or the root is not such a mapping, and
    ``yaml.YAMLError`` where the text is not YAML; ``root`` holds the other keys once
    ``items()`` is exhausted, ``key`` mapped to an empty list."""

    def __init__(self, text: str, key: str) -> None:
        self._text = text
        self._key = key
        self.root: dict[Any, Any] = {}

    def items(self) -> Iterator[Any]:
        loader = _FastSafeLoader(self._text)
        try:
            yield from self._items(_EventBuilder(loader))
        except (_NotFast, TypeError, RecursionError) as exc:
            raise NotStreamable(str(exc)) from exc
        finally:
            loader.dispose()

    def _items(self, builder: _EventBuilder) -> Iterator[Any]:
        loader = builder._loader
        get = loader.get_event
        get()  # StreamStartEvent
        if isinstance(loader.peek_event(), StreamEndEvent):
            raise NotStreamable("no document")
        get()  # DocumentStartEvent
        start = get()
        if type(start) is not MappingStartEvent or start.tag not in (None, "!") or (
                start.anchor is not None):
            raise NotStreamable("the root is not a plain mapping")
        streamed = False
        key_event = get()
        while type(key_event) is not MappingEndEvent:
            if type(key_event) is ScalarEvent and builder._tag(key_event) in _SPECIAL_KEYS:
                raise NotStreamable("a merge key")
            key = builder.build(key_event)
            if key == self._key and isinstance(key, str):
                if streamed:
                    raise NotStreamable(f"{key!r} appears twice")
                streamed = True
                sequence = get()
                if type(sequence) is not SequenceStartEvent or sequence.tag not in (
                        None, "!") or sequence.anchor is not None:
                    raise NotStreamable(f"{key!r} is not a plain list")
                item = get()
                while type(item) is not SequenceEndEvent:
                    yield builder.build(item)
                    item = get()
                self.root[key] = []
            else:
                self.root[key] = builder.build(get())
            key_event = get()
        get()  # DocumentEndEvent
        if not isinstance(loader.peek_event(), StreamEndEvent):
            raise NotStreamable("several documents")
