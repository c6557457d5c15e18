"""All settings in one place.

Every setting can come from a YAML file (``sitewatch run --config FILE``) and from
``SITEWATCH_*`` environment variables; the variable wins. Values are validated once, at
start, and each bad value gets its own clear message (see :func:`load_settings`).

Lifecycle: :func:`load_settings` (the command line's ``--config FILE``) or
``Settings(**values)`` builds the settings once; the sources are pydantic-settings' own,
highest first: the constructor's keywords, the environment, the YAML file
(:class:`~pydantic_settings.YamlConfigSettingsSource`), the defaults. A key the file has
and :class:`Settings` does not (a typo) is refused, naming the key and the file, rather
than silently ignored.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any, Literal
from urllib.parse import unquote, urlsplit

import yaml
from pydantic import BaseModel, Field, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)

from rules.vocab import ID_RE, Role, System

#: the roles an ``SITEWATCH_API_TOKENS`` token may carry (contract section 1)
ROLES: tuple[Role, ...] = (Role.VIEWER, Role.OPERATOR, Role.TECHNICIAN, Role.INTEGRATOR, Role.ADMIN)


class MqttTarget(BaseModel):
    host: str
    port: int
    tls: bool = False
    username: str | None = None
    password: str | None = None
    ca_file: str | None = None
    """PEM CA bundle that signed an ``mqtts://`` broker's certificate (None: the system's)."""


def parse_mqtt_url(url: str) -> MqttTarget:
    parts = urlsplit(url)
    if parts.scheme not in ("mqtt", "mqtts"):
        raise ValueError(f"{url!r}: the scheme must be mqtt:// or mqtts://")
    if not parts.hostname:
        raise ValueError(f"{url!r}: no host")
    try:
        port = parts.port
    except ValueError as exc:
        raise ValueError(f"{url!r}: bad port") from exc
    tls = parts.scheme == "mqtts"
    return MqttTarget(
        host=parts.hostname,
        port=port or (8883 if tls else 1883),
        tls=tls,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
    )


def parse_tokens(text: str) -> dict[str, str]:
    """``"operator=abc,viewer=def"`` -> ``{"abc": "operator", "def": "viewer"}``."""
    out: dict[str, str] = {}
    for raw in text.split(","):
        item = raw.strip()
        if not item:
            continue
        role, sep, token = item.partition("=")
        role, token = role.strip(), token.strip()
        if not sep or not token:
            raise ValueError(f"{item!r}: expected role=token")
        if role not in ROLES:
            raise ValueError(f"{item!r}: unknown role {role!r} (roles: {', '.join(ROLES)})")
        if len(token) < 8:
            raise ValueError(f"{role}=…: a token needs at least 8 characters")
        if token in out:
            raise ValueError(f"the token of {role} is given twice")
        out[token] = role
    return out


class _YamlFile(YamlConfigSettingsSource):
    """pydantic-settings' YAML source, refusing a file that is not a mapping."""

    def _read_file(self, file_path: Any) -> dict[str, Any]:
        data = super()._read_file(file_path)
        if not isinstance(data, dict):
            raise ValueError(f"a config file is a YAML mapping, not a {type(data).__name__}")
        return data


# the YAML file of the Settings being built now (load_settings sets it for one call)
_CONFIG_FILE: ContextVar[Path | None] = ContextVar("sitewatch_config_file", default=None)


