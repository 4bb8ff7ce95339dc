"""Ending background tasks for sure, and waiting without losing a cancellation.

Python 3.11's ``asyncio.wait_for`` returns the inner result and drops the caller's
cancellation when both arrive in the same pass of the event loop; redis-py calls it around
every socket write. A task cancelled once at shutdown can therefore go on running (a loop that
reads Redis runs again), and whoever awaited it waits for ever. So:

- :func:`cancel_and_wait` cancels, waits, cancels again while the task goes on, and gives up
  after a bound with a log line (``task_did_not_stop``) rather than hang the shutdown;
- :func:`wait_event` waits for an event with a timeout through ``asyncio.wait``, which never
  drops the caller's cancellation;
- :func:`finish_within` lets work a stop must not lose (commands queued for Redis) finish,
  for at most a bound, then cancels what is left.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Iterable
from typing import Any

import structlog

log = structlog.get_logger(__name__)

STOP_BOUND = 10.0
"""Seconds a stopping task is given (each part's own bound may be longer)."""
_RECANCEL_EVERY = 0.2


async def cancel_and_wait(task: asyncio.Future[Any], *, bound: float = STOP_BOUND,
                          name: str | None = None) -> bool:
    """Cancel ``task`` and wait until it ended, cancelling it again while it goes on; False
    (and a warning) when it has not ended within ``bound`` seconds. Its outcome is consumed
    (an exception is not logged as never retrieved)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + bound
    while not task.done():
        left = deadline - loop.time()
        if left <= 0:
            label = name or (task.get_name() if isinstance(task, asyncio.Task) else repr(task))
            log.warning("task_did_not_stop", task=label, bound=bound)
            return False
        task.cancel()
        await asyncio.wait({task}, timeout=min(left, _RECANCEL_EVERY))
    if not task.cancelled():
        task.exception()
    return True


async def wait_event(event: asyncio.Event, timeout: float) -> bool:  # noqa: ASYNC109
    """Whether ``event`` was set within ``timeout`` seconds."""
    if event.is_set():
        return True
    waiter = asyncio.ensure_future(event.wait())
    try:
        await asyncio.wait({waiter}, timeout=max(timeout, 0.0))
    finally:
        waiter.cancel()
    return event.is_set()


async def cancel_all(tasks: Iterable[asyncio.Future[Any]], *, bound: float = STOP_BOUND,
                     name: str = "task") -> bool:
    """:func:`cancel_and_wait` for every task at once; whether all ended within ``bound``."""
    ended = await asyncio.gather(*(cancel_and_wait(task, bound=bound, name=name)
                                   for task in list(tasks)))
    return all(ended)


async def finish_within(work: Iterable[Awaitable[Any]], *, bound: float = STOP_BOUND,
                        name: str) -> bool:
    """Wait until every one of ``work`` ended, at most ``bound`` seconds; then cancel what is
    left (:func:`cancel_and_wait`) and return False with a warning (``task_did_not_finish``).
    An exception of one is raised once all ended."""
    together = asyncio.ensure_future(asyncio.gather(*work))
    done, _ = await asyncio.wait({together}, timeout=max(bound, 0.0))
    if done:
        together.result()
        return True
    log.warning("task_did_not_finish", task=name, bound=bound)
    await cancel_and_wait(together, name=name)
    return False
