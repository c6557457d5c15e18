"""Alarm floods over HTTP (issue 10): a bounded SSE snapshot, groups (EEMUA 191) in the
grouped stream and ``GET /api/v1/alarms/groups``, paging a group's members by cursor.
The gateway's own alarm service on SQLite (``with_real_services``)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api import sse
from gateway.events import Hub
from rules.model import RuleHit
from tests.api.fakes import TOKENS, FakeRuntime, make_app, with_real_services
from tests.gateway.test_alarms_flood import offline


def auth(role: str = "viewer") -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKENS[role]}"}


def fire(point: str) -> RuleHit:
    return RuleHit(
        rule="fire.alarm",
        site="sc01",
        system="fire",
        device="fp-1",
        point=point,
        active=True,
        ts_ms=1,
        value="fire_alarm",
        zone="lobby",
    )


@pytest.fixture
def flood(tmp_path: Path) -> Iterator[tuple[TestClient, FakeRuntime]]:
    app, rt = make_app()
    svc = with_real_services(rt, tmp_path)
    svc.alarms.apply_many(offline(40, zone="car-park"))  # a group
    svc.alarms.apply_many(offline(3, zone="lobby", at=100))  # too few: by themselves
    svc.alarms.apply(fire("P1"))
    rt.stopping.set()  # a stream sends its snapshot and ends
    with TestClient(app) as c:
        yield c, rt
    svc.db.dispose()


def events(text: str) -> list[dict[str, Any]]:
    out = []
    for block in text.split("\n\n"):
        ev: dict[str, Any] = {}
        for line in block.splitlines():
            if line.startswith(":") or ":" not in line:
                continue
            k, v = line.split(":", 1)
            ev[k] = v.strip()
        if "data" in ev:
            ev["data"] = json.loads(ev["data"])
            out.append(ev)
    return out


def test_the_grouped_stream_sends_groups_and_a_summary(flood: Any) -> None:
    c, rt = flood
    r = c.get("/api/v1/alarms/stream", params={"groups": "true"}, headers=auth())
    assert r.status_code == 200
    evs = events(r.text)
    alarms = [e for e in evs if e["event"] == "alarm"]
    (summary,) = [e for e in evs if e["event"] == "snapshot"]
    assert evs[-1] is summary  # the summary ends the snapshot
    assert {a["data"]["device"] for a in alarms} == {"cp-00100", "cp-00101", "cp-00102", "fp-1"}
    s = summary["data"]
    assert summary["id"] == str(s["seq"]) == alarms[-1]["id"]
    (g,) = s["groups"]
    assert g["count"] == 40 and g["zone"] == "car-park" and g["priority"] == "low"
    assert g["message"] == "40 devices offline in zone car-park"
    assert s["counts"]["low"] == {"open": 43, "unacked": 43}
    assert s["counts"]["critical"]["open"] == 1
    assert s["more"]["low"] == 0 and s["limit"] == 200 and s["group_min"] == 10


def test_the_plain_stream_is_bounded_per_priority_and_groups_nothing(flood: Any) -> None:
    c, rt = flood
    rt.settings.alarm_snapshot_per_priority = 5
    evs = events(c.get("/api/v1/alarms/stream", headers=auth()).text)
    assert {e["event"] for e in evs} == {"alarm"}  # what a client of alarm events reads
    low = [e["data"]["device"] for e in evs if e["data"]["priority"] == "low"]
    assert low == ["cp-00038", "cp-00039", "cp-00100", "cp-00101", "cp-00102"]  # newest 5
    assert [e["data"]["device"] for e in evs if e["data"]["priority"] == "critical"] == ["fp-1"]


def test_a_smaller_group_minimum_from_the_settings(flood: Any) -> None:
    c, rt = flood
    rt.settings.alarm_group_min = 3
    body = c.get("/api/v1/alarms/groups", headers=auth()).json()
    assert [(g["zone"], g["count"]) for g in body["items"]] == [("car-park", 40), ("lobby", 3)]
    assert body["total"] == 2 and body["counts"]["low"]["open"] == 43


def test_members_page_by_cursor(flood: Any) -> None:
    c, _ = flood
    q = {"state": "open", "rule": "device.offline", "zone": "car-park", "limit": 15}
    seen: list[int] = []
    page = c.get("/api/v1/alarms", params=q, headers=auth()).json()
    while True:
        assert page["total"] == 40
        seen += [a["id"] for a in page["items"]]
        if page["next"] is None:
            break
        assert page["next"] == page["items"][-1]["id"]
        page = c.get("/api/v1/alarms", params={**q, "before": page["next"]}, headers=auth()).json()
    assert len(seen) == 40 == len(set(seen)) and seen == sorted(seen, reverse=True)
    bad = c.get("/api/v1/alarms", params={"before": 0}, headers=auth())
    assert bad.status_code == 422


def test_live_groups_are_sent_at_most_once_per_interval() -> None:
    async def scenario() -> list[str]:
        hub = Hub()
        stopping = asyncio.Event()
        asked = 0

        def groups() -> list[dict[str, Any]]:
            nonlocal asked
            asked += 1
            return [{"id": "group:device.offline:car-park:low", "count": 10 + asked}]

        gen = sse.stream(
            hub, lambda: [], stopping, heartbeat_s=5, groups=groups, groups_every_s=0.2
        )
        frames = [await gen.__anext__()]  # retry line: subscribed

        async def read() -> None:
            async for f in gen:
                frames.append(f)

        task = asyncio.create_task(read())
        base = {
            "rule": "device.offline",
            "zone": "car-park",
            "priority": "low",
            "system": "lighting",
        }
        for i in range(1, 51):  # a burst of groupable changes
            hub.publish(i, {**base, "id": i})
        hub.publish(
            51,
            {
                "rule": "fire.alarm",
                "zone": "lobby",
                "priority": "critical",
                "system": "fire",
                "id": 51,
            },
        )
        await asyncio.sleep(0.6)
        stopping.set()
        hub.close_all()
        await task
        return frames

    frames = asyncio.run(scenario())
    # (a write may hold several changes: a burst is framed together)
    kinds = [line[7:] for f in frames for line in f.splitlines() if line.startswith("event: ")]
    assert kinds.count("alarm") == 51
    assert 1 <= kinds.count("groups") <= 2  # not one per change
    g = next(f for f in frames if "event: groups" in f)
    assert not g.startswith("id:")  # does not move Last-Event-ID


def test_a_client_too_far_behind_gets_a_fresh_snapshot(tmp_path: Path) -> None:
    app, rt = make_app()
    svc = with_real_services(rt, tmp_path)
    svc.alarms.apply_many(offline(1100, zone="car-park"))  # 1,100 changes after id 1
    rt.stopping.set()
    try:
        with TestClient(app) as c:
            near = events(
                c.get("/api/v1/alarms/stream", headers={**auth(), "Last-Event-ID": "1050"}).text
            )
            far = events(
                c.get("/api/v1/alarms/stream", headers={**auth(), "Last-Event-ID": "1"}).text
            )
    finally:
        svc.db.dispose()
    assert [int(e["id"]) for e in near] == list(range(1051, 1101))  # resumed from the log
    # not the 1,000 oldest changes (and a gap to the live ones): the bounded snapshot
    assert len(far) == 200 and {e["id"] for e in far} == {"1100"}


def test_a_burst_of_changes_is_framed_into_few_writes_in_order() -> None:
    async def scenario() -> list[str]:
        hub = Hub()
        stopping = asyncio.Event()
        gen = sse.stream(hub, lambda: [], stopping, heartbeat_s=5)
        frames = [await gen.__anext__()]  # retry line: subscribed
        n = sse.CHUNK * 2 + 5
        for i in range(1, n + 1):  # a flood's batch, waiting together
            hub.publish(i, {"id": i, "rule": "device.offline"})
        while sum(f.count("event: alarm") for f in frames) < n:
            frames.append(await gen.__anext__())
        stopping.set()
        hub.close_all()
        await gen.aclose()  # type: ignore[attr-defined]
        return frames[1:]

    writes = asyncio.run(scenario())
    assert len(writes) == 3  # CHUNK, CHUNK and the 5 left: not one write per change
    ids = [int(line[4:]) for w in writes for line in w.splitlines() if line.startswith("id: ")]
    assert ids == list(range(1, sse.CHUNK * 2 + 6))
