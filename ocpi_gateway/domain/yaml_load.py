"""``yaml.safe_load`` for big operator files (10,000 locations), several times faster.

PyYAML's pure-Python parser is its slowest part; libyaml's (``CSafeLoader``, in PyYAML's
wheels) replaces it. What remains is Python: the implicit-type resolution of every plain
scalar (a regex per candidate type) and the generic constructor. Operator files repeat their
keys and most values, so resolutions are memoized per load, and plain strings, lists and maps
are built directly. Anything else (ints, floats, booleans, nulls, timestamps, explicit tags,
merge keys, aliases that loop, unhashable keys) goes to PyYAML's own safe constructor, whose
result and errors stay the reference: a document the fast path cannot build is built again
by PyYAML's constructor from the same nodes.
"""

from __future__ import annotations

from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

_Base: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

_STR = "tag:yaml.org,2002:str"
_SEQ = "tag:yaml.org,2002:seq"
_MAP = "tag:yaml.org,2002:map"
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

    def construct_document(self, node: Node) -> Any:
        try:
            return _FastBuilder(self).build(node)
        except _NotFast:
            pass
        except (TypeError, RecursionError):
            pass
        self.constructed_objects: dict[Node, Any] = {}
        self.recursive_objects: dict[Node, None] = {}
        return super().construct_document(node)


class _FastBuilder:
    def __init__(self, loader: _FastSafeLoader) -> None:
        self._loader = loader
        self._built: dict[int, Any] = {}
        self._building: set[int] = set()

    def build(self, node: Node) -> Any:
        if type(node) is ScalarNode:
            if node.tag == _STR:
                return node.value
            # Typed scalars are few and leaf-only: PyYAML's constructor, as it would.
            return self._loader.construct_object(node, deep=True)
        ident = id(node)
        built = self._built.get(ident)
        if built is not None:
            return built  # an alias: the same object, as PyYAML gives
        if ident in self._building:
            raise _NotFast  # a recursive alias
        self._building.add(ident)
        result: Any
        if type(node) is SequenceNode and node.tag == _SEQ:
            result = [self.build(item) for item in node.value]
        elif type(node) is MappingNode and node.tag == _MAP:
            result = {}
            for key_node, value_node in node.value:
                if key_node.tag in _SPECIAL_KEYS:
                    raise _NotFast
                result[self.build(key_node)] = self.build(value_node)
        else:
            raise _NotFast
        self._building.discard(ident)
        self._built[ident] = result
        return result


def safe_load_fast(text: str) -> Any:
    """What ``yaml.safe_load(text)`` returns, raising the same ``yaml.YAMLError`` on bad
    input."""
    loader = _FastSafeLoader(text)
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()
