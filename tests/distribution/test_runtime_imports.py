"""The installed package imports only the standard library and its declared runtime dependencies.

A module of a development or benchmark package (pytest, httpx, mongomock...) imported anywhere
in ``ocpi_gateway``, even inside a function, would pass the suite (the dev venv has it) and fail
on a server; so would a package that is only there as another one's dependency. Read from the
source with ``ast``, like the import-graph test.
"""

from __future__ import annotations

import sys
from importlib.metadata import packages_distributions

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.distribution.test_locks import PYPROJECT
from tests.test_import_graph import PACKAGE_ROOT, imported_modules


def test_only_stdlib_and_declared_runtime_dependencies_are_imported() -> None:
    declared = {canonicalize_name(Requirement(r).name)
                for r in PYPROJECT["project"]["dependencies"]}
    providers = packages_distributions()
    unknown: list[str] = []
    used: set[str] = set()
    for path in sorted(PACKAGE_ROOT.rglob("*.py")):
        for module in imported_modules(path):
            top = module.split(".")[0]
            if top in sys.stdlib_module_names or top in ("__future__", "ocpi_gateway"):
                continue
            distributions = {canonicalize_name(d) for d in providers.get(top, [])}
            if not distributions & declared:
                unknown.append(f"{path.relative_to(PACKAGE_ROOT.parent)}: {module} "
                               f"(from {sorted(distributions) or 'nothing installed'})")
            used |= distributions & declared
    assert not unknown, "imports outside [project] dependencies:\n" + "\n".join(unknown)
    # And the other way round: every runtime dependency is imported somewhere (hiredis is
    # redis-py's optional C parser, found by redis itself).
    assert declared - used == {"hiredis"}
