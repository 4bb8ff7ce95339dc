# Sourced by run.sh, test.sh and scripts/lock.sh: makes .venv hold exactly requirements/dev.lock
# (hash-checked) plus the project itself, editable. The venv is rebuilt from scratch whenever
# the lock or pyproject.toml changed since the last install, so nothing stale survives.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PY="${PYTHON:-python3}"
stamp=".venv/.installed-$(cat pyproject.toml requirements/dev.lock | sha256sum | cut -c1-16)"
if [ ! -f "$stamp" ]; then
  "$PY" -m venv --clear .venv
  # The locked files are kept in .wheelhouse (kept across rebuilds: only new releases are
  # fetched), from which the install runs offline, and so does the wheel test
  # (tests/distribution/test_wheel.py) installing the runtime lock into a fresh venv.
  .venv/bin/python -m pip download -q --require-hashes -r requirements/dev.lock \
    -d .wheelhouse
  .venv/bin/python -m pip install -q --require-hashes --no-index --find-links .wheelhouse \
    -r requirements/dev.lock
  # setuptools comes from the lock, so the project builds without fetching anything unhashed.
  .venv/bin/python -m pip install -q --no-deps --no-build-isolation -e .
  touch "$stamp"
fi
export PATH="$ROOT/.venv/bin:$PATH"
