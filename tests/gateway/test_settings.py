import pytest

from gateway.settings import SettingsError, load_settings, parse_mqtt_url, parse_tokens


def test_defaults(monkeypatch):
    for k in list(__import__("os").environ):
        if k.startswith("SITEWATCH_"):
            monkeypatch.delenv(k)
    s = load_settings()
    assert s.mqtt_url == "mqtt://127.0.0.1:1883"
    assert s.mqtt_client_id == "sitewatch-gw"
    assert s.influx_api == "v1" and s.influx_db == "sitewatch" and s.influx_url == ""
    assert s.db_url == "sqlite:///./sitewatch.db"
    assert (s.http_host, s.http_port) == ("127.0.0.1", 8000)
    assert s.site == "sc01"


def test_yaml_then_environment_wins(tmp_path, monkeypatch):
    cfg = tmp_path / "sw.yaml"
    cfg.write_text("mqtt_url: mqtt://broker.local:1884\nsite: hq\ninflux_api: v2\n")
    monkeypatch.setenv("SITEWATCH_SITE", "annex")
    s = load_settings(cfg)
    assert s.mqtt.host == "broker.local" and s.mqtt.port == 1884
    assert s.site == "annex"  # the variable wins
    assert s.influx_api == "v2"


def test_every_bad_value_is_named(monkeypatch):
    monkeypatch.setenv("SITEWATCH_MQTT_URL", "http://x")
    monkeypatch.setenv("SITEWATCH_INFLUX_API", "v3")
    monkeypatch.setenv("SITEWATCH_HTTP_BIND", "8000")
    with pytest.raises(SettingsError) as e:
        load_settings()
    text = str(e.value)
    assert "SITEWATCH_MQTT_URL" in text and "mqtt://" in text
    assert "SITEWATCH_INFLUX_API" in text
    assert "SITEWATCH_HTTP_BIND" in text


def test_missing_config_file():
    with pytest.raises(SettingsError, match="not found"):
        load_settings("/nonexistent/sitewatch.yaml")


def test_mqtt_url_forms():
    t = parse_mqtt_url("mqtts://user:p%40ss@broker:8884")
    assert (t.host, t.port, t.tls, t.username, t.password) == ("broker", 8884, True, "user", "p@ss")
    assert parse_mqtt_url("mqtt://h").port == 1883
    assert parse_mqtt_url("mqtts://h").port == 8883


def test_tokens():
    assert parse_tokens("operator=abcdefgh, viewer=12345678") == {
        "abcdefgh": "operator",
        "12345678": "viewer",
    }
    for bad in ("operator", "boss=abcdefgh", "viewer=short"):
        with pytest.raises(ValueError):
            parse_tokens(bad)
