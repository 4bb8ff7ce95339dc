#!/usr/bin/env python3
"""Mutation testing of the core modules: how many small changes to a line do the tests notice?

    .venv/bin/python scripts/mutate.py                       # the default modules (TARGETS)
    .venv/bin/python scripts/mutate.py ocpi_gateway/transport/auth.py --tests tests/ocpi_core
    .venv/bin/python scripts/mutate.py MODULE --lines 120-140 --show   # print the mutants

Steps, per run:
1. One pytest run (serial) under coverage.py records, for every line of the target modules,
   which tests execute it (a dynamic context per test, switched by a small pytest plugin) and
   how long each test takes. Cached outside the work tree, keyed by the sources and tests.
2. Each target module yields mutants from its AST (operators in ``Mutator``); log calls,
   f-strings, docstrings and annotations are left alone. A module with more than ``--sample``
   mutants is sampled with a fixed ``--seed``.
3. Each mutant runs in a process forked from this one (the third-party imports are already
   done): an import hook hands Python the mutated module instead of the file, then pytest runs
   only the tests that execute the mutated line (a line run only at import: the tests that run
   any line of the module), stopping at the first failure, under a per-mutant timeout. Nothing
   is written to the work tree; Ctrl-C kills the running mutants' process groups.

Tests that start the gateway in a subprocess see the original module (the hook lives in the
forked process only); coverage does not count those subprocesses either, so they are never the
only tests selected for a line. Mutants listed in ``scripts/mutation_equivalents.txt``
(equivalent: no test can tell them apart) are reported but not counted.

The figures and the equivalent mutants are described in docs/contributing.md.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import dataclasses
import functools
import hashlib
import importlib.abc
import importlib.machinery
import importlib.util
import json
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # ``tests`` is imported as a package, as under python -m pytest
EQUIVALENTS = ROOT / "scripts" / "mutation_equivalents.txt"

ENFORCEMENT_TESTS = ("tests/enforcement", "tests/store/test_enforcement_contract.py",
                     "tests/policy/test_grace_and_admission.py",
                     "tests/reservations/test_bans_cli.py",
                     "tests/deployment/test_metrics_enforcement.py",
                     "tests/commands/test_enforcement.py")
"""Every test of the enforcement modules (reservation_policy/enforcement/)."""
LIFECYCLE_TESTS = ("tests/policy", "tests/commands")
"""The reservation service's tests: its own (tests/policy) and the OCPI Commands end to end."""
LIFECYCLE_MODULES = ("lifecycle", "core", "attempts", "replacement", "charger_events", "expiry",
                     "recovery", "acts", "results")
"""The reservation service, one job per module (lifecycle.ReservationService joins them)."""
# module -> test folders that exercise it (the coverage run uses their union).
TARGETS: dict[str, tuple[str, ...]] = {
    **{f"ocpi_gateway/reservation_policy/{name}.py": ("tests/policy", "tests/reservations",
                                                      "tests/commands")
       for name in ("engine", "plans")},
    "ocpi_gateway/reservation_policy/rules.py": ("tests/policy", "tests/reservations"),
    "ocpi_gateway/reservation_policy/records.py": ("tests/policy", "tests/store",
                                                    "tests/commands"),
    **{f"ocpi_gateway/reservation_policy/{name}.py": LIFECYCLE_TESTS
       for name in LIFECYCLE_MODULES},
    "ocpi_gateway/reservation_policy/hold_restore.py": ("tests/availability",),
    "ocpi_gateway/reservation_policy/capacity/hall.py": ("tests/capacity",),
    "ocpi_gateway/reservation_policy/capacity/classes.py": ("tests/capacity",),
    "ocpi_gateway/transport/auth.py": ("tests/ocpi_core",),
    "ocpi_gateway/transport/routing.py": ("tests/ocpi_core",),
    "ocpi_gateway/ocpp_adapter/auth.py": ("tests/ocpp",),
    **{f"ocpi_gateway/deliveries/{name}.py": ("tests/locations", "tests/commands")
       for name in ("engine", "attempts", "instances", "policy", "answers", "sending")},
    **{f"ocpi_gateway/reservation_policy/enforcement/{name}.py": ENFORCEMENT_TESTS
       for name in ("terms", "records", "bans", "rule", "service", "explain")},
}

IMPORT_TIME_TESTS = 40
LOG_METHODS = {"debug", "info", "warning", "warn", "error", "exception", "critical", "msg"}
COVERAGE_PYTEST_ARGS = ["-q", "-p", "no:cacheprovider", "-p", "no:xdist", "--no-header"]
PYTEST_ARGS = ["-q", "-x", "-p", "no:cacheprovider", "-p", "no:xdist", "--no-header",
               "-o", "console_output_style=classic"]


# ---------------------------------------------------------------------------------------------
# Mutants


