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
import gc
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
        self.started = time.perf_counter()
        self._gc_started = 0.0
        self.gc_pauses: collections.defaultdict[int, list[float]] = collections.defaultdict(list)
        """Seconds of each garbage collection, by generation."""
        self.full_collections: list[tuple[float, tuple[int, int, int], int]] = []

    def _gc(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._gc_started = time.perf_counter()
        else:
            self.gc_pauses[info["generation"]].append(time.perf_counter() - self._gc_started)
            if info["generation"] == 2:
                self.full_collections.append((round(self._gc_started - self.started, 3),
                                              gc.get_threshold(), info["collected"]))

    async def _ticker(self) -> None:
        cpu = time.thread_time()
        while True:
            now, cpu_now = time.perf_counter(), time.thread_time()
            gap = now - self._last
            if gap > self.threshold:
                self.stalls.append((self._last - self.started, gap, cpu_now - cpu))
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
        self.started = self._last = time.perf_counter()
        self._task = asyncio.get_running_loop().create_task(self._ticker())
        gc.callbacks.append(self._gc)
        if self.sample_stacks:  # the thread competes for the GIL: off when timing matters
            threading.Thread(target=self._watch, daemon=True, name="stall-sampler").start()

    def reset(self) -> None:
        self._stacks.clear()
        self.stalls.clear()
        self.gc_pauses.clear()
        self.full_collections.clear()
        self.started = time.perf_counter()

    def report(self, top: int = 25) -> dict[str, Any]:
        return {"stalls": [(round(at, 3), round(gap, 3), round(cpu, 3))
                           for at, gap, cpu in self.stalls],
                "gc": {generation: [len(pauses), round(sum(pauses), 3), round(max(pauses), 3)]
                       for generation, pauses in sorted(self.gc_pauses.items())},
                "full_collections": self.full_collections,
                "stacks": [[n, stack] for stack, n in self._stacks.most_common(top)]}
