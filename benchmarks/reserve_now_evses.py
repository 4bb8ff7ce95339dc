"""RESERVE_NOW at a location of 1,000 EVSEs against one of 10, rounds interleaved in one run.

    .venv/bin/python benchmarks/reserve_now_evses.py [--rounds 4] [--reservations 150]

Each round runs ``benchmarks/reserve_now.py`` twice, each in a fresh process (a gateway on
embedded defaults with its eMSP and chargers): 10 chargers x 1 connector, then 250 chargers x 4
connectors (the order alternates between rounds). Per round: the loop's p50 and p99 (POST ->
ReserveNow at the charger -> CommandResult) and the process's CPU per reservation for both, and
the ratios 1,000 / 10. Then the min and median of each ratio over the rounds (goal: loop p50
ratio <= 1.3). The CPU ratio is what a shared machine disturbs least.
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SMALL, BIG = (10, 1), (250, 4)
LOOP = re.compile(r"^loop: POST -> ReserveNow -> CommandResult\s+p50\s+([\d.]+) ms\s+"
                  r"p99\s+([\d.]+) ms", re.MULTILINE)
CPU = re.compile(r"^process CPU per reservation[^:]*: ([\d.]+) ms", re.MULTILINE)


def run(chargers: int, connectors: int, reservations: int) -> tuple[float, float, float]:
    """(loop p50, loop p99, CPU per reservation) of one reserve_now.py run."""
    done = subprocess.run(
        [sys.executable, str(HERE / "reserve_now.py"), "--chargers", str(chargers),
         "--connectors", str(connectors), "--reservations", str(reservations)],
        capture_output=True, text=True, check=False, timeout=1800)
    loop, cpu = LOOP.search(done.stdout), CPU.search(done.stdout)
    if done.returncode != 0 or loop is None or cpu is None:
        raise RuntimeError(f"reserve_now.py {chargers}x{connectors} failed:\n"
                           f"{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    return float(loop.group(1)), float(loop.group(2)), float(cpu.group(1))


def main(rounds: int, reservations: int) -> None:
    ratios: list[tuple[float, float, float]] = []
    print(f"RESERVE_NOW loop at {BIG[0] * BIG[1]:,} EVSEs vs {SMALL[0] * SMALL[1]} EVSEs at one "
          f"location, {reservations} reservations per run, {rounds} rounds interleaved")
    for n in range(rounds):
        order = (SMALL, BIG) if n % 2 == 0 else (BIG, SMALL)
        figures = {shape: run(*shape, reservations) for shape in order}
        small, big = figures[SMALL], figures[BIG]
        ratio = (big[0] / small[0], big[1] / small[1], big[2] / small[2])
        ratios.append(ratio)
        print(f"round {n + 1}: 10 EVSEs p50 {small[0]:6.2f} p99 {small[1]:6.2f} ms CPU "
              f"{small[2]:5.2f} ms | 1,000 EVSEs p50 {big[0]:6.2f} p99 {big[1]:6.2f} ms CPU "
              f"{big[2]:5.2f} ms | ratio p50 {ratio[0]:.2f} p99 {ratio[1]:.2f} CPU {ratio[2]:.2f}",
              flush=True)
    for label, values in (("loop p50", [r[0] for r in ratios]),
                          ("loop p99", [r[1] for r in ratios]),
                          ("CPU per reservation", [r[2] for r in ratios])):
        print(f"ratio 1,000 / 10 EVSEs, {label}: min {min(values):.2f} median "
              f"{statistics.median(values):.2f}" + ("  (goal <= 1.3)" if label == "loop p50"
                                                    else ""))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--reservations", type=int, default=150)
    args = parser.parse_args()
    main(args.rounds, args.reservations)
