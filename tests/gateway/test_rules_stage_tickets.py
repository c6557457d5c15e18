"""The rules stage's dispatch of a flood to the tickets: the hits written by the alarm
backlog are gathered and handed to ``TicketService.on_hits`` together once the loop runs,
in order with any later hit (which first flushes what was gathered)."""

from __future__ import annotations

import asyncio
from typing import Any

from gateway.clock import ManualClock
from gateway.rules_stage import FLOOD_HITS, RulesStage
from rules.model import RuleHit


class Alarm:
    def __init__(self, aid: int) -> None:
        self.id = aid


class Alarms:
    """Writes at once; a flood's callbacks run as the backlog would: after the write."""

    def __init__(self) -> None:
        self.n = 0
        self.later: list[tuple[RuleHit, Any]] = []

    def apply(self, hit: RuleHit) -> Alarm:
        self.n += 1
        return Alarm(self.n)

    def submit(self, hits: list[RuleHit], then: Any) -> None:
        self.later += [(h, then) for h in hits]

    def drain(self, k: int) -> None:
        for h, then in self.later[:k]:
            then(h, self.apply(h))
        del self.later[:k]

    def ack(self, *a: Any, **k: Any) -> dict[str, Any]:  # pragma: no cover - not used
        raise AssertionError

    def open_alarms(self) -> list[dict[str, Any]]:
        return []


class Tickets:
    def __init__(self) -> None:
        self.calls: list[tuple[str, list[tuple[str, bool, int | None]]]] = []

    def on_hit(self, hit: RuleHit, alarm_id: int | None = None) -> list[Any]:
        self.calls.append(("one", [(hit.device, hit.active, alarm_id)]))
        return []

    def on_hits(self, hits: list[tuple[RuleHit, int | None]]) -> list[Any]:
        self.calls.append(("many", [(h.device, h.active, a) for h, a in hits]))
        return []


class Engine:
    def __init__(self, hits: list[RuleHit]) -> None:
        self.hits = hits

    judging = False

    def tick(
        self, now_ms: int, max_devices: int | None = None, max_hits: int | None = None
    ) -> list[RuleHit]:
        out, self.hits = self.hits, []
        return out


def hit(i: int, active: bool = True) -> RuleHit:
    return RuleHit(
        rule="device.offline",
        site="s",
        system="lighting",
        device=f"d{i}",
        point=None,
        active=active,
        ts_ms=0,
    )


def stage(hits: list[RuleHit]) -> tuple[RulesStage, Alarms, Tickets]:
    alarms, tickets = Alarms(), Tickets()
    st = RulesStage(Engine(hits), alarms, tickets, None, ManualClock(0.0), "s")  # type: ignore[arg-type]
    return st, alarms, tickets


def test_a_floods_hits_reach_the_tickets_together_once_the_loop_runs() -> None:
    n = FLOOD_HITS + 20

    async def main() -> tuple[Alarms, Tickets, list[Any]]:
        st, alarms, tickets = stage([hit(i) for i in range(n)])
        st.tick(0)
        alarms.drain(n)  # the backlog's turn: every write and callback
        before = list(tickets.calls)
        await asyncio.sleep(0)
        return alarms, tickets, before

    _, tickets, before = asyncio.run(main())
    assert before == []  # nothing yet: gathered until the loop runs
    assert [kind for kind, _ in tickets.calls] == ["many"]
    assert [d for d, _, _ in tickets.calls[0][1]] == [f"d{i}" for i in range(n)]
    assert tickets.calls[0][1][0][2] == 1  # with its alarm's id


def test_a_later_hit_first_flushes_what_was_gathered() -> None:
    async def main() -> Tickets:
        st, alarms, tickets = stage([hit(i) for i in range(FLOOD_HITS)])
        st.tick(0)
        alarms.drain(10)
        st.apply(hit(3, active=False))  # d3 back: after its offline reached the tickets
        await asyncio.sleep(0)
        alarms.drain(FLOOD_HITS)
        await asyncio.sleep(0)
        return tickets

    tickets = asyncio.run(main())
    kinds = [kind for kind, _ in tickets.calls]
    assert kinds == ["many", "one", "many"]
    assert len(tickets.calls[0][1]) == 10 and tickets.calls[1][1][0][:2] == ("d3", False)
    assert len(tickets.calls[2][1]) == FLOOD_HITS - 10