@dataclasses.dataclass(frozen=True)
class Mutant:
    path: str
    index: int
    line: int
    col: int
    statement_line: int
    description: str
    occurrence: int = 1
    """The same mutation of the same line text found earlier in the module (``x = 0`` in two
    functions, two ``1024`` on one line): the second is ``#2``, so that each has its own key."""

    def source_line(self) -> str:
        return _lines(self.path)[self.line - 1].strip()

    def label(self) -> str:
        """The mutation as printed and as named in the equivalents file."""
        suffix = f" #{self.occurrence}" if self.occurrence > 1 else ""
        return self.description + suffix

    def key(self) -> str:
        return f"{self.path} :: {self.source_line()} :: {self.label()}"


@functools.lru_cache(maxsize=64)
def _lines(path: str) -> list[str]:
    return (ROOT / path).read_text().splitlines()


_COMPARE = {ast.Lt: ast.LtE, ast.LtE: ast.Lt, ast.Gt: ast.GtE, ast.GtE: ast.Gt,
            ast.Eq: ast.NotEq, ast.NotEq: ast.Eq, ast.In: ast.NotIn, ast.NotIn: ast.In,
            ast.Is: ast.IsNot, ast.IsNot: ast.Is}
_BINARY = {ast.Add: ast.Sub, ast.Sub: ast.Add, ast.Mult: ast.Div, ast.Div: ast.Mult,
           ast.FloorDiv: ast.Mult, ast.Mod: ast.FloorDiv}
_SYMBOL = {ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=", ast.Eq: "==",
           ast.NotEq: "!=", ast.In: "in", ast.NotIn: "not in", ast.Is: "is",
           ast.IsNot: "is not", ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/",
           ast.FloorDiv: "//", ast.Mod: "%", ast.And: "and", ast.Or: "or"}


def _is_log_call(node: ast.AST) -> bool:
    if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
        return False
    return node.func.attr in LOG_METHODS and "log" in ast.unparse(node.func.value).lower()


def _is_docstring(node: ast.stmt) -> bool:
    """A docstring, or the ``...`` body of a Protocol method."""
    return (isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
            and (isinstance(node.value.value, str) or node.value.value is Ellipsis))


