"""The Dockerfile installs with CI's commands, runs as non-root and probes /health."""

from __future__ import annotations

import shlex
import tomllib

from tests.deployment._paths import DOCKERFILE, ROOT


def _instructions() -> list[tuple[str, str]]:
    text = DOCKERFILE.read_text(encoding="utf-8").replace("\\\n", " ")
    result = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            result.append((keyword.upper(), rest.strip()))
    return result


def _final_stage() -> list[tuple[str, str]]:
    instructions = _instructions()
    last_from = max(i for i, (keyword, _) in enumerate(instructions) if keyword == "FROM")
    return instructions[last_from:]


def _pip_commands(text: str) -> list[list[str]]:
    """Arguments after `pip` of every `pip install` in a shell text."""
    commands = []
    for line in text.splitlines():
        if line.lstrip().startswith("#"):
            continue
        words = shlex.split(line)
        starts = [0] + [i + 1 for i, word in enumerate(words) if word == "&&"]
        ends = [i for i, word in enumerate(words) if word == "&&"] + [len(words)]
        for start, end in zip(starts, ends, strict=True):
            command = words[start:end]
            if "pip" in command and "install" in command:
                commands.append(command[command.index("pip") + 1:])
    return commands


def test_base_image_is_python_311_slim() -> None:
    bases = [rest.split()[0] for keyword, rest in _instructions() if keyword == "FROM"]
    assert bases and all(base == "python:3.11-slim" for base in bases)


def test_runs_as_a_non_root_user() -> None:
    users = [rest for keyword, rest in _final_stage() if keyword == "USER"]
    assert users and users[-1] not in ("root", "0", "0:0")


def test_install_steps_are_the_ones_ci_runs() -> None:
    # scripts/_venv.sh is what test.sh and .ci/run use; the image drops only -e and [dev].
    ci = _pip_commands((ROOT / "scripts" / "_venv.sh").read_text())
    image = _pip_commands("\n".join(rest for keyword, rest in _instructions() if keyword == "RUN"))
    expected = [[word.replace(".[dev]", ".") for word in cmd if word != "-e"] for cmd in ci]
    assert image == expected


def test_the_build_context_holds_every_package_and_the_readme() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    # COPY <source>... <destination>, from the build context (not --from another stage).
    copied = {path for keyword, rest in _instructions()
              if keyword == "COPY" and not rest.startswith("--from")
              for path in rest.split()[:-1]}
    include = pyproject["tool"]["setuptools"]["packages"]["find"]["include"]
    packages = {name.rstrip("*") for name in include}
    assert packages <= copied
    assert {"pyproject.toml", "constraints.txt", pyproject["project"]["readme"]} <= copied
    for path in copied:
        assert (ROOT / path).exists(), f"the Dockerfile copies {path}, which does not exist"


def test_healthcheck_probes_health_and_command_serves_the_mounted_config() -> None:
    final = _final_stage()
    health = [rest for keyword, rest in final if keyword == "HEALTHCHECK"]
    assert health and "OCPI_GATEWAY_HEALTH_URL" in health[0]
    env = " ".join(rest for keyword, rest in final if keyword == "ENV")
    assert "OCPI_GATEWAY_HEALTH_URL=http://127.0.0.1:8080/health" in env
    entrypoint = [rest for keyword, rest in final if keyword == "ENTRYPOINT"]
    cmd = [rest for keyword, rest in final if keyword == "CMD"]
    assert entrypoint == ['["ocpi-gateway"]']
    assert cmd == ['["serve", "--config", "/etc/ocpi-gateway/gateway.yaml"]']


def test_every_runtime_dependency_is_pinned_by_the_constraints() -> None:
    # The image installs with -c constraints.txt: an unpinned dependency would float to
    # whatever the index has on the day the image is built, not what the suite ran with.
    import re

    def norm(name: str) -> str:
        return re.sub(r"[-_.]+", "-", name).lower()

    dependencies = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "dependencies"]
    pinned = {norm(line.split("==")[0]) for line in
              (ROOT / "constraints.txt").read_text().splitlines() if "==" in line}
    names = {norm(re.split(r"[<>=!~\[;\s]", dependency)[0]) for dependency in dependencies}
    assert names and names <= pinned, names - pinned