@contextmanager
def _config_file(path: Path | None) -> Iterator[None]:
    token = _CONFIG_FILE.set(path)
    try:
        yield
    finally:
        _CONFIG_FILE.reset(token)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SITEWATCH_", extra="forbid")

    mqtt_url: str = "mqtt://127.0.0.1:1883"
    mqtt_client_id: str = Field(default="sitewatch-gw", pattern=r"^[A-Za-z0-9_.:-]{1,64}$")
    mqtt_ca_file: str = Field(
        default="", description="PEM CA file for an mqtts:// broker (empty: the system CAs)"
    )
    mqtt_receive_maximum: int = Field(
        default=10000,
        ge=1,
        le=65535,
        description="MQTT 5 Receive Maximum: QoS 1 messages in flight to us",
    )
    mqtt_priority_systems: str = Field(
        default=System.FIRE.value,
        description="systems read on a connection of their own (never behind a backlog)",
    )
    influx_url: str = ""
    influx_api: Literal["v1", "v2"] = "v1"
    influx_db: str = "sitewatch"
    influx_token: str = ""
    influx_org: str = ""
    influx_batch_size: int = Field(default=5000, ge=1, le=100_000)
    influx_flush_interval_s: float = Field(default=1.0, gt=0, le=60)
    db_url: str = "sqlite:///./sitewatch.db"
    http_bind: str = "127.0.0.1:8000"
    # HTTP limits (api.server): a slow or greedy client fails alone
    http_max_connections: int = Field(
        default=1000, ge=1, description="concurrent HTTP connections; more get 503"
    )
    http_keep_alive_s: float = Field(default=5.0, gt=0, le=300)
    http_header_timeout_s: float = Field(
        default=10.0, gt=0, le=300, description="a request's headers must arrive within this"
    )
    http_max_header_bytes: int = Field(default=16384, ge=1024, le=1_048_576)
    sse_max_clients: int = Field(
        default=200, ge=1, description="alarm streams per process; more get 503"
    )
    # alarm floods (gateway.alarms.groups): a new stream's snapshot, group alarms
    alarm_snapshot_per_priority: int = Field(
        default=200,
        ge=1,
        le=10_000,
        description="newest open alarms per priority a new SSE client gets",
    )
    alarm_group_min: int = Field(
        default=10,
        ge=0,
        description="open alarms of one rule and zone shown as one group (0: never)",
    )
    api_tokens: str = ""
    # optional single sign-on: OpenID Connect ID tokens as Bearer tokens (gateway.people.oidc)
    oidc_issuer: str = ""
    oidc_audience: str = ""
    oidc_jwks_url: str = ""
    oidc_roles_claim: str = "roles"
    oidc_role_map: dict[str, str] = Field(
        default_factory=dict, description="identity-provider role or group -> sitewatch role"
    )
    oidc_user_claim: str = "preferred_username"
    site: str = Field(default="sc01", pattern=ID_RE)
    site_file: str = Field(
        default="", description="path of the site file; empty = the shipped demo site"
    )
    telemetry_db: str = Field(
        default="", description="embedded telemetry store (SQLite file) when no InfluxDB"
    )
    # several sites in one process, several processes (gateway.multisite, gateway.cluster)
    sites: str = Field(
        default="", description="comma-separated site ids served (leases in the state store)"
    )
    sites_dir: str = Field(
        default="", description="folder of site files, one site each (id = file name stem)"
    )
    instance: str = Field(
        default="", description="this process's name in the cluster; empty = host-pid"
    )
    lease_ttl_s: float = Field(
        default=9.0, gt=0.5, le=60, description="a site's lease lasts this long unrenewed"
    )
    advertise_url: str = Field(
        default="",
        description="this process's HTTP base URL as the other processes reach it (requests "
        "for its sites are forwarded there); empty = http://<http_bind>",
    )
    rules_file: str = Field(default="", description="rule pack (YAML); empty = the default pack")
    photos_dir: str | None = Field(
        default=None, description="photo store folder; unset: photos/ beside a SQLite store"
    )
    rule_packs: str = Field(
        default="default", description="comma-separated rule packs (default, fdd) or pack files"
    )
    adapters_file: str = Field(
        default="", description="YAML list of adapters for foreign payloads (gateway.adapters)"
    )
    ha_discovery: bool = Field(
        default=False, description="announce zones, crews and health to Home Assistant over MQTT"
    )
    queue_size: int = Field(default=50_000, ge=100, description="readings buffered between stages")
    # bounds (gateway.limits): nothing a device sends makes the gateway grow without limit
    max_devices: int = Field(
        default=100_000, ge=1, description="devices per site; new ids beyond are dead-lettered"
    )
    max_fields: int = Field(
        default=200, ge=1, description="distinct telemetry fields per device; more: dead-lettered"
    )
    unacked_degraded_s: float = Field(
        default=60.0, gt=0, description="/healthz says degraded when a message waits this long"
    )
    # tickets (gateway.tickets, gateway.outbox)
    webhooks: str = Field(default="", description="comma-separated URLs POSTed every ticket change")
    webhook_secret: str = Field(default="", description="HMAC-SHA256 key of X-Sitewatch-Signature")
    webhook_timeout_s: float = Field(default=10.0, gt=0, le=300)
    outbox_backoff_max_s: float = Field(
        default=60.0, gt=0, le=3600, description="longest wait between two delivery attempts"
    )
    ticket_sla: dict[str, dict[str, float]] = Field(
        default_factory=dict,
        description="service-level overrides: {'<priority>'|'<category>'|'<priority>/<category>':"
        " {assign|respond|resolve|callback: minutes}} (YAML mapping, or JSON in the variable)",
    )
    ticket_escalate_at: float = Field(
        default=0.8, gt=0, lt=1, description="escalate when this fraction of a clock has run"
    )
    # requests from people and notifications (gateway.requests, gateway.notify)
    public_url: str = Field(
        default="", description="the address people reach the pages at (QR codes, links)"
    )
    portal_secret: str = Field(
        default="",
        description="HMAC keys of the zone tokens, comma-separated: the first signs, all are "
        "accepted (rotation); empty = one made at first start and kept in the state store",
    )
    portal_repair_crew: str = Field(
        default="electrical", pattern=ID_RE, description="crew of a repair asked without device"
    )
    complaint_reply_h: float = Field(
        default=24.0, gt=0, le=24 * 30, description="a complaint's written reply is due within"
    )
    smtp_url: str = Field(
        default="", description="smtp://[user:pass@]host[:port], smtp+starttls://…, smtps://…"
    )
    smtp_from: str = Field(default="sitewatch@localhost", description="sender of the e-mails")
    notify_per_hour: int = Field(
        default=20, ge=1, le=10_000, description="notifications per person in any hour"
    )

    @field_validator("mqtt_url")
    @classmethod
    def _mqtt(cls, v: str) -> str:
        parse_mqtt_url(v)
        return v

    @field_validator("http_bind")
    @classmethod
    def _bind(cls, v: str) -> str:
        host, sep, port = v.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"{v!r}: expected host:port, e.g. 127.0.0.1:8000")
        return v

    @field_validator("api_tokens")
    @classmethod
    def _tokens(cls, v: str) -> str:
        parse_tokens(v)
        return v

    @field_validator("webhooks")
    @classmethod
    def _webhooks(cls, v: str) -> str:
        for url in (u.strip() for u in v.split(",")):
            if url and urlsplit(url).scheme not in ("http", "https"):
                raise ValueError(f"{url!r}: a webhook URL starts with http:// or https://")
        return v

    @field_validator("ticket_sla")
    @classmethod
    def _sla(cls, v: dict[str, dict[str, float]]) -> dict[str, dict[str, float]]:
        from gateway.dispatch import ServiceLevels

        ServiceLevels(v)
        return v

    @field_validator("smtp_url")
    @classmethod
    def _smtp(cls, v: str) -> str:
        if v:
            from gateway.notify.email import parse_smtp_url

            parse_smtp_url(v)
        return v

    @field_validator("portal_secret")
    @classmethod
    def _portal(cls, v: str) -> str:
        if any(len(k.strip()) < 16 for k in v.split(",") if k.strip()):
            raise ValueError("each portal key has at least 16 characters")
        return v

    @field_validator("influx_url", "public_url", "advertise_url")
    @classmethod
    def _http_url(cls, v: str) -> str:
        v = v.strip().rstrip("/")
        if v and urlsplit(v).scheme not in ("http", "https"):
            raise ValueError(f"{v!r}: the URL starts with http:// or https://")
        return v

    @field_validator("sites")
    @classmethod
    def _sites(cls, v: str) -> str:
        import re

        for x in (p.strip() for p in v.split(",")):
            if x and not re.fullmatch(ID_RE, x):
                raise ValueError(f"{x!r}: not a site id")
        return v

    @field_validator("db_url")
    @classmethod
    def _db(cls, v: str) -> str:
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError

        try:
            make_url(v)
        except ArgumentError as exc:
            raise ValueError(f"{v!r}: not an SQLAlchemy database URL") from exc
        return v

    # derived -------------------------------------------------------------------------
    @property
    def mqtt(self) -> MqttTarget:
        target = parse_mqtt_url(self.mqtt_url)
        if self.mqtt_ca_file:
            target.ca_file = self.mqtt_ca_file
        return target

    @property
    def tokens(self) -> dict[str, str]:
        return parse_tokens(self.api_tokens)

    @property
    def http_host(self) -> str:
        return self.http_bind.rpartition(":")[0].strip("[]")

    @property
    def http_port(self) -> int:
        return int(self.http_bind.rpartition(":")[2])

    @property
    def webhook_urls(self) -> list[str]:
        return [u.strip() for u in self.webhooks.split(",") if u.strip()]

    @property
    def site_ids(self) -> list[str]:
        """``sites`` as a list (``[]``: one site, ``site``, as before)."""
        return [x.strip() for x in self.sites.split(",") if x.strip()]

    @property
    def priority_systems(self) -> tuple[str, ...]:
        return tuple(s.strip() for s in self.mqtt_priority_systems.split(",") if s.strip())

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        yaml_file = _YamlFile(settings_cls, yaml_file=_CONFIG_FILE.get())
        return (init_settings, env_settings, yaml_file)


