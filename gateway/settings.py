"""All settings in one place.

Every setting can come from a YAML file (``sitewatch run --config FILE``) and from
``SITEWATCH_*`` environment variables; the variable wins. Values are validated once, at
start, and each bad value gets its own clear message (see :func:`load_settings`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal
from urllib.parse import unquote, urlsplit

import yaml
from pydantic import BaseModel, Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from gateway.site import ID_RE

ROLES = ("viewer", "operator", "technician", "integrator", "admin")


class MqttTarget(BaseModel):
    host: str
    port: int
    tls: bool = False
    username: str | None = None
    password: str | None = None


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


class _YamlSource(PydanticBaseSettingsSource):
    def __init__(self, settings_cls: type[BaseSettings], path: Path | None) -> None:
        super().__init__(settings_cls)
        self._data: dict[str, Any] = {}
        if path is not None:
            loaded = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
            if not isinstance(loaded, dict):
                raise ValueError(f"{path}: a config file is a YAML mapping")
            self._data = {str(k).lower(): v for k, v in loaded.items()}

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return self._data.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return {k: v for k, v in self._data.items() if k in self.settings_cls.model_fields}


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SITEWATCH_", extra="ignore")

    mqtt_url: str = "mqtt://127.0.0.1:1883"
    mqtt_client_id: str = Field("sitewatch-gw", pattern=r"^[A-Za-z0-9_.:-]{1,64}$")
    mqtt_receive_maximum: int = Field(
        10000, ge=1, le=65535, description="MQTT 5 Receive Maximum: QoS 1 messages in flight to us"
    )
    mqtt_priority_systems: str = Field(
        "fire", description="systems read on a connection of their own (never behind a backlog)"
    )
    influx_url: str = ""
    influx_api: Literal["v1", "v2"] = "v1"
    influx_db: str = "sitewatch"
    influx_token: str = ""
    influx_org: str = ""
    influx_batch_size: int = Field(5000, ge=1, le=100_000)
    influx_flush_interval_s: float = Field(1.0, gt=0, le=60)
    db_url: str = "sqlite:///./sitewatch.db"
    http_bind: str = "127.0.0.1:8000"
    api_tokens: str = ""
    site: str = Field("sc01", pattern=ID_RE)
    site_file: str = Field("", description="path of the site file; empty = the shipped demo site")
    telemetry_db: str = Field(
        "", description="embedded telemetry store (SQLite file) when no InfluxDB"
    )
    rules_file: str = Field("", description="rule pack (YAML); empty = the default pack")
    queue_size: int = Field(50_000, ge=100, description="readings buffered between stages")
    # tickets (gateway.tickets, gateway.outbox)
    webhooks: str = Field("", description="comma-separated URLs POSTed every ticket change")
    webhook_secret: str = Field("", description="HMAC-SHA256 key of X-Sitewatch-Signature")
    webhook_timeout_s: float = Field(10.0, gt=0, le=300)
    outbox_backoff_max_s: float = Field(
        60.0, gt=0, le=3600, description="longest wait between two delivery attempts"
    )
    ticket_sla: dict[str, dict[str, float]] = Field(
        default_factory=dict,
        description="service-level overrides: {'<priority>'|'<category>'|'<priority>/<category>':"
        " {assign|respond|resolve|callback: minutes}} (YAML mapping, or JSON in the variable)",
    )
    ticket_escalate_at: float = Field(
        0.8, gt=0, lt=1, description="escalate when this fraction of a clock has run"
    )

    @field_validator("mqtt_url")
    @classmethod
    def _mqtt(cls, v: str) -> str:
        parse_mqtt_url(v)
        return v

    @field_validator("influx_url")
    @classmethod
    def _influx(cls, v: str) -> str:
        v = v.strip().rstrip("/")
        if v and urlsplit(v).scheme not in ("http", "https"):
            raise ValueError(f"{v!r}: InfluxDB URL must start with http:// or https://")
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
        return parse_mqtt_url(self.mqtt_url)

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
        path = _CONFIG_PATH.get("path")
        return (init_settings, env_settings, _YamlSource(settings_cls, path))


_CONFIG_PATH: dict[str, Path | None] = {"path": None}


class SettingsError(Exception):
    """Bad configuration: ``str(err)`` lists one line per bad value."""


def load_settings(config: str | Path | None = None, **overrides: Any) -> Settings:
    """Settings from ``config`` (YAML), the environment (wins) and ``overrides`` (win).

    Raises :class:`SettingsError` naming every bad value and where it came from.
    """
    _CONFIG_PATH["path"] = Path(config) if config else None
    try:
        if config and not Path(config).is_file():
            raise SettingsError(f"config file {config}: not found")
        return Settings(**overrides)
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            name = ".".join(str(p) for p in err["loc"])
            env = f"SITEWATCH_{name.upper()}"
            where = f"{env} (environment)" if env in os.environ else f"{name}"
            msg = err["msg"].removeprefix("Value error, ")
            lines.append(f"{where}: {msg}")
        raise SettingsError("invalid configuration:\n  " + "\n  ".join(lines)) from None
    except (OSError, yaml.YAMLError, ValueError) as exc:
        raise SettingsError(f"config file {config}: {exc}") from None
    finally:
        _CONFIG_PATH["path"] = None
