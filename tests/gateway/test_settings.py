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


def test_unknown_key_in_the_config_file_is_refused(tmp_path, monkeypatch):
    for k in list(__import__("os").environ):
        if k.startswith("SITEWATCH_"):
            monkeypatch.delenv(k)
    cfg = tmp_path / "sw.yaml"
    cfg.write_text("site: hq\ninflux_bacth_size: 100\n")  # a typo
    with pytest.raises(SettingsError) as e:
        load_settings(cfg)
    text = str(e.value)
    assert "influx_bacth_size" in text and str(cfg) in text
    cfg.write_text("site: hq\ninflux_batch_size: 100\n")
    assert load_settings(cfg).influx_batch_size == 100


def test_a_variable_outside_the_settings_is_not_an_unknown_key(tmp_path, monkeypatch):
    monkeypatch.setenv("SITEWATCH_TEST_INFLUX_URL", "http://x")  # the tests' own variable
    monkeypatch.delenv("SITEWATCH_SITE", raising=False)
    cfg = tmp_path / "sw.yaml"
    cfg.write_text("site: hq\n")
    assert load_settings(cfg).site == "hq"


def test_config_file_errors_name_the_file(tmp_path, monkeypatch):
    monkeypatch.delenv("SITEWATCH_INFLUX_API", raising=False)
    cfg = tmp_path / "sw.yaml"
    cfg.write_text("- site\n- hq\n")
    with pytest.raises(SettingsError, match="sw.yaml.*YAML mapping"):
        load_settings(cfg)
    cfg.write_text("site: [hq\n")
    with pytest.raises(SettingsError, match="sw.yaml"):
        load_settings(cfg)
    cfg.write_text("influx_api: v3\n")
    with pytest.raises(SettingsError, match="influx_api"):
        load_settings(cfg)
    cfg.write_text("")  # an empty file is no setting at all
    assert load_settings(cfg).influx_api == "v1"


def test_nested_yaml_values_and_keyword_overrides(tmp_path, monkeypatch):
    monkeypatch.delenv("SITEWATCH_TICKET_SLA", raising=False)
    monkeypatch.delenv("SITEWATCH_SITE", raising=False)
    cfg = tmp_path / "sw.yaml"
    cfg.write_text("site: hq\nticket_sla:\n  high: {assign: 5}\n")
    s = load_settings(cfg, site="annex")
    assert s.site == "annex"  # a keyword wins over the file
    assert s.ticket_sla == {"high": {"assign": 5.0}}
    with pytest.raises(SettingsError, match="keyword argument.*'nope'"):
        load_settings(nope=1)
    assert load_settings().site == "sc01"  # the file was for that one call only
