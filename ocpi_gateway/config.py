"""Gateway configuration: one YAML file, overridable by OCPI_GATEWAY_* environment variables."""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from enum import StrEnum
from pathlib import Path
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from ocpi_gateway.config_env import environment_origin, unknown_variables
from ocpi_gateway.domain.operator_file import (
    OperatorFileError,
    describe_validation_error,
    read_yaml,
)
from ocpi_gateway.redis_clients import RedisMode, RedisTarget, parse_host_port

CONFIG_ENV = "OCPI_GATEWAY_CONFIG"
CHECKOUT_CONFIG = Path("config") / "gateway.yaml"  # relative: a checkout as working directory
SYSTEM_CONFIG = Path("/etc/ocpi-gateway/gateway.yaml")
STORE_SCHEMES = ("sqlite:///", "mongodb://", "mongodb+srv://")


class LogFormat(StrEnum):
    AUTO = "auto"
    JSON = "json"
    CONSOLE = "console"


class ConfigError(OperatorFileError):
    """A configuration file is unreadable or invalid; the message names the file and the key
    (or the environment variable the value came from)."""


class _Section(BaseModel):
    """A section of gateway.yaml: a misspelt key is an error, not silently a default."""

    model_config = ConfigDict(extra="forbid")


class BusinessDetails(_Section):
    name: str = Field(max_length=100)
    website: str | None = None


class CpoRole(_Section):
    country_code: str = Field(min_length=2, max_length=2)
    party_id: str = Field(min_length=3, max_length=3)
    business_details: BusinessDetails

    @field_validator("country_code", "party_id")
    @classmethod
    def _upper(cls, value: str) -> str:
        return value.upper()


class ListenSettings(_Section):
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    tls_cert_file: Path | None = Field(
        default=None, description="PEM certificate chain: serve HTTPS and wss:// here "
        "(OCPP security profile 2 terminated in the gateway); absent: plain HTTP")
    tls_key_file: Path | None = None

    @model_validator(mode="after")
    def _tls_pair(self) -> ListenSettings:
        if (self.tls_cert_file is None) != (self.tls_key_file is None):
            raise ValueError("tls_cert_file and tls_key_file go together")
        return self


class CommandTimeouts(_Section):
    charger_seconds: float = Field(default=30.0, gt=0, description="wait for a charger's answer")
    ocpi_result_seconds: int = Field(
        default=60, gt=0, description="timeout announced to the eMSP in CommandResponse"
    )


class OcppSettings(_Section):
    heartbeat_interval_seconds: int = Field(
        default=300, gt=0, description="interval a BootNotification response gives chargers")
    websocket_ping_seconds: float | None = Field(
        default=60.0, gt=0,
        description="websocket ping period; a charger missing the pong is dropped (null: off)")
    presence_ttl_seconds: float = Field(
        default=30.0, gt=0,
        description="TTL of a charger's presence entry in Redis, refreshed every third of it")
    failed_logins_allowed: int = Field(
        default=5, gt=0,
        description="failed password checks per charger and address within the window; past "
        "them that address gets 429 for that charger (docs/security.md, Charger logins)")
    failed_logins_allowed_per_charger: int = Field(
        default=20, gt=0,
        description="failed password checks per charger within the window from all the "
        "addresses it has not logged in from; addresses it logged in from are not refused")
    failed_login_window_seconds: float = Field(default=60.0, gt=0)
    known_address_days: float = Field(
        default=30.0, gt=0,
        description="a successful login makes its address known for the charger this long")
    verified_password_key: SecretStr | None = Field(
        default=None, min_length=32,
        description="secret key (>= 32 characters) of the fingerprints of verified charger "
        "passwords, shared in Redis so that a restart does not pay scrypt per charger; keep it "
        "out of Redis and chargers.yaml (e.g. OCPI_GATEWAY_OCPP__VERIFIED_PASSWORD_KEY)")
    trusted_proxies: list[str] = Field(
        default_factory=list,
        description="addresses or networks of the reverse proxies whose X-Forwarded-For and "
        "X-Forwarded-Proto are believed (TLS there counts as security profile 2)")
    log_frames: bool = Field(
        default=False,
        description="log every OCPP frame at INFO (they carry idTags); off by default")

    @field_validator("verified_password_key", mode="before")
    @classmethod
    def _empty_is_none(cls, value: object) -> object:
        # compose passes an unset variable as "": no key.
        return None if value == "" else value

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        for network in value:
            try:
                ipaddress.ip_network(network, strict=False)
            except ValueError as exc:
                raise ValueError(f"{network!r} is no IP address or network") from exc
        return value


