"""The site file as a Brick model (https://brickschema.org), and the air handler's points
found back through their Brick classes.

Lifecycle: :func:`site_graph` runs once per ``sitewatch site export --format brick`` (the
site file in, an ``rdflib`` graph out, written as Turtle by :func:`export_site`); the
tests validate it with the ``brickschema`` package. :func:`ahu_points` runs on any Brick
model (ours or an integrator's own) and maps each air handler's points to the contract's
field names (section 13) through :data:`POINT_CLASSES`, so the fault-detection pack
(``rules/packs/fdd.yaml``) can be driven from a model rather than from our field names.

The model: the site (``brick:Site``) and its building; each zone a ``brick:HVAC_Zone``
with its ``brick:Space``; the AHU (``brick:AHU``) with its sensors and setpoints as
points, and its supply fan, heating and cooling valves and outdoor-air damper as parts
carrying their commands and status; each fan-coil a ``brick:FCU`` that ``brick:feeds``
its zone; lighting circuits (``brick:Lighting``), doors (``brick:Access_Control_Equipment``),
the fire panel (``brick:Fire_Alarm_Control_Panel``) with its detectors as parts. Every
point carries the telemetry field it is published as (``sw:field``) and the MQTT topic of
its device (``sw:topic``).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from rdflib import RDF, RDFS, Graph, Literal, Namespace, URIRef

from rules.site import Device, Site

BRICK = Namespace("https://brickschema.org/schema/Brick#")
SW = Namespace("https://sitewatch.example/schema#")

#: field -> (part of the AHU that carries it, or None for the AHU itself; Brick point class)
POINT_CLASSES: dict[str, tuple[str | None, str]] = {
    "oat": (None, "Outside_Air_Temperature_Sensor"),
    "rat": (None, "Return_Air_Temperature_Sensor"),
    "mat": (None, "Mixed_Air_Temperature_Sensor"),
    "sat": (None, "Supply_Air_Temperature_Sensor"),
    "sat_sp": (None, "Supply_Air_Temperature_Setpoint"),
    "duct_static": (None, "Supply_Air_Static_Pressure_Sensor"),
    "duct_static_sp": (None, "Supply_Air_Static_Pressure_Setpoint"),
    "heat_valve": ("Heating_Valve", "Valve_Position_Command"),
    "cool_valve": ("Cooling_Valve", "Valve_Position_Command"),
    "oa_damper": ("Outside_Damper", "Damper_Position_Command"),
    "fan_speed": ("Supply_Fan", "Fan_Speed_Command"),
    "fan": ("Supply_Fan", "Fan_Status"),
}
#: a zone unit's points (fan-coils, and the AHU's own zone-side fields)
UNIT_POINTS: dict[str, str] = {
    "zone_temp": "Zone_Air_Temperature_Sensor",
    "setpoint": "Target_Zone_Air_Temperature_Setpoint",
    "filter_dp": "Filter_Differential_Pressure_Sensor",
    "fault_code": "Fault_Status",
    "power_kw": "Electric_Power_Sensor",
    "ewt": "Entering_Water_Temperature_Sensor",
    "lwt": "Leaving_Water_Temperature_Sensor",
}
_EQUIP = {
    "ahu": "AHU",
    "fcu": "FCU",
    "lighting_circuit": "Lighting",
    "door": "Access_Control_Equipment",
    "fire_panel": "Fire_Alarm_Control_Panel",
    "smoke_detector": "Smoke_Detector",
    "heat_detector": "Heat_Detector",
}
_BY_SYSTEM = {
    "hvac": "HVAC_Equipment",
    "lighting": "Lighting",
    "access": "Access_Control_Equipment",
    "fire": "Fire_Safety_Equipment",
}


def _local(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]", "_", text)


def site_graph(site: Site) -> Graph:
    """The site as a Brick model."""
    ns = Namespace(f"urn:sitewatch:{_local(site.site)}#")
    g = Graph()
    g.bind("brick", BRICK)
    g.bind("sw", SW)
    g.bind("site", ns)
    site_node, bldg = ns["site"], ns["building"]
    g.add((site_node, RDF.type, BRICK.Site))
    g.add((site_node, RDFS.label, Literal(site.name or site.site)))
    g.add((bldg, RDF.type, BRICK.Building))
    g.add((site_node, BRICK.hasPart, bldg))
    for z in site.zones:
        zone, space = ns[f"zone-{_local(z.id)}"], ns[f"space-{_local(z.id)}"]
        g.add((zone, RDF.type, BRICK.HVAC_Zone))
        g.add((zone, RDFS.label, Literal(z.name or z.id)))
        g.add((space, RDF.type, BRICK.Space))
        g.add((space, RDFS.label, Literal(z.name or z.id)))
        g.add((zone, BRICK.hasPart, space))
        g.add((bldg, BRICK.hasPart, space))
    for d in site.devices:
        _device(g, ns, site.site, d)
    for d in site.devices:  # a panel's detectors that are devices: typed by their own entry
        if d.type == "fire_panel":
            _panel(g, ns, d)
    return g


def _point(g: Graph, node: URIRef, owner: URIRef, cls: str, fld: str, topic: str) -> None:
    g.add((node, RDF.type, BRICK[cls]))
    g.add((node, RDFS.label, Literal(fld)))
    g.add((node, SW.field, Literal(fld)))
    g.add((node, SW.topic, Literal(topic)))
    g.add((owner, BRICK.hasPoint, node))


def _device(g: Graph, ns: Namespace, site_id: str, d: Device) -> None:
    eq = ns[_local(d.id)]
    cls = _EQUIP.get(d.type or "", _BY_SYSTEM.get(d.system, "Equipment"))
    g.add((eq, RDF.type, BRICK[cls]))
    g.add((eq, RDFS.label, Literal(d.display_name)))
    g.add((eq, SW.device, Literal(d.id)))
    topic = f"sitewatch/{site_id}/{d.system}/{d.id}/telemetry"
    if d.zone:
        g.add((eq, BRICK.hasLocation, ns[f"space-{_local(d.zone)}"]))
    if d.type == "fcu":
        g.add((eq, BRICK.feeds, ns[f"zone-{_local(d.zone)}"]))
    if d.system == "hvac":
        for fld, pcls in UNIT_POINTS.items():
            if d.type != "fcu" and fld in ("ewt", "lwt"):
                continue
            _point(g, ns[f"{_local(d.id)}.{fld}"], eq, pcls, fld, topic)
    if d.type == "ahu":
        for fld, (part, pcls) in POINT_CLASSES.items():
            owner = eq
            if part is not None:
                owner = ns[f"{_local(d.id)}.{part.lower()}"]
                g.add((owner, RDF.type, BRICK[part]))
                g.add((eq, BRICK.hasPart, owner))
            _point(g, ns[f"{_local(d.id)}.{fld}"], owner, pcls, fld, topic)


def _panel(g: Graph, ns: Namespace, d: Device) -> None:
    eq = ns[_local(d.id)]
    if d.type == "fire_panel":
        for p in d.points:
            det = ns[_local(p)]
            if (det, RDF.type, None) not in g:  # a point that is not a device of its own
                g.add((det, RDF.type, BRICK.Smoke_Detector))
                g.add((det, RDFS.label, Literal(p)))
            g.add((eq, BRICK.hasPart, det))


def export_site(site: Site, out: str | Path) -> int:
    """Write the site's Brick model as Turtle to ``out``; the number of triples."""
    g = site_graph(site)
    Path(out).write_text(g.serialize(format="turtle"), encoding="utf-8")
    return len(g)


