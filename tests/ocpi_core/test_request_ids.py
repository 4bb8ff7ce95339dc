"""Fresh request/correlation ids and the envelope's timestamp, both made without per-call
uuid4()/strftime."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime

from ocpi_gateway.transport.envelope import now_timestamp, ocpi_timestamp
from ocpi_gateway.transport.request_ids import fresh_hex_id, fresh_id


def test_fresh_ids_are_distinct_uuids() -> None:
    ids = [fresh_id() for _ in range(20_000)]
    assert len(set(ids)) == len(ids)
    assert all(str(uuid.UUID(i)) == i and uuid.UUID(i).version == 4 for i in ids[:100])


def test_fresh_hex_ids_are_distinct_and_shaped_as_uuid4_hex() -> None:
    ids = [fresh_hex_id() for _ in range(20_000)] + [fresh_id() for _ in range(10)]
    hex_ids = ids[:20_000]
    assert len({i.replace("-", "") for i in ids}) == len(ids)
    assert all(re.fullmatch(r"[0-9a-f]{32}", i) for i in hex_ids)
    assert all(uuid.UUID(i).version == 4 for i in hex_ids[:100])


def test_now_timestamp_has_the_ocpi_form_and_the_present_time() -> None:
    before = ocpi_timestamp(datetime.now(UTC))
    stamp = now_timestamp()
    after = ocpi_timestamp(datetime.now(UTC))
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", stamp)
    assert before <= stamp <= after
