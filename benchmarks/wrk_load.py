"""HTTP load from wrk (a C load generator, Debian package ``wrk``), pinned to its own cores.

A Python load generator caps both servers it compares, so its ratios flatter the slower one.
``ensure_wrk`` is the benchmarks' setup step: it installs wrk from Debian when it is missing.
Servers under test pin themselves with ``pin_to`` to cores the load never runs on.

Debian's wrk 4.1 has no fixed-rate mode (that is wrk2); a paced run gives every connection a
fixed think time between its requests (the Lua ``delay`` hook) so that the offered rate is
close to the target, and reports the rate it achieved next to the latencies.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

_DELAY = """
function delay()
  return {delay_ms}
end
"""

_REPORT = """
done = function(summary, latency, requests)
  local out = io.open("{out}", "w")
  out:write(string.format(
    '{{"requests": %d, "duration_us": %d, "errors": %d, "non2xx": %d,'
    .. ' "p50_us": %d, "p90_us": %d, "p99_us": %d, "max_us": %d}}',
    summary.requests, summary.duration,
    summary.errors.connect + summary.errors.read + summary.errors.write
      + summary.errors.timeout,
    summary.errors.status,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
  out:close()
end
"""


@dataclass(frozen=True)
class WrkResult:
    rate: float
    """Requests per second achieved."""
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    errors: int
    """Socket errors plus non-2xx answers: a run with errors is not a measurement."""
    server_cpu_us: float = 0.0
    """CPU the server process spent per request (0 when no pid was given): robust to other
    load on a shared machine, where requests/s is not."""


def ensure_wrk() -> str:
    """Path of wrk; installs Debian's package when absent (the benchmark's setup step)."""
    found = shutil.which("wrk")
    if found:
        return found
    if os.geteuid() != 0:
        raise SystemExit("wrk is missing: apt-get install -y wrk (as root)")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    if subprocess.run(["apt-get", "install", "-y", "-q", "wrk"], env=env,
                      stdout=subprocess.DEVNULL).returncode != 0:
        subprocess.run(["apt-get", "update", "-q"], env=env, stdout=subprocess.DEVNULL,
                       check=True)
        subprocess.run(["apt-get", "install", "-y", "-q", "wrk"], env=env,
                       stdout=subprocess.DEVNULL, check=True)
    found = shutil.which("wrk")
    if not found:
        raise SystemExit("wrk could not be installed")
    return found


def core_split() -> tuple[set[int], set[int]]:
    """(server cores, load cores): disjoint halves of the cores this process may use."""
    cores = sorted(os.sched_getaffinity(0))
    if len(cores) < 2:
        raise SystemExit("server and load need different cores: this process may use one")
    half = len(cores) // 2
    return set(cores[:half]), set(cores[half:])


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far (from /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def pin_to(cores: set[int]) -> None:
    os.sched_setaffinity(0, cores)


def run_wrk(url: str, headers: dict[str, str], *, seconds: float, connections: int,
            load_cores: set[int], delay_ms: float = 0.0,
            server_pid: int | None = None) -> WrkResult:
    """One wrk run on ``load_cores`` (one thread per core); ``delay_ms`` of think time per
    connection between requests (0: saturate)."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "report.json"
        script = Path(tmp) / "report.lua"
        pacing = _DELAY.format(delay_ms=f"{delay_ms:.3f}") if delay_ms > 0 else ""
        script.write_text(pacing + _REPORT.format(out=out))
        command = ["taskset", "-c", ",".join(map(str, sorted(load_cores))), ensure_wrk(),
                   "-t", str(len(load_cores)), "-c", str(connections),
                   "-d", f"{max(1, round(seconds))}s", "--timeout", "5s", "-s", str(script)]
        for name, value in headers.items():
            command += ["-H", f"{name}: {value}"]
        cpu_before = cpu_seconds(server_pid) if server_pid else 0.0
        subprocess.run([*command, url], check=True, stdout=subprocess.DEVNULL)
        cpu = cpu_seconds(server_pid) - cpu_before if server_pid else 0.0
        report = json.loads(out.read_text())
    return WrkResult(
        rate=report["requests"] / (report["duration_us"] / 1e6),
        p50_ms=report["p50_us"] / 1000, p90_ms=report["p90_us"] / 1000,
        p99_ms=report["p99_us"] / 1000, max_ms=report["max_us"] / 1000,
        errors=report["errors"] + report["non2xx"],
        server_cpu_us=cpu / max(1, report["requests"]) * 1e6)