class Mutator(ast.NodeTransformer):
    """Walks a module in a fixed order; counts mutation sites, or applies the ``target``-th.

    With ``target`` None it only records the sites (``found``)."""

    def __init__(self, path: str, target: int | None = None) -> None:
        self.path = path
        self.target = target
        self.found: list[Mutant] = []
        self._statement_line = 0

    def _site(self, node: ast.AST, description: str) -> bool:
        index = len(self.found)
        self.found.append(Mutant(self.path, index, getattr(node, "lineno", 0),
                                 getattr(node, "col_offset", 0), self._statement_line,
                                 description))
        return index == self.target

    # Parts never mutated: they are text for people or for the type checker.
    def visit_JoinedStr(self, node: ast.JoinedStr) -> ast.AST:
        return node

    def visit_arg(self, node: ast.arg) -> ast.AST:
        return node

    def visit_AnnAssign(self, node: ast.AnnAssign) -> ast.AST:
        if node.value is not None:
            self._statement_line = node.lineno
            node.value = self.visit(node.value)
        return node

    def visit_FunctionDef(self, node: ast.FunctionDef) -> ast.AST:
        return self._function(node)

    def visit_AsyncFunctionDef(self, node: ast.AsyncFunctionDef) -> ast.AST:
        return self._function(node)

    def _function(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> ast.AST:
        node.returns = None
        node.body = self._body(node.body)
        return node

    def visit_ClassDef(self, node: ast.ClassDef) -> ast.AST:
        node.body = self._body(node.body)
        return node

    def visit_Module(self, node: ast.Module) -> ast.AST:
        node.body = self._body(node.body)
        return node

    def visit_If(self, node: ast.If) -> ast.AST:
        if "TYPE_CHECKING" in ast.unparse(node.test):
            return node
        self._statement_line = node.lineno
        if not isinstance(node.test, ast.Compare | ast.BoolOp | ast.UnaryOp) and self._site(
                node.test, f"`if {ast.unparse(node.test)}` -> `if not ...`"):
            node.test = ast.UnaryOp(ast.Not(), node.test)
        else:
            node.test = self.visit(node.test)
        node.body = self._body(node.body)
        node.orelse = self._body(node.orelse)
        return node

    def generic_visit(self, node: ast.AST) -> ast.AST:
        if not isinstance(node, ast.stmt | ast.excepthandler | ast.match_case):
            return super().generic_visit(node)
        # A compound statement (for, while, with, try, ...): its blocks go through ``_body``
        # so that their statements can be removed, and know their own first line.
        for name, value in ast.iter_fields(node):
            if isinstance(value, list) and value and isinstance(value[0], ast.stmt):
                setattr(node, name, self._body(value))
            elif isinstance(value, list):
                self._statement_line = getattr(node, "lineno", self._statement_line)
                setattr(node, name, [self.visit(v) if isinstance(v, ast.AST) else v
                                     for v in value])
            elif isinstance(value, ast.AST):
                self._statement_line = getattr(node, "lineno", self._statement_line)
                setattr(node, name, self.visit(value))
        return node

    def _body(self, body: list[ast.stmt]) -> list[ast.stmt]:
        out: list[ast.stmt] = []
        for statement in body:
            self._statement_line = statement.lineno
            if _is_docstring(statement) or isinstance(statement, ast.Import | ast.ImportFrom):
                out.append(statement)
                continue
            if isinstance(statement, ast.Expr) and _is_log_call(statement.value):
                out.append(statement)
                continue
            removable = (isinstance(statement, ast.Expr)
                         or (isinstance(statement, ast.Return) and statement.value is not None
                             and not (isinstance(statement.value, ast.Constant)
                                      and statement.value.value is None)))
            # The replacements take the statement's whole location: at module level
            # fix_missing_locations has no parent end to copy, and compile() refuses a node
            # ending before it starts.
            if (isinstance(statement, ast.Expr | ast.Raise) or _assigns_state(statement)) and (
                    self._site(statement, f"statement removed: `{_short(statement)}`")):
                out.append(ast.copy_location(ast.Pass(), statement))
                continue
            if removable and isinstance(statement, ast.Return) and self._site(
                    statement, f"`{_short(statement)}` -> `return None`"):
                none = ast.copy_location(ast.Constant(None), statement)
                out.append(ast.copy_location(ast.Return(value=none), statement))
                continue
            result = self.visit(statement)
            if isinstance(result, list):
                out.extend(result)
            elif result is not None:
                out.append(result)
        if not out:  # an empty block (never from a module: each has a statement)
            return [ast.copy_location(ast.Pass(), body[0]) if body else ast.Pass()]
        return out

    def visit_Call(self, node: ast.Call) -> ast.AST:
        if _is_log_call(node):
            return node
        return self.generic_visit(node)

    def visit_Continue(self, node: ast.Continue) -> ast.AST:
        if self._site(node, "`continue` -> `break`"):
            return ast.Break()
        return node

    def visit_Break(self, node: ast.Break) -> ast.AST:
        if self._site(node, "`break` -> `continue`"):
            return ast.Continue()
        return node

    def visit_Compare(self, node: ast.Compare) -> ast.AST:
        self.generic_visit(node)
        for i, op in enumerate(node.ops):
            swap = _COMPARE.get(type(op))
            if swap is not None and self._site(
                    node, f"`{_SYMBOL[type(op)]}` -> `{_SYMBOL[swap]}`"):
                node.ops[i] = swap()
        return node

    def visit_BinOp(self, node: ast.BinOp) -> ast.AST:
        self.generic_visit(node)
        swap = _BINARY.get(type(node.op))
        if swap is not None and self._site(node, f"`{_SYMBOL[type(node.op)]}` -> "
                                                 f"`{_SYMBOL[swap]}`"):
            node.op = swap()
        return node

    def visit_AugAssign(self, node: ast.AugAssign) -> ast.AST:
        self.generic_visit(node)
        swap = _BINARY.get(type(node.op))
        if swap is not None and self._site(node, f"`{_SYMBOL[type(node.op)]}=` -> "
                                                 f"`{_SYMBOL[swap]}=`"):
            node.op = swap()
        return node

    def visit_BoolOp(self, node: ast.BoolOp) -> ast.AST:
        self.generic_visit(node)
        swap: type[ast.boolop] = ast.Or if isinstance(node.op, ast.And) else ast.And
        if self._site(node, f"`{_SYMBOL[type(node.op)]}` -> `{_SYMBOL[swap]}`"):
            node.op = swap()
        return node

    def visit_UnaryOp(self, node: ast.UnaryOp) -> ast.AST:
        self.generic_visit(node)
        if isinstance(node.op, ast.Not) and self._site(node, "`not` removed"):
            return node.operand
        if isinstance(node.op, ast.USub) and self._site(node, "unary `-` removed"):
            return node.operand
        return node

    def visit_Constant(self, node: ast.Constant) -> ast.AST:
        value = node.value
        if isinstance(value, bool):
            if self._site(node, f"`{value}` -> `{not value}`"):
                return ast.Constant(not value)
        elif isinstance(value, int | float):
            new = {0: 1, 1: 0}.get(value, value + 1) if isinstance(value, int) else value + 1
            if self._site(node, f"`{value!r}` -> `{new!r}`"):
                return ast.Constant(new)
        return node

    def visit_Subscript(self, node: ast.Subscript) -> ast.AST:
        # ``x[0]``/``x[1]`` index mutants are mostly IndexErrors or tuple-field swaps that
        # any test notices; they only add noise to the figures.
        node.value = self.visit(node.value)
        if not isinstance(node.slice, ast.Constant):
            node.slice = self.visit(node.slice)
        return node


def _assigns_state(statement: ast.stmt) -> bool:
    """An assignment to an attribute or an item: state that outlives the function."""
    if isinstance(statement, ast.Assign):
        return all(isinstance(t, ast.Attribute | ast.Subscript) for t in statement.targets)
    return isinstance(statement, ast.AugAssign | ast.AnnAssign) and isinstance(
        statement.target, ast.Attribute | ast.Subscript)


def _short(node: ast.AST) -> str:
    text = ast.unparse(node).splitlines()[0]
    return text if len(text) <= 60 else text[:57] + "..."


def mutants_of(path: str) -> list[Mutant]:
    tree = ast.parse((ROOT / path).read_text(), filename=path)
    mutator = Mutator(path)
    mutator.visit(tree)
    return number_occurrences(mutator.found)


def number_occurrences(found: Sequence[Mutant]) -> list[Mutant]:
    """Each mutant with its occurrence among those of the same line text and mutation, in
    the module's order (see ``Mutant.occurrence``)."""
    seen: dict[tuple[str, str], int] = {}
    out: list[Mutant] = []
    for m in found:
        text = (m.source_line(), m.description)
        seen[text] = seen.get(text, 0) + 1
        out.append(dataclasses.replace(m, occurrence=seen[text]))
    return out


def mutated_code(mutant: Mutant) -> Any:
    source = (ROOT / mutant.path).read_text()
    tree = ast.parse(source, filename=mutant.path)
    mutator = Mutator(mutant.path, target=mutant.index)
    tree = mutator.visit(tree)
    ast.fix_missing_locations(tree)
    return compile(tree, str(ROOT / mutant.path), "exec", dont_inherit=True)


def mutated_source(mutant: Mutant) -> str:
    tree = Mutator(mutant.path, target=mutant.index).visit(
        ast.parse((ROOT / mutant.path).read_text()))
    ast.fix_missing_locations(tree)
    return ast.unparse(tree)


def module_name(path: str) -> str:
    return path.removesuffix(".py").replace("/", ".").removesuffix(".__init__")


# ---------------------------------------------------------------------------------------------
# Coverage: which tests run which line


def _cache_key(paths: Sequence[str], test_dirs: Sequence[str]) -> str:
    # The package, the shared test parts and the test folders run: editing other tests
    # keeps the map.
    files = {*(ROOT / "ocpi_gateway").rglob("*.py"), *(ROOT / "tests").glob("*.py"),
             *(ROOT / "tests" / "peers").rglob("*.py")}
    for folder in test_dirs:
        path = ROOT / folder.split("::", 1)[0]
        files.update([path] if path.is_file() else path.rglob("*.py"))  # a folder or a file
    digest = hashlib.sha256()
    for file in sorted(files):
        digest.update(str(file.relative_to(ROOT)).encode())
        digest.update(file.read_bytes())
    digest.update(repr((sorted(paths), sorted(test_dirs))).encode())
    return digest.hexdigest()[:20]


def _cache_dir() -> Path:
    base = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return base / "ocpi-gateway-mutate"


@dataclasses.dataclass
class TestMap:
    lines: dict[str, dict[int, list[str]]]
    """path -> line -> node ids of the tests that run it."""
    durations: dict[str, float]
    failed: set[str]
    """Tests failing on the unmutated code: never selected (they would "kill" every mutant)."""


def test_map(paths: Sequence[str], test_dirs: Sequence[str]) -> TestMap:
    cache = _cache_dir() / f"{_cache_key(paths, test_dirs)}.json"
    if not cache.exists():
        cache.parent.mkdir(parents=True, exist_ok=True)
        print(f"coverage run over {' '.join(test_dirs)} (serial, a few minutes)...", flush=True)
        with tempfile.TemporaryDirectory(prefix="mutate-cov-") as tmp:
            out = Path(tmp) / "map.json"
            worker = subprocess.Popen([sys.executable, __file__, "--_coverage-worker", str(out),
                                       ",".join(paths), *test_dirs], cwd=ROOT)
            try:
                worker.wait()
            finally:
                if worker.poll() is None:  # interrupted: stop the coverage run too
                    worker.terminate()
                    worker.wait()
            if not out.exists():
                sys.exit("the coverage run failed")
            cache.write_text(out.read_text())
    raw = json.loads(cache.read_text())
    return TestMap({p: {int(k): v for k, v in lines.items()} for p, lines in raw["lines"].items()},
                   raw["durations"], set(raw["failed"]))


class _ContextPlugin:
    def __init__(self, cov: Any) -> None:
        self.cov = cov
        self.durations: dict[str, float] = {}
        self.failed: set[str] = set()

    def pytest_runtest_setup(self, item: Any) -> None:
        self.cov.switch_context(item.nodeid)

    def pytest_runtest_teardown(self, item: Any, nextitem: Any) -> None:
        self.cov.switch_context(item.nodeid)

    def pytest_runtest_logreport(self, report: Any) -> None:
        self.durations[report.nodeid] = self.durations.get(report.nodeid, 0.0) + report.duration
        if report.failed:
            self.failed.add(report.nodeid)
        if report.when == "teardown":
            self.cov.switch_context("")


def _coverage_worker(out: str, paths: str, test_dirs: list[str]) -> int:
    import coverage
    import pytest

    files = [str(ROOT / p) for p in paths.split(",")]
    with tempfile.TemporaryDirectory(prefix="mutate-cov-") as tmp:
        cov = coverage.Coverage(data_file=str(Path(tmp) / "data"), include=files, branch=False,
                                config_file=False)
        plugin = _ContextPlugin(cov)
        cov.start()
        try:
            rc = pytest.main([*COVERAGE_PYTEST_ARGS, *test_dirs], plugins=[plugin])
        finally:
            cov.stop()
        if rc not in (0, 1) or not plugin.durations:
            print(f"the coverage run's pytest ended with {rc!r}", file=sys.stderr)
            return 1
        data = cov.get_data()
        lines: dict[str, dict[int, list[str]]] = {}
        for path in paths.split(","):
            by_line = data.contexts_by_lineno(str(ROOT / path)) or {}
            lines[path] = {line: sorted(c for c in ctx if c) for line, ctx in by_line.items()}
    Path(out).write_text(json.dumps({"lines": lines, "durations": plugin.durations,
                                      "failed": sorted(plugin.failed)}))
    return 0


# ---------------------------------------------------------------------------------------------
# Running one mutant


class _MutantFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def __init__(self, name: str, code: Any, origin: str) -> None:
        self.name, self.code, self.origin = name, code, origin

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> Any:
        if fullname != self.name:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is None:
            return None
        return importlib.util.spec_from_file_location(
            fullname, self.origin, loader=self,
            submodule_search_locations=spec.submodule_search_locations)

    def create_module(self, spec: Any) -> ModuleType | None:
        return None

    def exec_module(self, module: ModuleType) -> None:
        exec(self.code, module.__dict__)


@dataclasses.dataclass
class Outcome:
    mutant: Mutant
    verdict: str  # killed, timeout, survived, uncovered, equivalent, error
    tests: int
    seconds: float
    log: str = ""


def _child(mutant: Mutant, tests: list[str], log_path: str) -> None:
    os.setpgid(0, 0)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    rc = 3
    try:
        code = mutated_code(mutant)
        sys.meta_path.insert(0, _MutantFinder(module_name(mutant.path), code,
                                              str(ROOT / mutant.path)))
        import pytest

        rc = int(pytest.main([*PYTEST_ARGS, *tests]))
    except BaseException as exc:  # any failure of the child is reported as an error
        print(f"mutant child failed: {exc!r}", flush=True)
        rc = 3
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(rc)


def _preimport() -> None:
    # Forked children inherit these, so each mutant pays only for our own package and tests.
    for name in ("pytest", "_pytest.python", "aiohttp", "aiohttp.web", "pydantic", "structlog",
                 "redis.asyncio", "ocpp", "ocpp.v16", "ocpp.v201", "httpx", "pymongo",
                 "prometheus_client", "yaml", "orjson", "fastjsonschema",
                 "pytest_asyncio", "pytest_aiohttp", "pytest_timeout", "multidict", "mongomock",
                 "websockets"):
        with contextlib.suppress(ImportError):
            __import__(name)


@dataclasses.dataclass
class _Running:
    mutant: Mutant
    pid: int
    tests: int
    started: float
    deadline: float
    log_path: str


class Runner:
    def __init__(self, workers: int, tmp: str, verbose: bool) -> None:
        self.workers = workers
        self.tmp = tmp
        self.verbose = verbose
        self.running: list[_Running] = []

    def run(self, jobs: list[tuple[Mutant, list[str], float]]) -> Iterator[Outcome]:
        queue = list(jobs)
        try:
            while queue or self.running:
                while queue and len(self.running) < self.workers:
                    self._start(*queue.pop(0))
                yield from self._reap()
                time.sleep(0.05)
        finally:
            for job in self.running:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(job.pid, signal.SIGKILL)
                with contextlib.suppress(ChildProcessError):
                    os.waitpid(job.pid, 0)

    def _start(self, mutant: Mutant, tests: list[str], timeout: float) -> None:
        log_path = os.path.join(self.tmp, f"mutant-{mutant.index}.log")
        sys.stdout.flush()
        pid = os.fork()
        if pid == 0:
            _child(mutant, tests, log_path)
        now = time.monotonic()
        self.running.append(_Running(mutant, pid, len(tests), now, now + timeout, log_path))

    def _reap(self) -> Iterator[Outcome]:
        for job in list(self.running):
            pid, status = os.waitpid(job.pid, os.WNOHANG)
            now = time.monotonic()
            if pid == 0 and now < job.deadline:
                continue
            if pid == 0:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(job.pid, signal.SIGKILL)
                os.waitpid(job.pid, 0)
                verdict = "timeout"
            else:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(job.pid, signal.SIGKILL)  # leftovers such as a redis-server
                rc = os.waitstatus_to_exitcode(status)
                # 1: a test failed; 2: interrupted (a collection error); 4: the mutant broke
                # an import that a conftest needs, so no test can even start.
                verdict = {0: "survived", 1: "killed", 2: "killed", 4: "killed"}.get(
                    rc, f"error rc={rc}")
            self.running.remove(job)
            log = Path(job.log_path).read_text(errors="replace") if self.verbose else ""
            yield Outcome(job.mutant, verdict, job.tests, now - job.started, log)


# ---------------------------------------------------------------------------------------------
# The command


def _equivalents() -> dict[str, str]:
    known: dict[str, str] = {}
    if EQUIVALENTS.exists():
        for raw in EQUIVALENTS.read_text().splitlines():
            if not raw.strip() or raw.startswith("#"):
                continue
            parts = [p.strip() for p in raw.split(" :: ")]
            if len(parts) >= 3:
                known[" :: ".join(parts[:3])] = parts[3] if len(parts) > 3 else ""
    return known


def _parse_lines(spec: str | None) -> set[int] | None:
    if not spec:
        return None
    lines: set[int] = set()
    for part in spec.split(","):
        low, _, high = part.partition("-")
        lines.update(range(int(low), int(high or low) + 1))
    return lines


def _tests_for(mutant: Mutant, by_line: dict[int, list[str]], broken: set[str],
               durations: dict[str, float]) -> list[str]:
    # The statement's first line and the mutated node's own line (a statement over several
    # lines records some of them).
    tests = set(by_line.get(mutant.statement_line, ())) | set(by_line.get(mutant.line, ()))
    if tests:
        return sorted(tests - broken)
    if mutant.statement_line in by_line or mutant.line in by_line:
        # Run at import time only (a module constant, a default, a class attribute): the
        # tests that read what the statement defines (see ``import_time_tests``); failing
        # that, the module's IMPORT_TIME_TESTS fastest (all 200 tests of a module for each
        # default made such a mutant cost minutes).
        chosen = import_time_tests(mutant, by_line, broken, durations)
        if chosen:
            return chosen
        every = sorted({t for ts in by_line.values() for t in ts} - broken,
                       key=lambda t: durations.get(t, 1.0))
        return every[:IMPORT_TIME_TESTS]
    return []


# ---------------------------------------------------------------------------------------------
# Tests for a line run only at import time


@dataclasses.dataclass(frozen=True)
class Definition:
    """What a statement run at import time defines, and the module's lines that read it."""

    names: tuple[str, ...]
    """Names a test would mention to use it: the variable, or the attribute and its class."""
    reader_lines: frozenset[int]


def definition_at(path: str, line: int) -> Definition | None:
    """The module-level or class-level assignment (or ``def``) on ``line``, and where the
    module reads it: ``NAME`` loads for a module variable, ``.attr`` loads for a class
    attribute or dataclass field, the body for a function (a decorator, a default)."""
    tree = ast.parse((ROOT / path).read_text(), filename=path)
    body, owner = tree.body, None
    while True:
        statement = next((s for s in body
                          if s.lineno <= line <= (s.end_lineno or s.lineno)), None)
        if statement is None:
            return None
        if isinstance(statement, ast.ClassDef) and line > statement.lineno:
            body, owner = statement.body, statement.name
            continue
        break
    if isinstance(statement, ast.FunctionDef | ast.AsyncFunctionDef):
        inner = {n.lineno for s in statement.body for n in ast.walk(s) if hasattr(n, "lineno")}
        return Definition((statement.name, *([owner] if owner else [])), frozenset(inner))
    targets: list[ast.expr] = []
    if isinstance(statement, ast.Assign):
        targets = list(statement.targets)
    elif isinstance(statement, ast.AnnAssign | ast.AugAssign):
        targets = [statement.target]
    names = [n.id for t in targets for n in ast.walk(_assigned(t)) if isinstance(n, ast.Name)]
    if not names:
        return None
    readers = _ReaderLines(set(names), attributes=owner is not None)
    readers.visit(tree)
    return Definition((*names, *([owner] if owner else [])), frozenset(readers.lines))


def _assigned(target: ast.expr) -> ast.expr:
    """What an assignment target defines: ``TABLE`` of ``TABLE[Kind.X] = ...`` (the index's
    names are only read; following them picks the tests of every user of ``Kind``)."""
    while isinstance(target, ast.Subscript | ast.Attribute):
        target = target.value
    return target


class _ReaderLines(ast.NodeVisitor):
    """Lines (and their statements' first lines) that load one of ``names``."""

    def __init__(self, names: set[str], *, attributes: bool) -> None:
        self.names, self.attributes = names, attributes
        self.lines: set[int] = set()
        self._statement = 0

    def generic_visit(self, node: ast.AST) -> None:
        if isinstance(node, ast.stmt):
            self._statement = node.lineno
        super().generic_visit(node)

    def visit_Name(self, node: ast.Name) -> None:
        if not self.attributes and node.id in self.names and isinstance(node.ctx, ast.Load):
            self.lines.update((node.lineno, self._statement))

    def visit_Attribute(self, node: ast.Attribute) -> None:
        if self.attributes and node.attr in self.names and isinstance(node.ctx, ast.Load):
            self.lines.update((node.lineno, self._statement))
        self.generic_visit(node)


def tests_mentioning(names: Sequence[str], test_ids: Sequence[str]
                     ) -> tuple[set[str], set[str]]:
    """The tests whose own function names one of ``names`` (a test that builds the class
    or reads the constant itself, perhaps running no line of the module), and the other
    tests of the files whose helpers or fixtures name it."""
    pattern = re.compile(r"\b(?:" + "|".join(re.escape(n) for n in names) + r")\b")
    by_file: dict[str, list[str]] = {}
    for test in test_ids:
        by_file.setdefault(test.split("::", 1)[0], []).append(test)
    direct: set[str] = set()
    by_helpers: set[str] = set()
    for file, tests in by_file.items():
        try:
            source = (ROOT / file).read_text()
        except OSError:
            continue
        if not pattern.search(source):
            continue
        mentioning, elsewhere = _functions_mentioning(source, pattern)
        for test in tests:
            if test.split("::", 1)[-1].split("[", 1)[0] in mentioning:
                direct.add(test)
            elif elsewhere:
                by_helpers.add(test)
    return direct, by_helpers


def _functions_mentioning(source: str, pattern: re.Pattern[str]) -> tuple[set[str], bool]:
    """Qualified names of the test functions whose source matches; whether anything else
    (a helper, a fixture, a constant) does."""
    mentioning: set[str] = set()
    elsewhere = False
    for test_name, text in _segments(source):
        if pattern.search(text):
            if test_name is not None:
                mentioning.add(test_name)
            else:
                elsewhere = True
    return mentioning, elsewhere


@functools.lru_cache(maxsize=256)
def _segments(source: str) -> tuple[tuple[str | None, str], ...]:
    """A test file's top-level parts (and test classes' members) as (the test's qualified
    name, or None for anything else, its source); imports left out."""
    out: list[tuple[str | None, str]] = []
    for statement in ast.parse(source).body:
        members = [(f"{statement.name}::", s) for s in statement.body] \
            if isinstance(statement, ast.ClassDef) else [("", statement)]
        for prefix, node in members:
            if isinstance(node, ast.Import | ast.ImportFrom):
                continue
            test = None
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and \
                    node.name.startswith("test"):
                test = prefix + node.name
            out.append((test, ast.get_source_segment(source, node) or ""))
    return tuple(out)


def import_time_tests(mutant: Mutant, by_line: dict[int, list[str]], broken: set[str],
                      durations: dict[str, float]) -> list[str]:
    """For a mutant on a line run only at import: the tests that run a line reading what
    the line defines and those that name it themselves, at most IMPORT_TIME_TESTS of each
    (the fastest), and a few of the tests whose file names it in a helper. Empty when the
    line defines nothing this can follow."""
    definition = definition_at(mutant.path, mutant.statement_line)
    if definition is None:
        return []
    readers = {t for line in definition.reader_lines for t in by_line.get(line, ())} - broken
    direct, by_helpers = tests_mentioning(definition.names, sorted(durations))

    def fastest(tests: set[str], count: int = IMPORT_TIME_TESTS) -> list[str]:
        return sorted(tests - broken, key=lambda t: (durations.get(t, 1.0), t))[:count]

    return sorted({*fastest(readers), *fastest(direct),
                   *fastest(by_helpers, IMPORT_TIME_TESTS // 4)})


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("modules", nargs="*", help="paths of modules (default: TARGETS)")
    parser.add_argument("--tests", nargs="*", help="test folders (default: per module, TARGETS)")
    parser.add_argument("--sample", type=int, default=120,
                        help="at most this many mutants per module, sampled (0: all)")
    parser.add_argument("--seed", type=int, default=16)
    parser.add_argument("-j", "--workers", type=int, default=1,
                        help="mutants run at once (the machine is shared: 1-2)")
    parser.add_argument("--lines", help="only mutants on these lines, e.g. 120-140,200")
    parser.add_argument("--list", action="store_true", help="list the mutants, run nothing")
    parser.add_argument("--show", action="store_true", help="with --list: the mutated code")
    parser.add_argument("--verbose", action="store_true", help="print a survivor's pytest log")
    parser.add_argument("--_coverage-worker", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args._coverage_worker:
        out, paths, *dirs = args._coverage_worker
        return _coverage_worker(out, paths, dirs)

    modules = args.modules or list(TARGETS)
    wanted_lines = _parse_lines(args.lines)
    test_dirs = args.tests or sorted({d for m in modules for d in TARGETS.get(m, ("tests",))})
    known = _equivalents()

    if args.list:
        for path in modules:
            for m in mutants_of(path):
                if wanted_lines is None or m.line in wanted_lines:
                    print(f"{m.path}:{m.line}:{m.col} [{m.index}] {m.label()}")
                    if args.show:
                        print(_diff(m))
        return 0

    # A run started in the background ignores SIGINT: let SIGTERM stop it as cleanly.
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, _interrupt)
    try:
        tmap = test_map(modules, test_dirs)
    except KeyboardInterrupt:
        print("\ninterrupted during the coverage run")
        return 130
    _preimport()
    summary: list[str] = []
    with tempfile.TemporaryDirectory(prefix="mutate-") as tmp:
        runner = Runner(max(1, args.workers), tmp, args.verbose)
        for path in modules:
            every = mutants_of(path)
            chosen = [m for m in every if wanted_lines is None or m.line in wanted_lines]
            sampled = ""
            if args.sample and len(chosen) > args.sample:
                chosen = sorted(random.Random(args.seed).sample(chosen, args.sample),
                                key=lambda m: m.index)
                sampled = f" (sample of {len(every)}, seed {args.seed})"
            by_line = tmap.lines.get(path, {})
            outcomes: list[Outcome] = []
            jobs = []
            for m in chosen:
                tests = _tests_for(m, by_line, tmap.failed, tmap.durations)
                if m.key() in known:
                    outcomes.append(Outcome(m, "equivalent", 0, 0.0))
                elif not tests:
                    outcomes.append(Outcome(m, "uncovered", 0, 0.0))
                else:
                    # Fastest first: most mutants die in a unit test, and -x stops there.
                    tests.sort(key=lambda t: tmap.durations.get(t, 1.0))
                    budget = sum(tmap.durations.get(t, 1.0) for t in tests)
                    jobs.append((m, tests, 30.0 + 3.0 * budget))
            print(f"\n{path}: {len(chosen)} mutants{sampled}, {len(jobs)} to run", flush=True)
            try:
                for outcome in runner.run(jobs):
                    outcomes.append(outcome)
                    if outcome.verdict in ("killed", "timeout"):
                        print("." if outcome.verdict == "killed" else "T", end="", flush=True)
                    else:
                        m = outcome.mutant
                        print(f"\n  {outcome.verdict} {m.path}:{m.line} {m.label()}",
                              flush=True)
                        if outcome.log:
                            print(outcome.log)
            except KeyboardInterrupt:
                print("\ninterrupted: the running mutants were killed; nothing to restore")
                return 130
            print()
            summary.append(_report(path, chosen, outcomes, sampled))
    print("\n" + "\n".join(summary))
    return 0


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def _diff(m: Mutant) -> str:
    original = ast.unparse(ast.parse((ROOT / m.path).read_text())).splitlines()
    mutated = mutated_source(m).splitlines()
    import difflib

    return "\n".join(difflib.unified_diff(original, mutated, lineterm="", n=1))


def _report(path: str, chosen: list[Mutant], outcomes: list[Outcome], sampled: str) -> str:
    count: dict[str, int] = {}
    for o in outcomes:
        kind = "killed" if o.verdict in ("killed", "timeout") else o.verdict
        count[kind] = count.get(kind, 0) + 1
    killed = count.get("killed", 0)
    equivalent = count.get("equivalent", 0)
    counted = len(chosen) - equivalent
    share = 100.0 * killed / counted if counted else 100.0
    survived, uncovered = count.get("survived", 0), count.get("uncovered", 0)
    errors = len(chosen) - killed - equivalent - survived - uncovered
    lines = [f"{path}: {len(chosen)} mutants{sampled}: {killed} killed, {survived} survived, "
             f"{uncovered} run by no test, {equivalent} equivalent, {errors} errors"
             f" -> {share:.0f}% of non-equivalent mutants killed"]
    for o in sorted(outcomes, key=lambda o: (o.mutant.line, o.mutant.index)):
        if o.verdict in ("survived", "uncovered") or o.verdict.startswith("error"):
            m = o.mutant
            lines.append(f"  {o.verdict:9} {m.path}:{m.line} {m.label()}  | "
                         f"{m.source_line()[:70]}")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
