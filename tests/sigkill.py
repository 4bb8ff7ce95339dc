"""Tests that SIGKILL a process mid-stream: run ``python -m MODULE ARG``, read what it reports
on stdout, kill it once it reported enough, and keep what it wrote before it died."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

ROOT = Path(__file__).resolve().parents[1]
T = TypeVar("T")


async def killed_after(module: str, arg: str, reported: Callable[[str], list[T]],
                          enough: int) -> list[T]:
    """Every item ``reported`` finds in the process's output, once it reported ``enough`` and
    was killed with SIGKILL (asserted: it did not end by itself)."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", module, arg, cwd=ROOT, stdout=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"})
    assert process.stdout is not None
    found: list[T] = []
    killed = False
    try:
        while len(found) < enough:
            line = await asyncio.wait_for(process.stdout.readline(), 60)
            assert line, f"{module} stopped by itself"
            found += reported(line.decode())
        process.send_signal(signal.SIGKILL)
        killed = True
        # Lines it wrote before the kill count too.
        found += reported((await process.stdout.read()).decode())
    finally:
        # Never signal it twice: once dead, Popen.send_signal's poll() reaps it before
        # asyncio's child watcher can, which then reports exit code 255.
        if not killed:
            process.kill()
        await process.wait()
    assert process.returncode == -signal.SIGKILL
    return found
