"""Durable outbound OCPI deliveries: Locations pushes, CommandResult posts, ..."""

from ocpi_gateway.deliveries.engine import DeliveryEngine, DeliveryPolicy
from ocpi_gateway.deliveries.models import Delivery

__all__ = ["Delivery", "DeliveryEngine", "DeliveryPolicy"]
