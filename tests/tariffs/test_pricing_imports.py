"""The pricing engine knows nothing of HTTP, OCPI versions or storage: its modules import only
the standard library, pydantic (through the models) and the money and tariff models."""

from __future__ import annotations

import sys
from pathlib import Path

from tests.test_import_graph import PACKAGE_ROOT, imported_modules

ENGINE = ("tariffs/pricing.py", "tariffs/priced.py", "tariffs/pieces.py", "tariffs/accounting.py",
          "tariffs/restrictions.py", "tariffs/ledger.py")
ALLOWED_OURS = {"ocpi_gateway.money", "ocpi_gateway.tariffs.models",
                "ocpi_gateway.tariffs.restrictions", "ocpi_gateway.tariffs.ledger",
                "ocpi_gateway.tariffs.priced", "ocpi_gateway.tariffs.pieces",
                "ocpi_gateway.tariffs.accounting"}


def test_the_engine_imports_only_models_and_the_standard_library() -> None:
    found = []
    for name in ENGINE:
        for module in imported_modules(PACKAGE_ROOT / name):
            top = module.partition(".")[0]
            if module.startswith("ocpi_gateway"):
                if module not in ALLOWED_OURS:
                    found.append(f"{name} imports {module}")
            elif top not in sys.stdlib_module_names and top != "__future__":
                found.append(f"{name} imports {module}")
    assert found == []


def test_the_check_sees_a_forbidden_import(tmp_path: Path) -> None:
    root = tmp_path / "ocpi_gateway"
    (root / "tariffs").mkdir(parents=True)
    bad = root / "tariffs" / "pricing.py"
    bad.write_text("import aiohttp\nfrom ocpi_gateway.transport import envelope\n")
    assert imported_modules(bad, root) == {"aiohttp", "ocpi_gateway.transport"}
