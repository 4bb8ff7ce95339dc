#!/usr/bin/env bash
# Starts the gateway on its embedded defaults (SQLite store, in-process availability).
# Any arguments are passed to `ocpi-gateway`, e.g. ./run.sh demo or ./run.sh partners list.
source "$(dirname "$0")/scripts/_venv.sh"
if [ "$#" -eq 0 ]; then
  set -- serve
fi
exec ocpi-gateway "$@"
