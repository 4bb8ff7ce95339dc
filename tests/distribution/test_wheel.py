"""The wheel, installed as a server gets it: built from the sources the image copies, put into a
fresh venv from requirements/runtime.lock (hash-checked, no dev packages, no editable install),
and run from a temporary working directory with nothing of the repository on sys.path.

The lock's files come from .wheelhouse, which scripts/_venv.sh fills when it builds .venv, so
this runs offline; the wheel is built by the dev venv's locked setuptools without isolation.
One test builds and checks it all, so that a single xdist worker spends the install time while
the other goes on with the suite (``-m "not wheel"`` leaves it out of a quick local run).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

# Its subprocesses have their own timeouts; on a loaded machine the whole can exceed the suite's
# default per-test 60 s.
pytestmark = [pytest.mark.wheel, pytest.mark.timeout(600)]

ROOT = Path(__file__).resolve().parents[2]
WHEELHOUSE = ROOT / ".wheelhouse"
VERSION = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"][
    "version"]


@dataclass(frozen=True)
class Installed:
    wheel: Path
    venv: Path
    cwd: Path

    @property
    def cli(self) -> Path:
        return self.venv / "bin" / "ocpi-gateway"

    def run(self, args: Sequence[str | Path], **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(a) for a in args], cwd=self.cwd, env=_clean_env(**env),
                              capture_output=True, text=True, timeout=120, check=False)


def _clean_env(**extra: str) -> dict[str, str]:
    """The environment without anything that would put the repository or a venv on the path."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME") and not k.startswith(
               ("OCPI_GATEWAY_", "PYTEST_"))}
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep)
                                  if not p.startswith(str(ROOT)))
    env.update(extra)
    return env


def _check(args: Sequence[str | Path], cwd: Path) -> None:
    result = subprocess.run([str(a) for a in args], cwd=cwd, env=_clean_env(),
                            capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, f"{' '.join(map(str, args))}\n{result.stdout}{result.stderr}"


def install_wheel(work: Path) -> Installed:
    work.mkdir()
    source = work / "src"  # what .dockerignore lets into the image's build context
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, source / name)
    shutil.copytree(ROOT / "ocpi_gateway", source / "ocpi_gateway",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check"]
    _check([*pip, "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", work / "dist",
            source], cwd=work)
    (wheel,) = (work / "dist").glob("ocpi_gateway-*.whl")
    venv = work / "venv"
    _check([sys.executable, "-m", "venv", "--without-pip", venv], cwd=work)
    offline = ["--no-index", "--find-links", WHEELHOUSE] if WHEELHOUSE.is_dir() else []
    # --no-compile: only what the CLI imports gets byte-compiled, on first use.
    target = [*pip, "--python", venv / "bin" / "python", "install", "-q", "--no-compile"]
    _check([*target, "--require-hashes", *offline, "-r", ROOT / "requirements" / "runtime.lock"],
           cwd=work)
    _check([*target, "--no-deps", wheel], cwd=work)
    cwd = work / "elsewhere"
    cwd.mkdir()
    return Installed(wheel, venv, cwd)


def check_wheel_holds_the_one_package_and_its_metadata(installed: Installed) -> None:
    names = zipfile.ZipFile(installed.wheel).namelist()
    assert f"ocpi_gateway-{VERSION}.dist-info/METADATA" in names
    assert {name.split("/")[0] for name in names} == {
        "ocpi_gateway", f"ocpi_gateway-{VERSION}.dist-info"}


def check_version(installed: Installed) -> None:
    result = installed.run([installed.cli, "--version"])
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"ocpi-gateway {VERSION}\n"


def check_help_lists_every_subcommand(installed: Installed) -> None:
    result = installed.run([installed.cli, "--help"])
    assert result.returncode == 0, result.stderr
    for command in ("serve", "partners", "chargers", "policy", "demo", "--version"):
        assert command in result.stdout


def check_runs_from_site_packages_without_development_packages(installed: Installed) -> None:
    probe = ("import importlib.util, ocpi_gateway, sys; print(ocpi_gateway.__file__); "
             "print([m for m in ('pytest', 'mypy', 'httpx', 'mongomock', 'uv') "
             "if importlib.util.find_spec(m)]); print(any(p.startswith(sys.argv[1]) "
             "for p in sys.path))")
    result = installed.run([installed.venv / "bin" / "python", "-c", probe, str(ROOT)])
    assert result.returncode == 0, result.stderr
    module_file, development, repository_on_path = result.stdout.splitlines()
    assert Path(module_file).is_relative_to(installed.venv)
    assert development == "[]"
    assert repository_on_path == "False"


def check_partners_list_without_config_names_the_places_tried(installed: Installed) -> None:
    if Path("/etc/ocpi-gateway/gateway.yaml").exists():
        return  # this machine has one: the default finds it (tests/distribution/test_cli_defaults)
    result = installed.run([installed.cli, "partners", "list"])
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1, result.stderr
    for place in ("$OCPI_GATEWAY_CONFIG", str(installed.cwd / "config" / "gateway.yaml"),
                  "/etc/ocpi-gateway/gateway.yaml"):
        assert place in result.stderr
    assert "Traceback" not in result.stderr


def check_partners_list_with_the_config_the_environment_names(installed: Installed,
                                                              tmp_path: Path) -> None:
    config = tmp_path / "gateway.yaml"
    config.write_text("cpo_roles: [{country_code: NL, party_id: EXA, business_details: "
                      "{name: X}}]\nstore_url: sqlite:///gateway.db\n", encoding="utf-8")
    result = installed.run([installed.cli, "partners", "list"], OCPI_GATEWAY_CONFIG=str(config))
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "gateway.db").exists()  # relative to the config file's folder


def test_wheel_installed_from_the_runtime_lock_runs_the_cli(tmp_path: Path) -> None:
    installed = install_wheel(tmp_path / "wheel")
    assert installed.cli.is_file(), "the wheel installed no ocpi-gateway console script"
    check_wheel_holds_the_one_package_and_its_metadata(installed)
    check_version(installed)
    check_help_lists_every_subcommand(installed)
    check_runs_from_site_packages_without_development_packages(installed)
    check_partners_list_without_config_names_the_places_tried(installed)
    check_partners_list_with_the_config_the_environment_names(installed, tmp_path)
