"""Fresh ids without a uuid4() per call: a random prefix per process and a counter.

They identify requests and outbox rows; they are not secrets. A forked child draws a new
prefix, so two processes never count from the same one.
"""

from __future__ import annotations

import itertools
import os
import uuid


class _Ids:
    def __init__(self) -> None:
        self.reset()
        os.register_at_fork(after_in_child=self.reset)

    def reset(self) -> None:
        self._prefix = str(uuid.uuid4())[:24]
        self._hex_prefix = self._prefix.replace("-", "")
        self._counter = itertools.count(int.from_bytes(os.urandom(5), "big"))

    def next(self) -> str:
        """In UUID form (X-Request-ID, X-Correlation-ID)."""
        return f"{self._prefix}{next(self._counter) & 0xFFFFFFFFFFFF:012x}"

    def next_hex(self) -> str:
        """32 hex digits, as ``uuid4().hex`` (outbox delivery ids)."""
        return f"{self._hex_prefix}{next(self._counter) & 0xFFFFFFFFFFFF:012x}"


_IDS = _Ids()
fresh_id = _IDS.next
fresh_hex_id = _IDS.next_hex
