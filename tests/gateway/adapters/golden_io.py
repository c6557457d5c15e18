"""Golden files of the adapters: reading inputs, running them, writing what came out.

Layout: ``golden/<adapter>/config.yaml`` (the adapters file every case of that folder
runs with), ``NN.input.json`` ``{"source": where the shape comes from, "messages":
[{"topic", "payload" | "payload_proto" | "payload_base64", "now_ms"?}]}`` and
``NN.expected.json`` ``{"results": [one entry per message]}``, each entry a list of
decoded messages (``{"type": "telemetry", ...}``) or ``{"rejected": reason}``.

Each case runs on a fresh decoder, its messages in order (Sparkplug B sessions and
Zigbee2MQTT edges carry over between them). ``payload`` is text as is when a string,
else JSON; ``payload_proto`` is a Sparkplug B payload in protobuf's JSON mapping.

``python -m tests.gateway.adapters.golden_io`` writes the expected file of every input
that has none yet (review it before committing: a golden file is only as good as that
review); it never overwrites one.
"""

from __future__ import annotations

import base64
import dataclasses
import json
from pathlib import Path
from typing import Any

from gateway.adapters import load_adapters
from gateway.adapters.sparkplug_proto import encode_payload
from rules.model import Event, Rejected, Status, Telemetry

GOLDEN = Path(__file__).parent / "golden"
SITE = "sc01"
NOW = 1_767_225_600_000  # 2026-01-01T00:00:00Z


def payload_of(m: dict[str, Any]) -> bytes:
    if "payload_proto" in m:
        return encode_payload(m["payload_proto"])
    if "payload_base64" in m:
        return base64.b64decode(m["payload_base64"])
    p = m["payload"]
    return p.encode("utf-8") if isinstance(p, str) else json.dumps(p).encode("utf-8")


def as_dict(msg: Any) -> dict[str, Any]:
    kind = {Telemetry: "telemetry", Event: "event", Status: "status"}[type(msg)]
    d = dataclasses.asdict(msg)
    d.pop("site")
    d.pop("received_ms")
    return {"type": kind, **d}


def run_case(folder: Path, case: dict[str, Any]) -> list[Any]:
    decoder = load_adapters(folder / "config.yaml", SITE)
    out: list[Any] = []
    for m in case["messages"]:
        res = decoder.decode(m["topic"], payload_of(m), m.get("now_ms", NOW))
        if isinstance(res, Rejected):
            out.append({"rejected": res.reason})
        else:
            msgs = res if isinstance(res, list) else [res]
            out.append([as_dict(x) for x in msgs])
    # through JSON, as the expected file is read back (tuples, key order)
    return json.loads(json.dumps(out))


def cases() -> list[Path]:
    return sorted(GOLDEN.glob("*/*.input.json"))


def expected_path(inp: Path) -> Path:
    return inp.with_name(inp.name.replace(".input.json", ".expected.json"))


if __name__ == "__main__":
    for inp in sorted(GOLDEN.glob("*/*.input.json")):
        exp = expected_path(inp)
        if not exp.exists():
            results = run_case(inp.parent, json.loads(inp.read_text()))
            exp.write_text(json.dumps({"results": results}, indent=2) + "\n")
            print("wrote", exp.relative_to(GOLDEN))
