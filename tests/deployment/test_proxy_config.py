"""The nginx config keeps a charger on one instance and spreads OCPI traffic."""

from __future__ import annotations

import re

import yaml

from tests.deployment._paths import COMPOSE, GATEWAY_SERVICES, NGINX


def _conf() -> str:
    # Without comments, so a commented-out directive does not count.
    return "\n".join(line.split("#", 1)[0] for line in NGINX.read_text().splitlines())


def _block(conf: str, header: str) -> str:
    start = conf.index(header)
    depth = 0
    for index in range(conf.index("{", start), len(conf)):
        depth += {"{": 1, "}": -1}.get(conf[index], 0)
        if depth == 0:
            return conf[start:index + 1]
    raise AssertionError(f"unterminated block {header}")


def _ocpp_location(conf: str) -> tuple[str, str]:
    match = re.search(r"location\s+~\s+(\S+)\s*\{", conf)
    assert match, "no regex location for /ocpp/"
    return match.group(1), _block(conf, match.group(0))


def test_ocpp_upstream_hashes_on_the_charger_id_from_the_path() -> None:
    conf = _conf()
    regex, location = _ocpp_location(conf)
    upstream = re.search(r"proxy_pass\s+http://(\w+);", location)
    assert upstream
    upstream_block = _block(conf, f"upstream {upstream.group(1)}")
    hashed = re.search(r"hash\s+\$(\w+)\s+consistent;", upstream_block)
    assert hashed, "the OCPP upstream must use `hash $<charger id> consistent`"
    # nginx (PCRE) named group → Python syntax; the capture must be the charger's identity.
    pattern = re.compile(regex.replace("(?<", "(?P<"))
    match = pattern.match("/ocpp/CP-0042")
    assert match and match.group(hashed.group(1)) == "CP-0042"
    assert pattern.match("/ocpi/versions") is None


def test_ocpp_location_upgrades_to_websocket_with_long_timeouts() -> None:
    conf = _conf()
    _, location = _ocpp_location(conf)
    assert "proxy_http_version 1.1;" in location
    assert "proxy_set_header Upgrade $http_upgrade;" in location
    assert "proxy_set_header Connection $connection_upgrade;" in location
    timeout = re.search(r"proxy_read_timeout\s+(\d+)([smh]);", location)
    assert timeout and int(timeout.group(1)) * {"s": 1, "m": 60, "h": 3600}[timeout.group(2)] >= 900
    assert re.search(r"map\s+\$http_upgrade\s+\$connection_upgrade", conf)


def test_ocpi_traffic_is_round_robin_over_every_gateway() -> None:
    conf = _conf()
    root = _block(conf, "location / ")
    upstream = re.search(r"proxy_pass\s+http://(\w+);", root)
    assert upstream
    block = _block(conf, f"upstream {upstream.group(1)}")
    assert not re.search(r"^\s*(hash|ip_hash|least_conn)\b", block, re.M)
    assert set(re.findall(r"server\s+([\w-]+):8080", block)) == set(GATEWAY_SERVICES)


def test_both_upstreams_list_exactly_the_compose_gateways() -> None:
    conf = _conf()
    services = yaml.safe_load(COMPOSE.read_text())["services"]
    gateways = {name for name in services if name.startswith("gateway-")}
    for name in re.findall(r"upstream\s+(\w+)\s*\{", conf):
        assert set(re.findall(r"server\s+([\w-]+):8080", _block(conf, f"upstream {name}"))) == (
            gateways)


def test_metrics_and_admin_are_not_served_through_the_proxy() -> None:
    assert re.search(r"location\s+=\s+/metrics\s*\{\s*return\s+404;", _conf())
    assert re.search(r"location\s+/admin/\s*\{\s*return\s+404;", _conf())


def test_ocpp_location_tells_the_gateway_the_client_address_and_scheme() -> None:
    _, location = _ocpp_location(_conf())
    assert "proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;" in location
    assert "proxy_set_header X-Forwarded-Proto $scheme;" in location


def test_tls_ends_at_the_proxy_for_security_profile_2() -> None:
    server = _block(_conf(), "server {")
    assert re.search(r"^\s*listen\s+8443\s+ssl;", server, re.M)
    assert re.search(r"^\s*listen\s+8080;", server, re.M)
    assert "ssl_certificate /etc/nginx/certs/fullchain.pem;" in server
    assert "ssl_certificate_key /etc/nginx/certs/privkey.pem;" in server
