"""``ocpi-gateway policy check FILE`` and ``policy explain --location ID``, given the gateway's
own files: the policy, the locations catalog, the chargers' capabilities and, when
``redis_url`` is set, the live availability the running gateways share."""

from __future__ import annotations

import argparse
from typing import Any

from ocpi_gateway.config import load_settings
from ocpi_gateway.locations.catalog import LocationsCatalog
from ocpi_gateway.ocpp_adapter.chargers_config import load_chargers
from ocpi_gateway.reservation_policy import cli as policy_cli
from ocpi_gateway.reservation_policy.availability.redis import open_availability
from ocpi_gateway.reservation_policy.capacity.redis import RedisCapacity
from ocpi_gateway.reservation_policy.enforcement.service import Enforcement
from ocpi_gateway.reservation_policy.policy import PolicySource
from ocpi_gateway.reservations.candidates import CatalogCandidates
from ocpi_gateway.reservations.extension import whole_charger_capable
from ocpi_gateway.store import open_store


async def explain_context(args: argparse.Namespace) -> policy_cli.ExplainContext:
    settings = load_settings(args.config)
    catalog = (LocationsCatalog.from_file(settings.locations_file) if settings.locations_file
               else LocationsCatalog([]))
    chargers = load_chargers(settings.chargers_file)
    policy = PolicySource(settings.policy_file)
    store = await open_store(settings.store_url) if getattr(args, "token", None) else None
    return policy_cli.ExplainContext(
        policy=policy,
        availability=open_availability(settings.redis),
        capacity=RedisCapacity.from_url(settings.redis) if settings.redis is not None else None,
        candidates=CatalogCandidates(lambda: catalog, whole_charger_capable(chargers)),
        enforcement=Enforcement(store, policy) if store is not None else None,
        close=store.close if store is not None else None)


def add_subcommands(commands: Any) -> None:
    policy_cli.add_subcommands(commands, explain_context)
