"""``ocpi-gateway serve`` on a clock the test moves, for tests that SIGKILL and restart a real
gateway process in the middle of a booking's day: ``python -m tests.peers.clocked_serve
CONFIG CLOCK_FILE``. The gateway's time (``keys.CLOCK``) is the instant written in
CLOCK_FILE (ISO 8601, written by ``FileClock.set``), read again whenever the file changes;
a restarted process on the same file goes on at the same instant."""

from __future__ import annotations

import os
import sys
from datetime import datetime
from pathlib import Path

from ocpi_gateway.config import load_settings
from ocpi_gateway.serving import serve


class FileClock:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._seen: tuple[int, int] | None = None
        self._now = datetime.min

    def __call__(self) -> datetime:
        stat = os.stat(self.path)
        # A write replaces the file (a new inode): never half-written when read.
        seen = (stat.st_ino, stat.st_mtime_ns)
        if seen != self._seen:
            self._now = datetime.fromisoformat(self.path.read_text(encoding="utf-8").strip())
            self._seen = seen
        return self._now

    @staticmethod
    def set(path: Path, moment: datetime) -> None:
        """Move the time of every process reading ``path`` to ``moment`` (aware)."""
        assert moment.tzinfo is not None
        fresh = path.with_name(path.name + ".new")
        fresh.write_text(moment.isoformat(), encoding="utf-8")
        os.replace(fresh, path)


def main(argv: list[str]) -> int:
    config, clock_file = argv
    return serve(load_settings(config), clock=FileClock(Path(clock_file)))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
