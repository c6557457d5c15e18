"""``/openapi.json`` documents every response: each JSON route names its schema."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.testclient import TestClient

from tests.api.fakes import FakeRuntime, make_app
from tests.contract_fields import ALARM_FIELDS

METHODS = {"get", "post", "put", "patch", "delete"}
#: the routes that answer something other than JSON, with their media type
NOT_JSON = {
    ("get", "/metrics"): "text/plain",
    ("get", "/api/v1/alarms/stream"): "text/event-stream",
    ("get", "/api/v1/reports/monthly"): "text/html",
    ("get", "/api/v1/photos/{photo_id}"): "image/",
}


def spec(rt: FakeRuntime | None = None) -> dict[str, Any]:
    app, _ = make_app(rt)
    with TestClient(app) as c:
        r = c.get("/openapi.json")
    assert r.status_code == 200
    out: dict[str, Any] = r.json()
    return out


def resolve(doc: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        schema = doc["components"]["schemas"][name]
    return schema


def undeclared(doc: dict[str, Any]) -> tuple[list[str], set[tuple[str, str]]]:
    """Walk the spec: the JSON routes with no real response schema, and every route seen."""
    missing: list[str] = []
    seen: set[tuple[str, str]] = set()
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            if method not in METHODS:
                continue
            seen.add((method, path))
            ok = [code for code in op["responses"] if code.startswith("2")]
            content = op["responses"][ok[0]].get("content", {}) if ok else {}
            if (method, path) in NOT_JSON:
                if not any(t.startswith(NOT_JSON[method, path]) for t in content):
                    missing.append(f"{method.upper()} {path}: not {NOT_JSON[method, path]}")
                continue
            schema = content.get("application/json", {}).get("schema")
            body = resolve(doc, schema) if schema else {}
            # a real shape, not the empty (or free-form) schema of an undeclared response
            if not (body.get("properties") or body.get("anyOf")):
                missing.append(f"{method.upper()} {path}")
    return missing, seen


def test_every_json_route_declares_its_response_schema() -> None:
    doc = spec()
    missing, seen = undeclared(doc)
    assert missing == []
    # the walk covered the contract's routes
    for route in [
        ("get", "/healthz"),
        ("get", "/api/v1/devices"),
        ("get", "/api/v1/devices/{device}"),
        ("get", "/api/v1/alarms"),
        ("get", "/api/v1/alarms/{alarm_id}"),
        ("post", "/api/v1/alarms/{alarm_id}/ack"),
        ("post", "/api/v1/alarms/{alarm_id}/shelve"),
        ("post", "/api/v1/alarms/{alarm_id}/unshelve"),
        ("get", "/api/v1/tickets"),
        ("post", "/api/v1/tickets"),
        ("get", "/api/v1/tickets/{ticket_id}"),
        ("post", "/api/v1/tickets/{ticket_id}/transition"),
        ("get", "/api/v1/telemetry/{device}"),
        ("get", "/api/v1/kpis"),
        ("get", "/api/v1/me"),
        ("get", "/api/v1/site"),
        *NOT_JSON,
    ]:
        assert route in seen, route


def test_schemas_use_the_contracts_names_and_vocabulary() -> None:
    doc = spec()
    schemas = doc["components"]["schemas"]
    alarm = schemas["AlarmPublic"]
    for name in sorted(ALARM_FIELDS):
        assert name in alarm["properties"], name
    assert alarm.get("additionalProperties") is True  # objects may carry more fields
    assert "journal" in schemas["AlarmDetail"]["properties"]
    assert "journal" in schemas["TicketDetail"]["properties"]
    page = resolve(
        doc,
        doc["paths"]["/api/v1/alarms"]["get"]["responses"]["200"]["content"]["application/json"][
            "schema"
        ],
    )
    assert set(page["required"]) == {"items", "total"}
    assert set(schemas["AlarmState"]["enum"]) == {
        "active_unacked",
        "active_acked",
        "cleared_unacked",
        "closed",
    }
    assert set(schemas["TicketStatus"]["enum"]) >= {"open", "in_progress", "closed"}
    create = schemas["TicketCreate"]["properties"]
    assert create["category"] == {"$ref": "#/components/schemas/TicketCategory"}
    assert schemas["AlarmShelve"]["properties"]["minutes"]["type"] == "integer"


def test_the_walk_finds_a_route_without_a_declared_response() -> None:
    extra = APIRouter()

    @extra.get("/api/v1/loose")
    async def loose() -> dict[str, Any]:
        return {}

    rt = FakeRuntime()
    rt.extra_routers = lambda: [extra]  # type: ignore[method-assign]
    missing, _ = undeclared(spec(rt))
    assert missing == ["GET /api/v1/loose"]
