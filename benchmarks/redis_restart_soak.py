"""Soak: Redis killed and restarted empty, again and again, under two gateway instances with
concurrent location-level RESERVE_NOW (the property test of
``tests/commands/test_redis_restart.py`` with many trials, one Redis restart each).

    .venv/bin/python benchmarks/redis_restart_soak.py [--trials 120]

Every trial asserts: no double booking (records, holds, chargers), no command FAILED, no
healthy charger socket closed, /ready back to 200 on both instances, and then no
EVSE_INOPERATIVE for an EVSE published AVAILABLE. Prints the tally of results.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=120)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as workdir:
        report = Path(workdir) / "tally.json"
        env = {**os.environ, "REDIS_RESTART_TRIALS": str(args.trials),
               "REDIS_RESTART_REPORT": str(report)}
        started = time.monotonic()
        run = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:randomly", "-o",
             f"timeout={60 + 10 * args.trials}",
             "tests/commands/test_redis_restart.py::"
             "test_redis_restart_during_concurrent_reservations"],
            cwd=ROOT, env=env, check=False)
        elapsed = time.monotonic() - started
        tally = json.loads(report.read_text(encoding="utf-8")) if report.exists() else {}
    print(f"trials: {args.trials} Redis restarts, {elapsed:.0f} s, "
          f"{'every property held' if run.returncode == 0 else 'A PROPERTY FAILED'}")
    for name, count in sorted(tally.items()):
        print(f"  {name:>24}: {count}")
    return run.returncode


if __name__ == "__main__":
    raise SystemExit(main())