class SettingsError(Exception):
    """Bad configuration: ``str(err)`` lists one line per bad value."""


def load_settings(config: str | Path | None = None, **overrides: Any) -> Settings:
    """Settings from ``config`` (YAML), the environment (wins) and ``overrides`` (win).

    Raises :class:`SettingsError` naming every bad value and where it came from, and every
    key of the file that is not a setting.
    """
    path = Path(config) if config else None
    if path is not None and not path.is_file():
        raise SettingsError(f"config file {config}: not found")
    try:
        with _config_file(path):
            return Settings(**overrides)
    except ValidationError as exc:
        lines = [_explain(err, path) for err in exc.errors()]
        raise SettingsError("invalid configuration:\n  " + "\n  ".join(lines)) from None
    except (OSError, yaml.YAMLError, ValueError) as exc:
        where = f"config file {config}" if path is not None else "invalid configuration"
        raise SettingsError(f"{where}: {exc}") from None


def _explain(err: Any, path: Path | None) -> str:
    """One line for one validation error: which setting, from where, what is wrong."""
    name = ".".join(str(p) for p in err["loc"])
    if err["type"] == "extra_forbidden":
        where = f"config file {path}" if path is not None else "keyword argument"
        return f"{where}: unknown setting {name!r}"
    env = f"SITEWATCH_{str(err['loc'][0]).upper()}" if err["loc"] else ""
    where = f"{env} (environment)" if env in os.environ else name
    return f"{where}: {err['msg'].removeprefix('Value error, ')}"