_AHU_QUERY = """
SELECT ?ahu ?point ?cls ?part_cls ?label WHERE {
  ?ahu a brick:AHU .
  { ?ahu brick:hasPoint ?point . BIND(brick:AHU AS ?part_cls) }
  UNION
  { ?ahu brick:hasPart ?part . ?part a ?part_cls . ?part brick:hasPoint ?point . }
  ?point a ?cls .
  OPTIONAL { ?point rdfs:label ?label }
}
"""


def ahu_points(g: Graph) -> dict[str, dict[str, str]]:
    """Each AHU of a Brick model -> {contract field: the point's label (its name in the
    integrator's telemetry)}, found through :data:`POINT_CLASSES` (not through our own
    ``sw:field``)."""
    wanted: dict[tuple[str, str], str] = {}
    for fld, (part, pcls) in POINT_CLASSES.items():
        wanted[(part or "AHU", pcls)] = fld
    out: dict[str, dict[str, str]] = {}
    rows: Any = g.query(_AHU_QUERY, initNs={"brick": BRICK, "rdfs": RDFS})
    for ahu, point, cls, part_cls, label in rows:
        key = (str(part_cls).rsplit("#", 1)[-1], str(cls).rsplit("#", 1)[-1])
        found = wanted.get(key)
        if found is None:
            continue
        name = str(label) if label is not None else str(point).rsplit("#", 1)[-1]
        out.setdefault(str(ahu), {})[found] = name
    return out