class MetricsListen(_Section):
    host: str = "127.0.0.1"
    port: int = Field(ge=0, le=65535)


class MetricsSettings(_Section):
    bearer_token: SecretStr | None = Field(
        default=None, min_length=16,
        description="/metrics answers 401 unless the request carries "
        "`Authorization: Bearer <token>`; absent: no token asked")
    listen: MetricsListen | None = Field(
        default=None,
        description="serve /metrics on this address only (e.g. an internal interface), not on "
        "the public port; absent: on the public port beside OCPI and OCPP")


class AdminSettings(_Section):
    """The admin API (/admin/api/): operator logins, sessions, tokens (docs/operator-guide.md
    "The admin API")."""

    session_hours: float = Field(default=12.0, gt=0,
                                 description="a browser login lasts this long")
    token_days: float = Field(default=30.0, gt=0,
                              description="the longest an API token may last")
    failed_logins_allowed: int = Field(
        default=5, gt=0, description="failed password checks per operator name and address "
        "within the window; past them that address gets 429 for that name")
    failed_logins_allowed_per_operator: int = Field(
        default=20, gt=0, description="failed checks per name within the window from all "
        "the addresses it has not logged in from")
    failed_login_window_seconds: float = Field(default=300.0, gt=0)
    cookie_secure: bool | None = Field(
        default=None, description="mark the session cookie Secure (HTTPS only); null: when "
        "public_url is https")


class RedisRecoverySettings(_Section):
    """Rebuilding the shared availability after Redis came back without its data."""

    check_interval_seconds: float = Field(
        default=0.5, gt=0, description="how often each instance checks Redis's run marker")
    settle_seconds: float = Field(
        default=1.5, ge=0, description="wait after putting back what an instance knows, so "
        "that every instance has put back its holds before anything is reserved again; keep "
        "it above check_interval_seconds")


class GatewaySettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="OCPI_GATEWAY_", env_nested_delimiter="__", extra="forbid"
    )

    listen: ListenSettings = ListenSettings()
    public_url: str = "http://127.0.0.1:8080"
    cpo_roles: list[CpoRole] = Field(min_length=1)
    store_url: str = "sqlite:///var/gateway.db"
    redis_url: str | None = Field(
        default=None, description="Redis shared by several instances (single: the server; "
        "cluster: any node; sentinel: only db/credentials are read from it)")
    redis_mode: RedisMode = RedisMode.SINGLE
    redis_sentinels: list[str] = Field(
        default_factory=list, description="sentinel mode: the Sentinels, each host:port")
    redis_master: str | None = Field(
        default=None, description="sentinel mode: the name of the monitored primary")
    redis_recovery: RedisRecoverySettings = RedisRecoverySettings()
    charger_status_trigger_seconds: float = Field(
        default=2.0, ge=0, description="a charger connected this long without reporting a "
        "status the gateway knows is asked for it (TriggerMessage StatusNotification)")
    locations_file: Path | None = None
    tariffs_file: Path | None = Field(
        default=None, description="tariffs.yaml: the tariffs connectors name in tariff_ids")
    policy_file: Path | None = None
    chargers_file: Path | None = None
    operators_file: Path | None = Field(
        default=None, description="operators.yaml: the accounts of the admin API; absent: "
        "nobody can log in")
    admin: AdminSettings = AdminSettings()
    command_timeouts: CommandTimeouts = CommandTimeouts()
    ocpp: OcppSettings = OcppSettings()
    metrics: MetricsSettings = MetricsSettings()
    charger_offline_grace_seconds: float = Field(
        default=300.0, ge=0,
        description="a charger disconnected this long has its EVSEs published as UNKNOWN",
    )
    admin_token: str | None = Field(
        default=None, description="legacy bearer token, accepted by POST /admin/reload only "
        "(operators log in instead: operators_file); absent: not accepted")
    instance_id: str | None = Field(
        default=None, description="name of this process among several; random when absent"
    )
    allow_private_response_urls: bool = Field(
        default=False,
        description="accept command response_urls on loopback, link-local or private "
        "addresses (tests, the demo, an eMSP on your own network); false refuses them")
    log_level: str = "INFO"
    log_format: LogFormat = Field(
        default=LogFormat.AUTO, description="auto: readable lines on a terminal, JSON lines "
        "otherwise; json; console")
    access_log: bool = Field(default=False, description="log every HTTP request (method, "
                             "path, status, duration; never the Authorization header)")
    startup_wait_seconds: float = Field(
        default=0.0, ge=0, description="at start, wait this long for Redis and the store to "
        "answer (retrying) before giving up; 0: give up at once with one line")

    @field_validator("store_url")
    @classmethod
    def _known_store(cls, value: str) -> str:
        if not value.startswith(STORE_SCHEMES):
            raise ValueError(f"unsupported store {value!r}: use sqlite:///PATH (embedded) or "
                             "mongodb://HOST/DB")
        return value

    @model_validator(mode="after")
    def _redis_mode(self) -> GatewaySettings:
        if self.redis_mode is RedisMode.CLUSTER and not self.redis_url:
            raise ValueError("redis_mode cluster needs redis_url (any node of the cluster)")
        if self.redis_mode is RedisMode.SENTINEL:
            if not self.redis_sentinels or not self.redis_master:
                raise ValueError("redis_mode sentinel needs redis_sentinels and redis_master")
            for entry in self.redis_sentinels:
                parse_host_port(entry)
        return self

    @property
    def redis(self) -> RedisTarget | None:
        """Where the shared Redis is, or None: one process, everything in memory."""
        if self.redis_mode is RedisMode.SENTINEL:
            return RedisTarget(url=self.redis_url, mode=self.redis_mode,
                               sentinels=tuple(parse_host_port(s) for s in self.redis_sentinels),
                               master=self.redis_master)
        if not self.redis_url:
            return None
        return RedisTarget(url=self.redis_url, mode=self.redis_mode)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The environment wins over the file, so a deployment can override one key.
        return (env_settings, init_settings)


