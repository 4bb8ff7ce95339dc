"""scripts/mutate.py, the mutation runner: every mutant compiles, each has its own key, and the
equivalents file names mutants that exist (a stale line would silently count nothing)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def mutate() -> ModuleType:
    spec = importlib.util.spec_from_file_location("mutate_runner", ROOT / "scripts" / "mutate.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while being built
    spec.loader.exec_module(module)
    return module


SOURCE = '''\
TABLE = {}
TABLE["a"] = 1
register(TABLE)


def first(x):
    return x + 1


def second(x):
    return x + 1


LIMIT = 256 * 1024 * 1024
'''


def test_module_level_statements_removed_compile_and_run(mutate: ModuleType,
                                                        tmp_path: Path) -> None:
    path = tmp_path / "target.py"
    path.write_text(SOURCE)
    mutants = mutate.mutants_of(str(path))
    removed = [m for m in mutants if m.description.startswith("statement removed")]
    assert {m.line for m in removed} == {2, 3}
    for m in mutants:
        namespace: dict[str, object] = {"register": lambda table: None}
        exec(mutate.mutated_code(m), namespace)  # each compiles, at module level too
    item = next(m for m in removed if m.line == 2)
    namespace = {"register": lambda table: None}
    exec(mutate.mutated_code(item), namespace)
    assert namespace["TABLE"] == {}


def test_the_same_mutation_of_the_same_line_text_is_numbered(mutate: ModuleType,
                                                             tmp_path: Path) -> None:
    path = tmp_path / "target.py"
    path.write_text(SOURCE)
    mutants = mutate.mutants_of(str(path))
    keys = [m.key() for m in mutants]
    assert len(keys) == len(set(keys))
    plus = [m for m in mutants if m.description == "`+` -> `-`"]
    assert [(m.line, m.label()) for m in plus] == [(7, "`+` -> `-`"), (11, "`+` -> `-` #2")]
    cap = [m.label() for m in mutants if m.line == 14 and "1024" in m.description]
    assert cap == ["`1024` -> `1025`", "`1024` -> `1025` #2"]
    assert plus[1].key() == f"{path} :: return x + 1 :: `+` -> `-` #2"


def test_every_listed_equivalent_names_a_mutant(mutate: ModuleType) -> None:
    known = mutate._equivalents()
    assert known
    existing: set[str] = set()
    for path in sorted({key.split(" :: ", 1)[0] for key in known}):
        existing.update(m.key() for m in mutate.mutants_of(path))
    assert sorted(set(known) - existing) == []
    assert all(reason for reason in known.values())  # each says why


def test_targets_exist(mutate: ModuleType) -> None:
    for module, folders in mutate.TARGETS.items():
        assert (ROOT / module).is_file(), module
        assert all((ROOT / folder).exists() for folder in folders), module


def test_a_module_level_item_assignment_is_followed_by_its_table_only(mutate: ModuleType,
                                                                      tmp_path: Path) -> None:
    path = tmp_path / "table.py"
    path.write_text("import enum\n\n\n"
                    "class Kind(enum.Enum):\n    A = 1\n    B = 2\n\n\n"
                    "TABLE = {Kind.A: 1}\n"
                    "TABLE[Kind.B] = 2\n\n\n"
                    "def lookup(kind):\n    return TABLE[kind]\n\n\n"
                    "def name(kind):\n    return Kind(kind).name\n")
    definition = mutate.definition_at(str(path), 10)
    assert definition is not None
    assert definition.names == ("TABLE",)
    assert 14 in definition.reader_lines and 18 not in definition.reader_lines
