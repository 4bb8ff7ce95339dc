"""RESERVE_NOW at a location of 1,000 EVSEs against one of 10, batches interleaved in one run.

    .venv/bin/python benchmarks/reserve_now_evses.py [--rounds 12] [--reservations 50]
                                                     [--cpus 0,1] [--redis]

Two processes of ``benchmarks/reserve_now.py --serve``, each a gateway on embedded defaults with
its eMSP and chargers, set up once side by side: 10 chargers x 1 connector, and 250 chargers x
4 connectors (the setup the issue saw stall; its time is printed). Then rounds: in each, one
batch of reservations in either process, one after the other (the order alternating between
rounds), the other process idle meanwhile. Per batch the loop's p50 and p99 (POST ->
ReserveNow at the charger -> CommandResult) and the process's CPU per reservation (of which
garbage collection); per round the ratios 1,000 / 10; then the min and median of each ratio
over the rounds, and the ratio of the p50s of every sample pooled (goal: loop p50 ratio <=
1.3). The CPU ratio is what a shared machine disturbs least: it is printed beside the wall
figures. ``--cpus`` pins both processes to those cores (the same for both: they never run at
once).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from ocpp_bench_common import percentile

HERE = Path(__file__).resolve().parent
SMALL, BIG = (10, 1), (250, 4)
SETUP_TIMEOUT = 1800.0


@dataclass
class Batch:
    p50: float
    p99: float
    cpu: float
    gc: float
    samples: list[float]

    @classmethod
    def parse(cls, line: str) -> Batch:
        # "batch: p50 X p99 Y cpu Z gc W samples a,b,c"
        words = line.split()
        values = dict(zip(words[1::2], words[2::2], strict=True))
        return cls(float(values["p50"]), float(values["p99"]), float(values["cpu"]),
                   float(values["gc"]), [float(v) for v in values["samples"].split(",")])


@dataclass
class Server:
    shape: tuple[int, int]
    process: subprocess.Popen[str]
    stderr: IO[str]
    setup: str = ""
    batches: list[Batch] = field(default_factory=list)

    @property
    def label(self) -> str:
        return f"{self.shape[0] * self.shape[1]:,} EVSEs"

    def read_until(self, prefix: str) -> str:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            if line.startswith("setup:"):
                self.setup = line.strip()
            if line.startswith(prefix):
                return line.strip()
        self.stderr.seek(0)
        raise RuntimeError(f"reserve_now.py {self.shape} ended (rc {self.process.wait()}):\n"
                           f"{self.stderr.read()[-3000:]}")

    def batch(self, reservations: int) -> Batch:
        assert self.process.stdin is not None
        self.process.stdin.write(f"{reservations}\n")
        self.process.stdin.flush()
        done = Batch.parse(self.read_until("batch:"))
        self.batches.append(done)
        return done

    def close(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        try:
            self.process.wait(60)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.stderr.close()


def start(shape: tuple[int, int], cpus: str | None, redis: bool) -> Server:
    command = [sys.executable, str(HERE / "reserve_now.py"), "--serve",
               "--chargers", str(shape[0]), "--connectors", str(shape[1]),
               *(["--redis"] if redis else [])]
    if cpus:
        command = ["taskset", "-c", cpus, *command]
    stderr = tempfile.TemporaryFile("w+")  # open as long as the process
    process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               stderr=stderr, text=True, bufsize=1)
    return Server(shape, process, stderr)


def summary(label: str, values: list[float], goal: str = "") -> str:
    return (f"ratio 1,000 / 10 EVSEs, {label:<22} min {min(values):.2f}  median "
            f"{statistics.median(values):.2f}  max {max(values):.2f}{goal}")


def main(rounds: int, reservations: int, cpus: str | None, redis: bool) -> None:
    print(f"RESERVE_NOW loop at {BIG[0] * BIG[1]:,} EVSEs vs {SMALL[0] * SMALL[1]} EVSEs at one "
          f"location: both set up once, then {rounds} rounds of one batch of {reservations} "
          f"reservations each, interleaved (order alternating), "
          f"{'on Redis' if redis else 'embedded defaults'}; load average "
          f"{os.getloadavg()[0]:.1f}", flush=True)
    started = time.monotonic()
    servers = {shape: start(shape, cpus, redis) for shape in (SMALL, BIG)}
    try:
        for server in servers.values():
            server.read_until("ready")
            print(f"{server.label}: {server.setup} (ready {time.monotonic() - started:.0f} s "
                  "after start)", flush=True)
        ratios: list[tuple[float, float, float]] = []
        for n in range(rounds):
            order = (SMALL, BIG) if n % 2 == 0 else (BIG, SMALL)
            done = {shape: servers[shape].batch(reservations) for shape in order}
            small, big = done[SMALL], done[BIG]
            ratio = (big.p50 / small.p50, big.p99 / small.p99, big.cpu / small.cpu)
            ratios.append(ratio)
            print(f"round {n + 1:2d}: 10 EVSEs p50 {small.p50:6.2f} p99 {small.p99:6.2f} ms "
                  f"CPU {small.cpu:5.2f} (gc {small.gc:4.2f}) ms | 1,000 EVSEs p50 "
                  f"{big.p50:6.2f} p99 {big.p99:6.2f} ms CPU {big.cpu:5.2f} (gc {big.gc:4.2f}) "
                  f"ms | ratio p50 {ratio[0]:.2f} p99 {ratio[1]:.2f} CPU {ratio[2]:.2f}  "
                  f"(load {os.getloadavg()[0]:.1f})", flush=True)
    finally:
        for server in servers.values():
            server.close()
    print(summary("loop p50:", [r[0] for r in ratios], "  (goal <= 1.3)"))
    print(summary("loop p99:", [r[1] for r in ratios]))
    print(summary("CPU per reservation:", [r[2] for r in ratios]))
    pooled = {shape: [v for b in server.batches for v in b.samples]
              for shape, server in servers.items()}
    cpu = {shape: statistics.mean(b.cpu for b in server.batches)
           for shape, server in servers.items()}
    gc = {shape: statistics.mean(b.gc for b in server.batches)
          for shape, server in servers.items()}
    print(f"every sample pooled: 10 EVSEs p50 {percentile(pooled[SMALL], 50):.2f} ms, 1,000 "
          f"EVSEs p50 {percentile(pooled[BIG], 50):.2f} ms, ratio "
          f"{percentile(pooled[BIG], 50) / percentile(pooled[SMALL], 50):.2f}; mean CPU per "
          f"reservation {cpu[SMALL]:.2f} / {cpu[BIG]:.2f} ms (of which garbage collection "
          f"{gc[SMALL]:.2f} / {gc[BIG]:.2f} ms), ratio {cpu[BIG] / cpu[SMALL]:.2f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=12)
    parser.add_argument("--reservations", type=int, default=50)
    parser.add_argument("--cpus", default=None,
                        help="taskset core list for both processes, e.g. 1")
    parser.add_argument("--redis", action="store_true",
                        help="each gateway with a private redis-server (availability, holds)")
    args = parser.parse_args()
    main(args.rounds, args.reservations, args.cpus, args.redis)