def test_without_a_loop_each_hit_goes_at_once() -> None:
    st, alarms, tickets = stage([hit(i) for i in range(FLOOD_HITS)])
    st.tick(0)
    alarms.drain(2)
    assert [kind for kind, _ in tickets.calls] == ["many", "many"]


# ------------------------------------------------- a message's tickets: the next turn
class MsgEngine(Engine):
    """Judges one event message into ``hits``; nothing pending to save but its state."""

    def on_event(self, msg: Any) -> list[RuleHit]:
        out, self.hits = self.hits, []
        return out

    def take_dirty(self) -> set[str]:
        return set()

    def snapshot(self, devices: Any = None) -> dict[str, Any]:
        return {"devices": {}}


class State:
    def __init__(self) -> None:
        self.saves = 0

    def save_rule_state_parts(self, parts: dict[str, Any]) -> None:
        self.saves += 1


def test_a_messages_tickets_follow_its_alarm_in_the_next_turn_and_hold_the_acks() -> None:
    from rules.model import Event

    msg = Event(
        site="s", system="fire", device="fp", ts_ms=0, type="fire_alarm", received_ms=0, point="p1"
    )
    order: list[str] = []

    async def main() -> tuple[list[Any], bool, int, Tickets]:
        alarms, tickets, state = Alarms(), Tickets(), State()
        st = RulesStage(MsgEngine([hit(1), hit(2)]), alarms, tickets, state, ManualClock(0.0), "s")  # type: ignore[arg-type]
        released: list[int] = []
        st.release = lambda: released.append(1)
        loop = asyncio.get_running_loop()
        loop.call_soon(order.append, "scheduled before")  # e.g. the SSE frame's task
        st(msg)
        assert alarms.n == 2  # both alarms written now
        before = list(tickets.calls)
        ready = st.ready()  # tickets still to open: acks wait
        await asyncio.sleep(0)
        order.append("after a turn")
        return before, ready, len(released), tickets

    before, ready, released, tickets = asyncio.run(main())
    assert before == [] and not ready
    assert [c[1][0][:2] for c in tickets.calls] == [("d1", True), ("d2", True)]  # in order
    assert [c[1][0][2] for c in tickets.calls] == [1, 2]  # each with its alarm's id
    assert released == 1  # the acks held for them went once they ran
    assert order == ["scheduled before", "after a turn"]


def test_a_later_hit_first_runs_a_messages_waiting_tickets() -> None:
    from rules.model import Event

    msg = Event(
        site="s", system="fire", device="fp", ts_ms=0, type="fire_alarm", received_ms=0, point="p1"
    )

    async def main() -> Tickets:
        alarms, tickets = Alarms(), Tickets()
        st = RulesStage(MsgEngine([hit(1)]), alarms, tickets, State(), ManualClock(0.0), "s")  # type: ignore[arg-type]
        st(msg)
        st.apply(hit(1, active=False))  # (an ack's or a tick's hit: at once, after d1's)
        await asyncio.sleep(0)
        return tickets

    tickets = asyncio.run(main())
    assert [c[1][0][:2] for c in tickets.calls] == [("d1", True), ("d1", False)]


def test_without_a_loop_a_messages_tickets_go_at_once() -> None:
    from rules.model import Event

    alarms, tickets = Alarms(), Tickets()
    st = RulesStage(MsgEngine([hit(1)]), alarms, tickets, State(), ManualClock(0.0), "s")  # type: ignore[arg-type]
    st(
        Event(
            site="s",
            system="fire",
            device="fp",
            ts_ms=0,
            type="fire_alarm",
            received_ms=0,
            point="p1",
        )
    )
    assert [c[1][0][:2] for c in tickets.calls] == [("d1", True)]
