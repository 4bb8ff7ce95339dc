"""The one-way dependency rule between the parts of ``ocpi_gateway`` (docs/architecture.md).

Read from the source with ``ast`` (imports inside functions included), so a rule is broken the
moment the import is written, not only when it runs.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

PACKAGE_ROOT = Path(__file__).resolve().parent.parent / "ocpi_gateway"


@dataclass(frozen=True)
class Rule:
    part: str
    allowed_internal: frozenset[str]
    forbidden_external: frozenset[str]


# Web and wire libraries the reservation core must not know of; the OCPP adapter may use the
# websocket side (aiohttp, ocpp) but nothing of OCPI.
RULES = (
    Rule("domain", frozenset({"domain"}), frozenset({"aiohttp", "ocpp", "redis", "pymongo"})),
    Rule("redis_clients", frozenset({"redis_clients"}),
         frozenset({"aiohttp", "ocpp", "websockets", "httpx", "pymongo"})),
    Rule("ocpp_adapter", frozenset({"domain", "ocpp_adapter", "redis_clients"}), frozenset()),
    Rule(
        "reservation_policy",
        frozenset({"domain", "reservation_policy", "redis_clients"}),
        frozenset({"aiohttp", "ocpp", "websockets", "httpx", "pymongo"}),
    ),
)


def _module_name(path: Path, root: Path) -> str:
    relative = path.relative_to(root.parent).with_suffix("")
    parts = list(relative.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported_modules(path: Path, root: Path = PACKAGE_ROOT) -> set[str]:
    """Absolute names of every module ``path`` imports, relative imports resolved."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = _module_name(path, root).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                module = ".".join([*base, node.module] if node.module else base)
            else:
                module = node.module or ""
            names.add(module)
    return names


def violations(rule: Rule, root: Path = PACKAGE_ROOT) -> list[str]:
    found: list[str] = []
    for path in sorted((root / rule.part).rglob("*.py")):
        for module in sorted(imported_modules(path, root)):
            top, _, rest = module.partition(".")
            if top == "ocpi_gateway":
                part = rest.partition(".")[0]
                if part not in rule.allowed_internal:
                    found.append(f"{path.relative_to(root.parent)} imports {module}")
            elif top in rule.forbidden_external:
                found.append(f"{path.relative_to(root.parent)} imports {module}")
    return found


@pytest.mark.parametrize("rule", RULES, ids=lambda rule: rule.part)
def test_part_imports_only_what_the_architecture_allows(rule: Rule) -> None:
    assert violations(rule) == []


def test_no_part_is_left_at_the_top_level() -> None:
    for legacy in ("domain", "ocpp_adapter", "reservation_policy"):
        assert not (PACKAGE_ROOT.parent / legacy).exists()


def test_the_checker_sees_a_forbidden_import(tmp_path: Path) -> None:
    """The rule can fail: an OCPI import in the adapter, aiohttp in the core, relative ones too."""
    root = tmp_path / "ocpi_gateway"
    (root / "ocpp_adapter").mkdir(parents=True)
    (root / "reservation_policy").mkdir()
    (root / "ocpp_adapter" / "bad.py").write_text(
        "def f():\n    from ..locations import models\n", encoding="utf-8"
    )
    (root / "reservation_policy" / "bad.py").write_text(
        "import aiohttp.web\nfrom ocpi_gateway.domain import ids\n", encoding="utf-8"
    )
    adapter, core = RULES[2], RULES[3]
    assert violations(adapter, root) == [
        "ocpi_gateway/ocpp_adapter/bad.py imports ocpi_gateway.locations"
    ]
    assert violations(core, root) == ["ocpi_gateway/reservation_policy/bad.py imports aiohttp.web"]


def version_folder_violations(root: Path = PACKAGE_ROOT) -> list[str]:
    """A version folder (``ocpi/v*/``) builds on the seam and ``ocpi/shared`` only: what two
    versions share lives in ``shared``, so that a new version is one more folder and dropping
    an old one removes one folder."""
    found: list[str] = []
    for folder in sorted((root / "ocpi").glob("v*")):
        for path in sorted(folder.rglob("*.py")):
            for module in sorted(imported_modules(path, root)):
                parts = module.split(".")
                if (parts[:2] == ["ocpi_gateway", "ocpi"] and len(parts) > 2
                        and parts[2].startswith("v") and parts[2] != folder.name):
                    found.append(f"{path.relative_to(root.parent)} imports {module}")
    return found


def test_a_version_folder_imports_no_other_version() -> None:
    assert (PACKAGE_ROOT / "ocpi" / "v2_3_0").is_dir()
    assert version_folder_violations() == []


def test_the_checker_sees_a_version_importing_another(tmp_path: Path) -> None:
    root = tmp_path / "ocpi_gateway"
    (root / "ocpi" / "v2_3_0").mkdir(parents=True)
    (root / "ocpi" / "v2_3_0" / "tokens.py").write_text(
        "from ocpi_gateway.ocpi.v2_2_1.tokens import Token\n"
        "from ocpi_gateway.ocpi.v2_3_0.credentials import Role\n"
        "from ocpi_gateway.ocpi.shared.objects import OcpiObject\n", encoding="utf-8")
    assert version_folder_violations(root) == [
        "ocpi_gateway/ocpi/v2_3_0/tokens.py imports ocpi_gateway.ocpi.v2_2_1.tokens"]
