#!/usr/bin/env bash
# Command two: set everything up from scratch, then run the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
# Two workers, each taking whole test files (--dist loadfile: a file's module fixtures stay on
# one worker). The suite is mostly rasign subprocesses and real daemons, each fixture's daemon
# private to it, so the second core roughly halves the wall time. RASIGN_TEST_WORKERS=0 runs
# it in one process (to debug a fixture, or with pdb).
workers="${RASIGN_TEST_WORKERS:-2}"
if [ "$workers" = 0 ]; then
  exec .venv/bin/python -m pytest "$@"
fi
exec .venv/bin/python -m pytest -n "$workers" --dist loadfile "$@"
