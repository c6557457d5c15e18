"""The broker side (issue 10): deploy/mosquitto.conf and deploy/mosquitto.acl as shipped.

A Mosquitto of the test's own runs the shipped configuration (only its paths and ports
rewritten) with a password file, the shipped ACL and an ``mqtts://`` listener whose CA
and server certificate the test makes with ``cryptography``. It shows:

* no anonymous client and no wrong password gets in;
* a device (user = its id) publishes under its own topics, but another device's fire
  alarm, or anything under ``alarms/``, ``tickets/`` or ``deadletter``, never arrives;
* the gateway connects over TLS (``SITEWATCH_MQTT_CA_FILE``), receives what devices
  publish, and is the one that may publish alarms; without the CA it does not connect.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import getpass
import ipaddress
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from gateway.mqtt import MqttLink
from gateway.settings import MqttTarget, Settings
from tests.fixtures.mqtt import free_port, wait_port

pytestmark = pytest.mark.integration

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
PASSWORDS = {"sitewatch-gw": "gw-secret", "door-1": "door-secret", "fp-01": "panel-secret"}
SITE = "sc01"


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def make_certs(directory: Path) -> None:
    """``ca.crt`` and ``server.crt``/``server.key`` (127.0.0.1, localhost) in ``directory``."""
    now = dt.datetime.now(dt.UTC)
    ca_key = _key()
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sitewatch test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = _key()
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    (directory / "ca.crt").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    (directory / "server.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (directory / "server.key").write_bytes(_pem_key(key))
    (directory / "server.key").chmod(0o600)


class SecureBroker:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.tls_port = free_port()
        self.port = free_port()
        self.ca = str(root / "certs" / "ca.crt")
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        exe = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        certs = self.root / "certs"
        certs.mkdir()
        make_certs(certs)
        passwd = self.root / "passwd"
        for i, (user, password) in enumerate(PASSWORDS.items()):
            create = ["-c"] if i == 0 else []
            subprocess.run(
                ["mosquitto_passwd", *create, "-b", str(passwd), user, password], check=True
            )
        passwd.chmod(0o600)
        shutil.copy(DEPLOY / "mosquitto.acl", self.root / "mosquitto.acl")
        conf = (DEPLOY / "mosquitto.conf").read_text()
        assert "allow_anonymous false" in conf and "password_file" in conf
        conf = (
            conf.replace("/mosquitto/config/", f"{self.root}/")
            .replace("/mosquitto/data/", f"{self.root}/")
            .replace("listener 8883", f"listener {self.tls_port} 127.0.0.1")
            .replace("listener 1883", f"listener {self.port} 127.0.0.1")
            .replace("log_dest stdout", f"log_dest file {self.root}/mosquitto.log")
        )
        conf = f"user {getpass.getuser()}\n" + conf
        (self.root / "mosquitto.conf").write_text(conf)
        self.proc = subprocess.Popen([exe, "-c", str(self.root / "mosquitto.conf")])
        wait_port(self.tls_port)
        wait_port(self.port)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)

    def log(self) -> str:
        p = self.root / "mosquitto.log"
        return p.read_text(errors="replace")[-3000:] if p.exists() else ""


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[SecureBroker]:
    if shutil.which("mosquitto_passwd") is None:
        pytest.skip("mosquitto_passwd is not installed")
    b = SecureBroker(tmp_path)
    b.start()
    try:
        yield b
    finally:
        b.stop()


def device(broker: SecureBroker, user: str | None, password: str | None, tls: bool = True):
    """A connected paho client (MQTT 5) or the reason code it was refused with."""
    c = paho.Client(
        paho.CallbackAPIVersion.VERSION2,
        client_id=f"{user or 'anon'}-{uuid.uuid4().hex[:6]}",
        protocol=paho.MQTTv5,
    )
    if user is not None:
        c.username_pw_set(user, password)
    if tls:
        c.tls_set(ca_certs=broker.ca)
    result: list[object] = []
    c.on_connect = lambda cl, ud, flags, rc, props: result.append(rc)
    c.connect("127.0.0.1", broker.tls_port if tls else broker.port)
    c.loop_start()
    deadline = time.monotonic() + 10
    while not result and time.monotonic() < deadline:
        time.sleep(0.02)
    assert result, "no CONNACK"
    rc = result[0]
    if rc.is_failure:  # type: ignore[attr-defined]
        c.loop_stop()
        return rc
    return c


def test_settings_carry_the_ca_file() -> None:
    s = Settings(mqtt_url="mqtts://gw:pw@broker:8883", mqtt_ca_file="/etc/sw/ca.crt")
    assert s.mqtt.ca_file == "/etc/sw/ca.crt" and s.mqtt.tls and s.mqtt.port == 8883
    assert Settings(mqtt_url="mqtts://broker").mqtt.ca_file is None


def test_acl_and_tls(broker: SecureBroker) -> None:
    asyncio.run(_acl_and_tls(broker))


async def _acl_and_tls(broker: SecureBroker) -> None:
    # nobody anonymous, no wrong password, on either listener
    for tls in (True, False):
        rc = await asyncio.to_thread(device, broker, None, None, tls)
        assert not isinstance(rc, paho.Client) and "authorized" in str(rc).lower()
        rc = await asyncio.to_thread(device, broker, "door-1", "wrong", tls)
        assert not isinstance(rc, paho.Client)

    got: list[tuple[str, bytes]] = []

    def on_message(link: MqttLink, msg: Any) -> None:
        got.append((msg.topic, bytes(msg.payload)))
        link.ack(msg.mid)

    target = MqttTarget(
        host="127.0.0.1",
        port=broker.tls_port,
        tls=True,
        username="sitewatch-gw",
        password=PASSWORDS["sitewatch-gw"],
        ca_file=broker.ca,
    )
    gw = MqttLink(target, "sitewatch-gw-test", [f"sitewatch/{SITE}/#"], on_message)
    run = asyncio.create_task(gw.run())

    async def until(cond: object) -> None:
        deadline = time.monotonic() + 10.0
        while not cond():  # type: ignore[operator]
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out; got {got}\n{broker.log()}")
            await asyncio.sleep(0.02)

    await until(lambda: gw.connected)  # the gateway is in, over TLS with the CA file
    await asyncio.sleep(0.3)  # its subscription is in place

    def publish_as(user: str, topic: str, payload: bytes, retain: bool = False) -> object:
        """Publish at QoS 1 as ``user`` (a fresh connection); the PUBACK's reason code."""
        c = device(broker, user, PASSWORDS[user])
        assert isinstance(c, paho.Client), c
        codes: list[object] = []
        c.on_publish = lambda cl, ud, mid, rc, props: codes.append(rc)
        c.publish(topic, payload, qos=1, retain=retain).wait_for_publish(5)
        c.disconnect()
        c.loop_stop()
        return codes[0]

    fake = b'{"ts": 1767225600000, "type": "fire_alarm", "point": "sd-1", "by": "door-1"}'
    forbidden = [
        f"sitewatch/{SITE}/fire/fp-01/event",  # another device's fire alarm
        f"sitewatch/{SITE}/alarms/door-1",  # the gateway's subtrees, even named as itself
        f"sitewatch/{SITE}/tickets/door-1",
        f"sitewatch/{SITE}/deadletter",
    ]
    for topic in forbidden:
        rc = await asyncio.to_thread(publish_as, "door-1", topic, fake, topic.endswith("door-1"))
        assert "not authorized" in str(rc).lower(), (topic, rc)
    # then what they may publish: the broker routed each refused message before its PUBACK
    # (had it been accepted), so once these arrive the refused ones would have too
    own = f"sitewatch/{SITE}/access/door-1/event"
    panel = f"sitewatch/{SITE}/fire/fp-01/event"
    real = b'{"ts": 1767225600000, "type": "fire_alarm", "point": "sd-1"}'
    rc = await asyncio.to_thread(publish_as, "door-1", own, b'{"type": "badge_denied"}')
    assert not rc.is_failure  # type: ignore[attr-defined]
    rc = await asyncio.to_thread(publish_as, "fp-01", panel, real)
    assert not rc.is_failure  # type: ignore[attr-defined]
    await until(lambda: {t for t, _ in got} >= {own, panel})
    assert [p for t, p in got if t == panel] == [real]  # the panel's alarm, not door-1's
    assert b"door-1" not in b"".join(p for _, p in got)
    assert not {t for t, _ in got} & set(forbidden[1:])

    # the gateway is the one that may publish an alarm
    # (the link subscribes with No Local: a reader of its own sees the alarm)
    reader = await asyncio.to_thread(device, broker, "sitewatch-gw", PASSWORDS["sitewatch-gw"])
    assert isinstance(reader, paho.Client)
    alarms: list[str] = []
    reader.on_message = lambda cl, ud, m: alarms.append(m.topic)
    reader.subscribe(f"sitewatch/{SITE}/alarms/#", qos=1)
    await asyncio.sleep(0.3)
    gw.publish(f"sitewatch/{SITE}/alarms/A-1", b'{"id": "A-1"}', qos=1)
    await until(lambda: alarms == [f"sitewatch/{SITE}/alarms/A-1"])
    reader.disconnect()
    reader.loop_stop()

    gw.stop()
    await asyncio.wait_for(run, 10)

    # without the CA the gateway does not trust the broker: it never connects
    untrusted = MqttLink(target.model_copy(update={"ca_file": None}), "gw-no-ca", ["x"], on_message)
    run2 = asyncio.create_task(untrusted.run())
    await asyncio.sleep(1.5)
    assert not untrusted.connected
    untrusted.stop()
    await asyncio.wait_for(run2, 10)
