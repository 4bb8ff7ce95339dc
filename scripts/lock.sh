#!/usr/bin/env bash
# Regenerates the hashed locks in requirements/ from pyproject.toml; the one command to run after
# changing a dependency (or to take newer releases: ./scripts/lock.sh --upgrade).
#   runtime.lock  [project] dependencies: what the image and a server install hold
#   build.lock    [build-system] requires: what builds the wheel
#   dev.lock      runtime + build + the dev and bench extras: what ./test.sh's .venv holds
# dev.lock is constrained by the other two, so a package has one version in all three.
# Extra arguments go to every `uv pip compile` (e.g. --upgrade-package aiohttp).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# uv comes with the dev lock; an existing .venv is used as it is, so that a lock being repaired
# is not needed to run this.
if [ ! -x .venv/bin/uv ]; then
  source scripts/_venv.sh
fi
export PATH="$PWD/.venv/bin:$PATH"
compile=(uv pip compile --quiet --generate-hashes --python-version 3.11 --python-platform linux
         --custom-compile-command ./scripts/lock.sh)
build_requires() {
  python -c 'import tomllib; print(*tomllib.load(open("pyproject.toml", "rb"))["build-system"]["requires"], sep="\n")'
}
"${compile[@]}" "$@" pyproject.toml -o requirements/runtime.lock
build_requires | "${compile[@]}" "$@" - -o requirements/build.lock
build_requires | "${compile[@]}" "$@" pyproject.toml - --extra dev --extra bench \
  -c requirements/runtime.lock -c requirements/build.lock -o requirements/dev.lock
