"""Fresh request/correlation ids and the envelope's timestamp, both made without per-call
uuid4()/strftime."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime

from ocpi_gateway.transport.envelope import now_timestamp, ocpi_timestamp
from ocpi_gateway.transport.middleware import fresh_id


def test_fresh_ids_are_distinct_uuids() -> None:
    ids = [fresh_id() for _ in range(20_000)]
    assert len(set(ids)) == len(ids)
    assert all(str(uuid.UUID(i)) == i and uuid.UUID(i).version == 4 for i in ids[:100])


def test_now_timestamp_has_the_ocpi_form_and_the_present_time() -> None:
    before = ocpi_timestamp(datetime.now(UTC))
    stamp = now_timestamp()
    after = ocpi_timestamp(datetime.now(UTC))
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", stamp)
    assert before <= stamp <= after