def _resolve(base: Path, value: Any) -> Any:
    if isinstance(value, str) and value and not os.path.isabs(value):
        return str((base / value).resolve())
    return value


def _resolve_store_url(base: Path, url: str) -> str:
    prefix = "sqlite:///"
    if url.startswith(prefix) and not url.startswith(prefix + "/") and url != "sqlite:///:memory:":
        return prefix + str((base / url[len(prefix):]).resolve())
    return url


def default_config_path(environ: Mapping[str, str] | None = None, *, cwd: Path | None = None,
                        system: Path | None = None) -> Path:
    """The config file when none is named: ``$OCPI_GATEWAY_CONFIG`` when set (used as it is),
    else ``./config/gateway.yaml`` when it exists (``./run.sh`` runs in the checkout), else
    ``/etc/ocpi-gateway/gateway.yaml`` when it exists (a server or the image)."""
    environ = os.environ if environ is None else environ
    if environ.get(CONFIG_ENV):
        return Path(environ[CONFIG_ENV])
    checkout = (Path.cwd() if cwd is None else cwd) / CHECKOUT_CONFIG
    system = SYSTEM_CONFIG if system is None else system
    for candidate in (checkout, system):
        if candidate.is_file():
            return candidate
    raise ConfigError(f"no configuration file: ${CONFIG_ENV} is not set, and neither "
                      f"{checkout} nor {system} exists; name one with --config PATH")


def load_settings(path: Path | str | None = None) -> GatewaySettings:
    """Read the YAML config (``path``, else :func:`default_config_path`); relative paths in it
    are relative to the file's folder."""
    config_path = Path(path) if path else default_config_path()
    raw = read_yaml(config_path, ConfigError, empty={})
    if not isinstance(raw, dict):
        raise ConfigError(f"{config_path}: the top level must be a mapping")
    base = config_path.resolve().parent
    for key in ("locations_file", "tariffs_file", "policy_file", "chargers_file",
                "operators_file"):
        if key in raw:
            raw[key] = _resolve(base, raw[key])
    if isinstance(raw.get("listen"), dict):
        for key in ("tls_cert_file", "tls_key_file"):
            if key in raw["listen"]:
                raw["listen"][key] = _resolve(base, raw["listen"][key])
    if isinstance(raw.get("store_url"), str):
        raw["store_url"] = _resolve_store_url(base, raw["store_url"])
    try:
        return GatewaySettings(**raw)
    except ValidationError as exc:
        raise ConfigError(describe_validation_error(
            config_path, raw, exc, model=GatewaySettings,
            origin=environment_origin(os.environ))) from exc


def environment_warnings(environ: Mapping[str, str] | None = None) -> list[str]:
    """``OCPI_GATEWAY_*`` variables that set nothing (misspelt, or of another version)."""
    return unknown_variables(os.environ if environ is None else environ, GatewaySettings)
