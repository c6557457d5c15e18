"""The demo's embedded MQTT broker (amqtt, MQTT 3.1.1). For the demo only: benchmarks and
integration tests use Mosquitto."""

from __future__ import annotations

from typing import Any


async def start_broker(host: str, port: int) -> Any:
    from amqtt.broker import Broker

    config = {
        "listeners": {
            "default": {"type": "tcp", "bind": f"{host}:{port}", "max_connections": 20000}
        },
        "plugins": {
            "amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True},
        },
    }
    broker = Broker(config)
    await broker.start()
    return broker
