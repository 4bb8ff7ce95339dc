"""Paths of the deployment files, relative to the repository root."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCKER = ROOT / "docker"
COMPOSE = DOCKER / "compose.yaml"
DOCKERFILE = DOCKER / "Dockerfile"
NGINX = DOCKER / "nginx.conf"
GATEWAY_CONFIGS = sorted(DOCKER.glob("gateway-*.yaml"))
GATEWAY_SERVICES = ("gateway-a", "gateway-b")
