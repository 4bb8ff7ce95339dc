"""Live EVSE availability: the view the policy reads and the OCPI Locations module publishes."""

from ocpi_gateway.reservation_policy.availability.base import (
    AvailabilityStore,
    EvseAvailability,
    EvseStatus,
)

__all__ = ["AvailabilityStore", "EvseAvailability", "EvseStatus"]
