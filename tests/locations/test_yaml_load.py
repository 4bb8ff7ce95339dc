"""The fast YAML loader gives what yaml.safe_load gives, errors included."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from ocpi_gateway.domain.yaml_load import NotStreamable, RootListStream, safe_load_fast
from ocpi_gateway.locations.sample import sample_location

DOCUMENTS = [
    "",
    "just a string",
    "- 1\n- 2.5\n- -3\n- 0x1f\n- 1e3\n- .inf\n",
    "a: yes\nb: No\nc: true\nd: ~\ne: null\nf:\ng: '123'\nh: \"true\"\ni: 2024-05-01\n"
    "j: 2024-05-01T10:00:00Z\nk: 3811 MH\nl: 52.150000\nm: NO\n",
    "base: &b {x: 1, y: [a, b]}\nother: *b\nmerged:\n  <<: *b\n  y: [c]\n",
    "tagged: !!str 42\nseq: !!seq [1, 2]\nset: !!set {a, b}\nbinary: !!binary aGVsbG8=\n",
    "nested: {a: [{b: {c: [1, {d: e}]}}]}\n",
    "? [1, 2]\n: complex key\n",
    "dup: 1\ndup: 2\n",
    "- [1, 1, 1.0, true, True, 2024-05-01, 2024-05-01, ~, null, 0x1, 01]\n- {a: 1, b: 1.0}\n",
]


@pytest.mark.parametrize("text", DOCUMENTS)
def test_same_result_as_safe_load(text: str) -> None:
    try:
        expected: Any = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        with pytest.raises(type(exc)):
            safe_load_fast(text)
        return
    assert safe_load_fast(text) == expected


def test_aliases_are_the_same_object_as_with_safe_load() -> None:
    loaded = safe_load_fast("base: &b [1, 2]\nagain: *b\n")
    assert loaded["again"] is loaded["base"]


def test_a_recursive_alias_is_built_as_safe_load_builds_it() -> None:
    loaded = safe_load_fast("a: &x\n  self: *x\n")
    assert loaded["a"]["self"] is loaded["a"]


@pytest.mark.parametrize("text", ["a: [1, 2\n", "a: b: c\n", "- a\nb: c\n", "a: *nope\n"])
def test_bad_yaml_raises_a_yaml_error(text: str) -> None:
    with pytest.raises(yaml.YAMLError):
        safe_load_fast(text)


def test_an_operator_file_loads_as_with_safe_load() -> None:
    text = yaml.safe_dump({"locations": [sample_location(i) for i in range(30)]})
    assert safe_load_fast(text) == yaml.safe_load(text)


# -- RootListStream: the locations list a location at a time ------------------------------

def streamed(text: str, key: str = "locations") -> tuple[list[Any], dict[Any, Any]]:
    stream = RootListStream(text, key)
    items = list(stream.items())
    return items, stream.root


@pytest.mark.parametrize("text", [
    "locations:\n- {id: A, n: 1}\n- {id: B, n: 2.5, on: yes}\n",
    "before: 1\nlocations: []\nafter: [x, y]\n",
    "defaults: &d {x: 1}\nlocations:\n- *d\n- {y: *d}\n",
    "other: only\n",
    "locations:\n- [1, 2024-05-01, ~, '1']\n- just text\n",
])
def test_streamed_items_and_root_are_what_safe_load_gives(text: str) -> None:
    expected = yaml.safe_load(text)
    items, root = streamed(text)
    assert items == expected.get("locations", [])
    assert root == {**expected, **({"locations": []} if "locations" in expected else {})}


def test_each_item_comes_before_the_rest_is_parsed() -> None:
    # The error after the list is raised only when the stream gets there.
    stream = RootListStream("locations:\n- {id: A}\n- {id: B}\nafter: [\n", "locations")
    items = stream.items()
    assert next(items) == {"id": "A"}
    assert next(items) == {"id": "B"}
    with pytest.raises(yaml.YAMLError):
        next(items)


def test_strings_and_anchors_are_shared_as_safe_load_fast_shares_them() -> None:
    text = "shared: &s {x: 1}\nlocations:\n- {k: repeated, a: *s}\n- {k: repeated, a: *s}\n"
    items, root = streamed(text)
    assert items[0]["k"] is items[1]["k"]
    assert items[0]["a"] is items[1]["a"] is root["shared"]
    whole = safe_load_fast(text)
    assert whole["locations"] == items


@pytest.mark.parametrize("text", [
    "", "- 1\n", "just text\n", "locations: {a: 1}\n", "locations: &x [1]\n",
    "locations: !!seq [1]\n", "<<: {a: 1}\nlocations: []\n", "locations: [1]\nlocations: [2]\n",
    "locations: [1]\n---\nlocations: [2]\n", "locations:\n- !!str 1\n",
    "base: &b {a: 1}\nlocations:\n- {<<: *b, c: 2}\n", "!!map {locations: []}\n",
    "locations:\n- {[1, 2]: unhashable}\n",
])
def test_what_needs_pyyaml_s_own_loader_is_not_streamed(text: str) -> None:
    with pytest.raises(NotStreamable):
        streamed(text)
