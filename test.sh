#!/usr/bin/env bash
# Runs the whole test suite, then ruff and mypy --strict on the packages.
source "$(dirname "$0")/scripts/_venv.sh"
if ! command -v redis-server >/dev/null 2>&1; then
  echo "test.sh: the suite needs redis-server (Debian: apt-get install -y redis-server)" >&2
  exit 1
fi
ruff check ocpi_gateway tests benchmarks
mypy
exec python -m pytest -n 2 -q "$@"
