"""The site as a Brick model: export, validation with brickschema, points by class."""

from __future__ import annotations

from pathlib import Path

import pytest
from rdflib import RDF, Graph, Literal, Namespace

from gateway.brick import BRICK, POINT_CLASSES, ahu_points, site_graph
from gateway.site import load_site
from rules.pack import load_packs
from sitewatch.cli import main

SH = Namespace("http://www.w3.org/ns/shacl#")
NS = "urn:sitewatch:sc01#"


def test_export_writes_the_site_and_validates(tmp_path: Path) -> None:
    brickschema = pytest.importorskip("brickschema")
    out = tmp_path / "site.ttl"
    assert main(["site", "export", "--format", "brick", "--out", str(out)]) == 0
    g = Graph().parse(out)
    site = load_site()
    zones = set(g.subjects(RDF.type, BRICK.HVAC_Zone))
    assert {str(z) for z in zones} == {f"{NS}zone-{z.id}" for z in site.zones}
    fcus = list(g.subjects(RDF.type, BRICK.FCU))
    assert len(fcus) == sum(1 for d in site.devices if d.type == "fcu")
    assert all((f, BRICK.feeds, None) in g for f in fcus)
    for cls in ("AHU", "Lighting", "Access_Control_Equipment", "Fire_Alarm_Control_Panel"):
        assert (None, RDF.type, BRICK[cls]) in g, cls
    model = brickschema.Graph(load_brick=True)
    model += g
    _, results, _ = model.validate()
    ours = [
        (str(f), str(next(results.objects(r, SH.resultMessage))))
        for r in results.subjects(SH.focusNode, None)
        for f in results.objects(r, SH.focusNode)
        if str(f).startswith(NS) and (r, SH.resultSeverity, SH.Violation) in results
    ]
    assert ours == []  # (Brick 1.4 warns that HVAC_Zone/Space/Site have REC successors)


def test_the_fdd_pack_finds_the_ahu_points_through_their_classes() -> None:
    g = site_graph(load_site())
    found = ahu_points(g)
    assert found == {f"{NS}ahu-01": {f: f for f in POINT_CLASSES}}
    fdd_fields = set().union(*(r.fields for r in load_packs("fdd").rules)) - {"mode", "os"}
    assert fdd_fields <= set(POINT_CLASSES)


def test_an_integrators_own_model_maps_to_the_contract_fields() -> None:
    ex = Namespace("urn:example#")
    g = Graph()
    g.add((ex.AHU_7, RDF.type, BRICK.AHU))
    for name, cls in (
        ("OA-T", "Outside_Air_Temperature_Sensor"),
        ("MA-T", "Mixed_Air_Temperature_Sensor"),
    ):
        g.add((ex[name], RDF.type, BRICK[cls]))
        g.add((ex.AHU_7, BRICK.hasPoint, ex[name]))
    g.add((ex.HW_V, RDF.type, BRICK.Heating_Valve))
    g.add((ex.AHU_7, BRICK.hasPart, ex.HW_V))
    g.add((ex["HW-V-CMD"], RDF.type, BRICK.Valve_Position_Command))
    g.add((ex.HW_V, BRICK.hasPoint, ex["HW-V-CMD"]))
    g.add(
        (ex["HW-V-CMD"], Namespace("http://www.w3.org/2000/01/rdf-schema#").label, Literal("HWV"))
    )
    assert ahu_points(g) == {
        "urn:example#AHU_7": {"oat": "OA-T", "mat": "MA-T", "heat_valve": "HWV"}
    }
