"""The capacity timeline: what is promised per site and class of EVSE, over time.

``base`` (the interface and its types), ``classes`` (EVSE classes of a site, what a promise
can use), ``hall`` (the admission check: Hall's condition per instant over every set of
classes), ``memory`` (in-process, a lock per site) and ``redis`` (one Lua script per
admission over keys hash-tagged by location), ``slots`` (free and nearest timeslots),
``retention`` (past promises pruned).
"""

from ocpi_gateway.reservation_policy.capacity.base import (
    Admission,
    CapacityTimeline,
    Promise,
    Verdict,
)
from ocpi_gateway.reservation_policy.capacity.classes import EvseClass, Need, SupplyEvse

__all__ = ["Admission", "CapacityTimeline", "EvseClass", "Need", "Promise", "SupplyEvse",
           "Verdict"]
