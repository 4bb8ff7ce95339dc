"""Every example config an operator may copy loads with the loader the gateway itself uses.

Files: every YAML file under config/, docs/ and docker/ (the kind comes from its name:
gateway, locations, tariffs, policy, chargers or operators). Documentation: every fenced
```yaml block in docs/ whose first line is ``# example: <kind>``.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.deployment._paths import ROOT

KINDS = ("gateway", "locations", "tariffs", "policy", "chargers", "operators")
# kind → (module, function): the loaders the gateway calls on these files at start.
LOADERS = {
    "gateway": ("ocpi_gateway.config", "load_settings"),
    "locations": ("ocpi_gateway.locations.catalog", "load_locations_file"),
    "tariffs": ("ocpi_gateway.tariffs.catalog", "load_tariffs_file"),
    "policy": ("ocpi_gateway.reservation_policy.policy", "load_policy"),
    "chargers": ("ocpi_gateway.ocpp_adapter.chargers_config", "load_chargers"),
    "operators": ("ocpi_gateway.admin.operators", "load_operators"),
}
_EXAMPLE_BLOCK = re.compile(r"^```ya?ml\n# example: (\w+)[^\n]*\n(.*?)^```", re.M | re.S)


def _loader(kind: str) -> Callable[[Path], Any]:
    module, name = LOADERS[kind]
    loader: Callable[[Path], Any] = getattr(importlib.import_module(module), name)
    return loader


def _kind_of(path: Path) -> str:
    for kind in KINDS:
        if kind in path.stem:
            return kind
    raise AssertionError(f"{path}: cannot tell which config this is from its name; name it "
                         f"after one of {KINDS} so that this test loads it")


def _example_files() -> list[Path]:
    files: list[Path] = []
    for folder in ("config", "docs", "docker"):
        for pattern in ("*.yaml", "*.yml"):
            files += (ROOT / folder).rglob(pattern)
    # compose.yaml is not a gateway file; test_compose_file validates it.
    return sorted(path for path in files if path.name != "compose.yaml")


def _doc_examples() -> list[tuple[str, str, str]]:
    examples = []
    for doc in sorted((ROOT / "docs").rglob("*.md")):
        for number, match in enumerate(_EXAMPLE_BLOCK.finditer(doc.read_text("utf-8")), 1):
            examples.append((f"{doc.name}#{number}-{match.group(1)}", match.group(1),
                             match.group(2)))
    return examples


EXAMPLE_FILES = _example_files()
DOC_EXAMPLES = _doc_examples()


def test_the_examples_cover_every_kind() -> None:
    kinds = {_kind_of(path) for path in EXAMPLE_FILES}
    assert {"gateway", "locations"} <= kinds, kinds


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_example_file_loads(path: Path) -> None:
    loaded = _loader(_kind_of(path))(path)
    assert loaded is not None


@pytest.mark.parametrize("example", DOC_EXAMPLES, ids=lambda e: e[0])
def test_documented_example_loads(example: tuple[str, str, str], tmp_path: Path) -> None:
    _, kind, text = example
    assert kind in KINDS, f"unknown example kind {kind!r}"
    path = tmp_path / f"{kind}.yaml"
    path.write_text(text, encoding="utf-8")
    assert _loader(kind)(path) is not None


def test_files_named_by_the_repository_gateway_config_exist_and_load() -> None:
    from ocpi_gateway.config import CHECKOUT_CONFIG, default_config_path, load_settings

    # ./run.sh runs in the checkout, where the default is its config/gateway.yaml.
    config = default_config_path({}, cwd=ROOT, system=ROOT / "nonexistent")
    if config != ROOT / CHECKOUT_CONFIG:
        pytest.fail(f"{ROOT / CHECKOUT_CONFIG} is missing: ./run.sh starts from it")
    settings = load_settings(config)
    for kind in ("locations", "tariffs", "policy", "chargers"):
        file = getattr(settings, f"{kind}_file")
        if file is not None:
            assert file.exists(), f"config/gateway.yaml names {file}, which does not exist"
            assert _loader(kind)(file) is not None


def test_a_broken_example_is_reported(tmp_path: Path) -> None:
    # The loaders really validate: an unknown key in a policy file is an error.
    broken = tmp_path / "policy.yaml"
    broken.write_text("defaults:\n  walk_in_reserv: 1\n", encoding="utf-8")
    with pytest.raises(Exception, match="walk_in_reserv"):
        _loader("policy")(broken)
