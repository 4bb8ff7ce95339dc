"""Where an event loop spends its stalls: a watchdog thread that samples the loop thread's
stack while the loop has not ticked for a while (a poor man's py-spy, which is not installed).

    sampler = StallSampler(threshold=0.05)
    sampler.start()            # in the loop's thread, with the loop running
    ...
    sampler.report()           # {"stalls": [...], "stacks": [[count, "frame < frame ..."], ...]}
"""

from __future__ import annotations

import asyncio
import collections
import sys
import threading
import time
from typing import Any


class StallSampler:
    """The loop sets a timestamp every ``tick`` seconds; the watchdog samples the loop
    thread's stack every ``every`` seconds while that timestamp is older than ``threshold``."""

    def __init__(self, *, tick: float = 0.005, threshold: float = 0.05,
                 every: float = 0.002, depth: int = 12, stacks: bool = True) -> None:
        self.tick = tick
        self.threshold = threshold
        self.every = every
        self.depth = depth
        self.sample_stacks = stacks
        self._last = time.perf_counter()
        self._thread_id = threading.get_ident()
        self._stacks: collections.Counter[str] = collections.Counter()
        self.stalls: list[tuple[float, float, float]] = []
        """(started at, seconds, of which CPU seconds of the loop's thread): a stall with
        little CPU is the machine's (the process waited for a core), not the loop's work."""
        self._stop = threading.Event()
        self._task: asyncio.Task[None] | None = None
        self._t0 = time.perf_counter()

    async def _ticker(self) -> None:
        cpu = time.thread_time()
        while True:
            now, cpu_now = time.perf_counter(), time.thread_time()
            gap = now - self._last
            if gap > self.threshold:
                self.stalls.append((self._last - self._t0, gap, cpu_now - cpu))
            self._last, cpu = now, cpu_now
            await asyncio.sleep(self.tick)

    def _watch(self) -> None:
        while not self._stop.wait(self.every):
            if time.perf_counter() - self._last < self.threshold:
                continue
            frame = sys._current_frames().get(self._thread_id)
            parts: list[str] = []
            while frame is not None and len(parts) < self.depth:
                code = frame.f_code
                parts.append(f"{code.co_filename.rsplit('/', 2)[-1]}:{code.co_name}")
                frame = frame.f_back
            self._stacks[" < ".join(parts)] += 1

    def start(self) -> None:
        self._thread_id = threading.get_ident()
        self._t0 = self._last = time.perf_counter()
        self._task = asyncio.get_running_loop().create_task(self._ticker())
        if self.sample_stacks:  # the thread competes for the GIL: off when timing matters
            threading.Thread(target=self._watch, daemon=True, name="stall-sampler").start()

    def reset(self) -> None:
        self._stacks.clear()
        self.stalls.clear()
        self._t0 = time.perf_counter()

    def report(self, top: int = 25) -> dict[str, Any]:
        return {"stalls": [(round(at, 3), round(gap, 3), round(cpu, 3))
                           for at, gap, cpu in self.stalls],
                "stacks": [[n, stack] for stack, n in self._stacks.most_common(top)]}
