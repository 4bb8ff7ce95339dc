"""docker/compose.yaml validates with docker-compose (no engine needed for `config`)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deployment._paths import COMPOSE, GATEWAY_SERVICES, ROOT


def _docker_compose() -> str:
    binary = shutil.which("docker-compose")
    if binary is None:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail("docker-compose is missing in CI; .ci/run installs it with apt")
        pytest.skip("docker-compose is not installed (apt-get install docker-compose); "
                    "CI installs it and runs this test")
    return binary


def _config(compose_file: Path) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items()
           if key not in ("PUBLIC_URL", "PROXY_PORT", "COMPOSE_FILE", "COMPOSE_PROJECT_NAME",
                          "OCPI_GATEWAY_ADMIN_TOKEN", "OCPI_GATEWAY_OCPP__VERIFIED_PASSWORD_KEY")}
    return subprocess.run(
        [_docker_compose(), "-f", str(compose_file), "config"],
        capture_output=True, text=True, timeout=60, env=env, cwd=ROOT, check=False,
    )


@pytest.fixture(scope="module")
def resolved() -> dict[str, Any]:
    result = _config(COMPOSE)
    assert result.returncode == 0, result.stderr
    document = yaml.safe_load(result.stdout)
    assert isinstance(document, dict)
    return document


def test_compose_validates_with_the_expected_services(resolved: dict[str, Any]) -> None:
    assert set(resolved["services"]) == {*GATEWAY_SERVICES, "proxy", "redis", "mongo"}


def test_each_gateway_mounts_its_own_config_and_the_operator_files(
    resolved: dict[str, Any],
) -> None:
    for service in GATEWAY_SERVICES:
        spec = resolved["services"][service]
        mounts = {volume.split(":")[1]: volume.split(":")[0] for volume in spec["volumes"]}
        assert mounts["/etc/ocpi-gateway/gateway.yaml"] == str(ROOT / "docker" / f"{service}.yaml")
        for name in ("locations.yaml", "policy.yaml", "chargers.yaml", "operators.yaml"):
            assert mounts[f"/etc/ocpi-gateway/{name}"] == str(ROOT / "config" / name)
            assert volume_is_read_only(spec["volumes"], f"/etc/ocpi-gateway/{name}")
        assert spec["build"]["dockerfile"] == "docker/Dockerfile"
        assert spec["build"]["context"] == str(ROOT)
        assert spec["depends_on"]["redis"]["condition"] == "service_healthy"
        assert spec["depends_on"]["mongo"]["condition"] == "service_healthy"
        assert "ports" not in spec, "gateways are reached through the proxy only"


def volume_is_read_only(volumes: list[str], target: str) -> bool:
    return any(v.split(":")[1] == target and v.endswith(":ro") for v in volumes)


def test_only_the_proxy_is_published(resolved: dict[str, Any]) -> None:
    published = [name for name, spec in resolved["services"].items() if spec.get("ports")]
    assert published == ["proxy"]
    proxy = resolved["services"]["proxy"]
    nginx = ROOT / "docker" / "nginx.conf"
    assert proxy["volumes"] == [f"{nginx}:/etc/nginx/conf.d/default.conf:ro",
                                f"{ROOT / 'docker' / 'certs'}:/etc/nginx/certs:ro"]
    assert {port["target"] if isinstance(port, dict) else int(str(port).split(":")[-1])
            for port in proxy["ports"]} == {8080, 8443}


def test_the_proxy_has_the_one_address_the_gateways_trust(resolved: dict[str, Any]) -> None:
    import ipaddress

    from ocpi_gateway.config import load_settings
    from tests.deployment._paths import GATEWAY_CONFIGS

    services = resolved["services"]
    address = services["proxy"]["networks"]["internal"]["ipv4_address"]
    subnet = resolved["networks"]["internal"]["ipam"]["config"][0]["subnet"]
    assert ipaddress.ip_address(address) in ipaddress.ip_network(subnet)
    for path in GATEWAY_CONFIGS:
        assert load_settings(path).ocpp.trusted_proxies == [address], path.name
        assert "internal" in services[path.stem]["networks"]
    for service in ("redis", "mongo"):
        assert "internal" in services[service]["networks"]


def test_admin_is_off_unless_a_token_is_given(resolved: dict[str, Any]) -> None:
    for service in GATEWAY_SERVICES:
        # An empty admin_token: POST /admin/reload takes no legacy token (ocpi_gateway.admin).
        assert resolved["services"][service]["environment"]["OCPI_GATEWAY_ADMIN_TOKEN"] == ""


def test_the_verified_password_key_is_off_unless_given(resolved: dict[str, Any]) -> None:
    from ocpi_gateway.config import OcppSettings

    for service in GATEWAY_SERVICES:
        value = resolved["services"][service]["environment"][
            "OCPI_GATEWAY_OCPP__VERIFIED_PASSWORD_KEY"]
        assert value == ""
        assert OcppSettings(verified_password_key=value).verified_password_key is None


def test_public_url_and_admin_token_come_from_the_environment(tmp_path: Path) -> None:
    env = dict(os.environ, PUBLIC_URL="https://ocpi.cpo.example",
               OCPI_GATEWAY_ADMIN_TOKEN="s3cr3t-admin")
    result = subprocess.run(
        [_docker_compose(), "-f", str(COMPOSE), "config"],
        capture_output=True, text=True, timeout=60, env=env, cwd=ROOT, check=False,
    )
    assert result.returncode == 0, result.stderr
    services = yaml.safe_load(result.stdout)["services"]
    for service in GATEWAY_SERVICES:
        assert services[service]["environment"]["OCPI_GATEWAY_PUBLIC_URL"] == (
            "https://ocpi.cpo.example")
        assert services[service]["environment"]["OCPI_GATEWAY_ADMIN_TOKEN"] == "s3cr3t-admin"


def test_an_invalid_compose_file_is_refused(tmp_path: Path) -> None:
    # The validator really validates: a healthcheck given as a string is not a valid
    # healthcheck object, and a service key the spec does not know is refused.
    broken = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    broken["services"]["redis"]["healthcheck"] = "redis-cli ping"
    broken["services"]["mongo"]["restart_policy_typo"] = "always"
    path = tmp_path / "compose.yaml"
    path.write_text(yaml.safe_dump(broken), encoding="utf-8")
    result = _config(path)
    assert result.returncode != 0
    assert "healthcheck" in result.stderr or "restart_policy_typo" in result.stderr
