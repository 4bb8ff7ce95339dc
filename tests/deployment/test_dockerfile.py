"""The Dockerfile installs from the hashed locks, runs as non-root and probes /health."""

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
    for line in text.replace("\\\n", " ").splitlines():
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


def _locks_installed(commands: list[list[str]]) -> list[str]:
    """The lock files of the hash-checked ``-r`` installs; fails on any other kind of install."""
    locks = []
    for command in commands:
        args = command[command.index("install") + 1:]
        if "-r" in args:
            assert "--require-hashes" in args, command
            locks.append(args[args.index("-r") + 1])
        else:
            # The project itself: its dependencies come only from a lock.
            assert "--no-deps" in args, command
    return locks


def test_image_and_ci_install_only_from_the_hashed_locks() -> None:
    # scripts/_venv.sh is what test.sh and .ci/run use.
    ci = _pip_commands((ROOT / "scripts" / "_venv.sh").read_text())
    image = _pip_commands("\n".join(rest for keyword, rest in _instructions() if keyword == "RUN"))
    assert _locks_installed(ci) == ["requirements/dev.lock"]
    assert _locks_installed(image) == ["requirements/build.lock", "requirements/runtime.lock"]
    assert any("-e" in command for command in ci)
    assert not any("-e" in command or ".[dev]" in command for command in image)


def test_the_build_context_holds_every_package_and_the_readme() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    # COPY <source>... <destination>, from the build context (not --from another stage).
    copied = {path for keyword, rest in _instructions()
              if keyword == "COPY" and not rest.startswith("--from")
              for path in rest.split()[:-1]}
    include = pyproject["tool"]["setuptools"]["packages"]["find"]["include"]
    packages = {name.rstrip("*") for name in include}
    assert packages <= copied
    assert {"pyproject.toml", "requirements", pyproject["project"]["readme"]} <= copied
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


def test_dockerignore_at_the_root_sends_only_what_the_image_copies() -> None:
    # The classic builder reads only <context>/.dockerignore; BuildKit reads it too.
    patterns = [line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()
                if line.strip() and not line.lstrip().startswith("#")]
    assert patterns[0] == "**"  # everything out (.git, .venv, var/...), then back in:
    included = {pattern[1:] for pattern in patterns if pattern.startswith("!")}
    copied = {path for keyword, rest in _instructions()
              if keyword == "COPY" and not rest.startswith("--from")
              for path in rest.split()[:-1]}
    for path in copied:
        assert any(pattern == path or pattern.startswith(path + "/") for pattern in included), (
            f"the Dockerfile copies {path}, which .dockerignore leaves out")
    assert not any(pattern.startswith((".venv", ".git")) for pattern in included)
    assert not (ROOT / "docker" / "Dockerfile.dockerignore").exists()  # one home for the list
