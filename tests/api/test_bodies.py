"""Every request body is strict: no ``"5"`` for an integer, no number for a string, no
``"true"`` for a boolean. The walk takes each body the API documents (``/openapi.json``),
so a body model added later is checked too; each model validates the wrong values as
FastAPI hands it a parsed JSON body."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import BaseModel, ValidationError

import api
from tests.api.fakes import make_app

#: what a lax parser would take for each JSON type, and a strict one refuses
WRONG: dict[str, list[Any]] = {
    "integer": ["5", 5.0, 5.5, True, "0x10"],
    "number": ["5", "5.0", True],
    "string": [5, 5.5, True, ["x"], {"x": 1}],
    "boolean": ["true", 1, 0, "1", "yes"],
    "array": ["x", 5, True, {"x": 1}],
    "object": ["x", 5, True, ["x"]],
}


def models() -> dict[str, type[BaseModel]]:
    """Every pydantic model of the ``api`` package, by name (the spec's component names)."""
    out: dict[str, type[BaseModel]] = {}
    for info in pkgutil.walk_packages(api.__path__, "api."):
        module = importlib.import_module(info.name)
        for obj in vars(module).values():
            if isinstance(obj, type) and issubclass(obj, BaseModel) and obj.__module__ == info.name:
                out[obj.__name__] = obj
    return out


def resolve(doc: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = doc["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def json_types(doc: dict[str, Any], schema: dict[str, Any]) -> set[str]:
    schema = resolve(doc, schema)
    if "anyOf" in schema:
        return set().union(*(json_types(doc, s) for s in schema["anyOf"])) - {"null"}
    return {schema["type"]} if "type" in schema else set()


def bodies(doc: dict[str, Any]) -> Iterator[tuple[str, str, str, set[str]]]:
    """``(path, model, field, its JSON types)`` for every field of every request body."""
    for path, ops in doc["paths"].items():
        for op in ops.values():
            body = op.get("requestBody")
            if not body:
                continue
            ref = body["content"]["application/json"]["schema"]
            if "anyOf" in ref:  # an optional body: the model or null
                ref = next(s for s in ref["anyOf"] if "$ref" in s)
            name = ref["$ref"].rsplit("/", 1)[-1]
            for field, prop in resolve(doc, ref)["properties"].items():
                yield path, name, field, json_types(doc, prop)


def _fits(value: Any, types: set[str]) -> bool:
    """True when ``value`` is of one of the field's own JSON types (not a wrong value)."""
    kinds = {bool: "boolean", int: "integer", float: "number", str: "string", list: "array"}
    kind = kinds.get(type(value), "object")
    return kind in types or (kind == "integer" and "number" in types)


def test_every_body_field_refuses_a_value_of_another_type() -> None:
    app, _ = make_app()
    with TestClient(app) as c:
        doc = c.get("/openapi.json").json()
    seen = list(bodies(doc))
    # the walk found the bodies of the contract (and their typed fields)
    fields = {(m, f) for _, m, f, _ in seen}
    assert {("AlarmShelve", "minutes"), ("TicketTransition", "satisfaction")} <= fields
    assert ("TicketCreate", "category") in fields
    by_name = models()
    lax: list[str] = []
    for path, model, field, types in seen:
        assert types and types <= set(WRONG), (path, field, types)
        for t in types:
            for bad in WRONG[t]:
                if _fits(bad, types):
                    continue
                # what FastAPI does with a parsed JSON body: the model validates it
                try:
                    by_name[model].model_validate({field: bad})
                    refused = False
                except ValidationError as exc:
                    refused = any(e["loc"][:1] == (field,) for e in exc.errors())
                if not refused:
                    lax.append(f"{path} {model}.{field}={bad!r}")
    assert lax == []


def test_a_lax_field_would_be_found() -> None:
    class Lax(BaseModel):
        minutes: int

    with pytest.raises(ValidationError):
        Lax.model_validate({"minutes": "five"})
    assert Lax.model_validate({"minutes": "5"}).minutes == 5  # what the walk catches
