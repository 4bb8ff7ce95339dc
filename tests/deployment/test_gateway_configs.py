"""docker/gateway-*.yaml load with the gateway's own loader and fit the compose file."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from ocpi_gateway.config import load_settings
from tests.deployment._paths import COMPOSE, GATEWAY_CONFIGS, GATEWAY_SERVICES


def test_there_is_one_config_per_gateway_service() -> None:
    assert [path.stem for path in GATEWAY_CONFIGS] == list(GATEWAY_SERVICES)


@pytest.mark.parametrize("path", GATEWAY_CONFIGS, ids=lambda p: p.name)
def test_gateway_config_loads_and_points_at_the_shared_backends(path: Path) -> None:
    settings = load_settings(path)
    assert settings.store_url == "mongodb://mongo:27017/ocpi"
    assert settings.redis_url == "redis://redis:6379/0"
    assert settings.instance_id == path.stem
    assert settings.listen.host == "0.0.0.0"
    # The Dockerfile's healthcheck probes 127.0.0.1:8080.
    assert settings.listen.port == 8080
    for key in ("locations_file", "policy_file", "chargers_file"):
        assert getattr(settings, key) == Path("/etc/ocpi-gateway") / f"{key[:-5]}.yaml"


def test_instance_ids_are_distinct() -> None:
    ids = [load_settings(path).instance_id for path in GATEWAY_CONFIGS]
    assert len(set(ids)) == len(ids) == len(GATEWAY_SERVICES)


def test_every_file_a_gateway_config_names_is_mounted_by_compose() -> None:
    services = yaml.safe_load(COMPOSE.read_text())["services"]
    for path in GATEWAY_CONFIGS:
        settings = load_settings(path)
        targets = {volume.split(":")[1] for volume in services[path.stem]["volumes"]}
        for file in (settings.locations_file, settings.policy_file, settings.chargers_file):
            assert str(file) in targets


def test_the_mounted_locations_belong_to_the_gateways_cpo_roles() -> None:
    from ocpi_gateway.locations.catalog import load_locations_file
    from tests.deployment._paths import ROOT

    owners = {(loc.country_code.upper(), loc.party_id.upper())
              for loc in load_locations_file(ROOT / "config" / "locations.yaml")}
    for path in GATEWAY_CONFIGS:
        roles = {(r.country_code, r.party_id) for r in load_settings(path).cpo_roles}
        assert owners <= roles, f"{path.name}: locations owned by {owners - roles}"
