"""A 90-day state store (2026-08-01 to 2026-10-29, Asia/Shanghai) whose figures for
September 2026 are counted by hand in ``test_scorecard.py``.

September holds (days from 09-01 00:00 site time):

* P0-P19: people's cleaning requests, created day i 10:00; assigned +5 min, started
  +30 min (P0: +5 h, respond breached), resolved +30 h (P0-P6, resolve breached) or +3 h,
  closed 1 h later with satisfaction 8 (even i) or 6 (odd i);
* R0-R9: rule tickets (hvac), created day i 14:00, assigned +2 min, started +1 h, resolved
  and closed +2 h; R0-R2 reopened once; R3 and R4 repeated by X0 and X1 (days 8 and 9,
  still assigned);
* jobs of tickets sharing an alarm: J1 (security + fire-safety) 1.0 day, J2 1.5 days, J3
  2.0 days from first opened to last closed; J4 two hvac tickets (one crew: no composite
  job); J5 security closed, fire-safety still in progress (unfinished);
* PM0-PM5: preventive tickets of plan pm-1 (days 23-28), assigned; PM0 and PM1 late
  (assign breached);
* C0: a request cancelled unassigned;
* 72 alarms; 40 inspected checkpoints, 10 failed (when the rounds table exists).

August: A0-A9 people's requests resolved, A0-A4 late; 8 checkpoints, 4 failed.
October (to the 29th): nothing.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from gateway.store import models as m
from gateway.store import models_rounds
from gateway.tickets.model import Ticket

H = 3_600_000
MIN = 60_000
DAY = 24 * H
AUG = 1_785_513_600_000  # 2026-08-01 00:00 +08:00
SEP = 1_788_192_000_000  # 2026-09-01 00:00 +08:00
OCT = 1_790_784_000_000  # 2026-10-01 00:00 +08:00
NOW = OCT + 28 * DAY + 12 * H  # 2026-10-29 12:00 +08:00


class Builder:
    def __init__(self, conn: sa.Connection) -> None:
        self.conn = conn
        self.n = 0

    def ticket(
        self,
        created: int,
        *,
        source: str = "person",
        crew: str = "cleaning",
        category: str = "cleaning",
        assigned: int | None = None,
        started: int | None = None,
        resolved: int | None = None,
        closed: int | None = None,
        cancelled: int | None = None,
        resolve_by: int = DAY,
        breached: list[str] | None = None,
        **extra: Any,
    ) -> int:
        self.n += 1
        status = (
            "cancelled"
            if cancelled
            else "closed"
            if closed
            else "resolved"
            if resolved
            else "in_progress"
            if started
            else "assigned"
            if assigned
            else "open"
        )
        t = Ticket(
            title=f"t{self.n}",
            category=category,
            priority="medium",
            source=source,
            crew=crew,
            created_by="op",
            created_at_ms=created,
            assign_by_ms=created + 15 * MIN,
            respond_by_ms=created + 4 * H,
            resolve_by_ms=created + resolve_by,
            updated_at_ms=created,
            status=status,
            rule="r" if source == "rule" else None,
            device=f"d{self.n}",
            assigned_at_ms=assigned,
            started_at_ms=started,
            resolved_at_ms=resolved,
            closed_at_ms=closed,
            cancelled_at_ms=cancelled,
            breached=list(breached or []),
            **extra,
        )
        return int(
            self.conn.execute(
                sa.insert(m.tickets).values(t.row()).returning(m.tickets.c.id)
            ).scalar_one()
        )

    def alarm(self, at: int) -> None:
        self.n += 1
        self.conn.execute(
            sa.insert(m.alarms).values(
                rule="x",
                site="t1",
                system="hvac",
                device=f"a{self.n}",
                point="",
                zone=None,
                priority="low",
                state="closed",
                raised_at_ms=at,
                activated_at_ms=at,
                source_ts_ms=at,
                ticket_ids=[],
                last_hit_ms=at,
                last_announced_ms=at,
                updated_at_ms=at,
            )
        )


def build(engine: sa.Engine, *, rounds: bool = False, surveys: bool = False) -> dict[str, int]:
    ids: dict[str, int] = {}
    with engine.begin() as conn:
        b = Builder(conn)
        for i in range(10):  # August
            c = AUG + (4 + i) * DAY + 10 * H
            r = c + (30 * H if i < 5 else 3 * H)
            b.ticket(
                c,
                assigned=c + 5 * MIN,
                started=c + 30 * MIN,
                resolved=r,
                closed=r + H,
                breached=["resolve"] if i < 5 else [],
            )
        for i in range(20):  # P
            c = SEP + i * DAY + 10 * H
            r = c + (30 * H if i < 7 else 3 * H)
            br = (["respond"] if i == 0 else []) + (["resolve"] if i < 7 else [])
            ids[f"P{i}"] = b.ticket(
                c,
                assigned=c + 5 * MIN,
                started=c + (5 * H if i == 0 else 30 * MIN),
                resolved=r,
                closed=r + H,
                satisfaction=8 if i % 2 == 0 else 6,
                breached=br,
                callback_by_ms=r + DAY,
            )
        for i in range(10):  # R
            c = SEP + i * DAY + 14 * H
            ids[f"R{i}"] = b.ticket(
                c,
                source="rule",
                crew="hvac",
                category="repair",
                assigned=c + 2 * MIN,
                started=c + H,
                resolved=c + 2 * H,
                closed=c + 2 * H,
                reopened=1 if i < 3 else 0,
            )
        for k, of in enumerate(("R3", "R4")):  # X
            c = SEP + (8 + k) * DAY + 16 * H
            b.ticket(
                c,
                source="rule",
                crew="hvac",
                category="repair",
                assigned=c + 2 * MIN,
                repeat_of=ids[of],
            )
        jobs: dict[int, list[tuple[str, int, int | None]]] = {  # alarm: [(crew, open, closed)]
            101: [
                ("security", 12 * DAY + 8 * H, 13 * DAY + 8 * H),
                ("fire-safety", 12 * DAY + 9 * H, 12 * DAY + 20 * H),
            ],
            102: [
                ("security", 14 * DAY, 15 * DAY + 12 * H),
                ("fire-safety", 14 * DAY + 6 * H, 14 * DAY + 18 * H),
            ],
            103: [("security", 16 * DAY, 18 * DAY), ("fire-safety", 16 * DAY + H, 17 * DAY)],
            104: [("hvac", 21 * DAY, 21 * DAY + 5 * H), ("hvac", 21 * DAY + H, 21 * DAY + 6 * H)],
            105: [("security", 22 * DAY, 22 * DAY + 10 * H), ("fire-safety", 22 * DAY + H, None)],
        }
        for alarm_id, parts in jobs.items():
            for crew, c0, done in parts:
                c = SEP + c0
                b.ticket(
                    c,
                    source="rule",
                    crew=crew,
                    category="repair",
                    assigned=c + MIN,
                    started=c + 10 * MIN,
                    resolved=None if done is None else SEP + done,
                    closed=None if done is None else SEP + done,
                    resolve_by=72 * H,
                    alarm_id=alarm_id,
                )
        conn.execute(
            sa.insert(m.pm_plans).values(
                id="pm-1",
                source="site",
                spec={},
                anchor_ms=AUG,
                created_at_ms=AUG,
                updated_at_ms=AUG,
            )
        )
        for i in range(6):  # PM
            c = SEP + (23 + i) * DAY
            b.ticket(
                c,
                source="rule",
                crew="hvac",
                category="preventive",
                assigned=c + (30 * MIN if i < 2 else MIN),
                breached=["assign"] if i < 2 else [],
                plan_id="pm-1",
                asset="ahu-01",
                due_at_ms=c + 7 * DAY,
            )
        b.ticket(SEP + 25 * DAY, cancelled=SEP + 25 * DAY + H)  # C0
        for i in range(72):
            b.alarm(SEP + i * 10 * H)
        if rounds:
            # inspected checkpoints as the rounds service records them (migration 0006)
            rows = [(SEP + i * 12 * H, i % 4 == 0) for i in range(40)]
            rows += [(AUG + i * DAY, i % 2 == 0) for i in range(8)]
            for n, (at, failed) in enumerate(rows):
                conn.execute(
                    sa.insert(models_rounds.round_checkpoints).values(
                        round_id=n + 1,
                        checkpoint="cp00",
                        template_id="clean-lobby",
                        zone="lobby",
                        asset=None,
                        answers={},
                        photos=[],
                        failed=failed,
                        failed_items=["floor"] if failed else [],
                        done_at_ms=at,
                        done_by="clean-hu",
                    )
                )
        if surveys:
            if "survey" not in {c["name"] for c in sa.inspect(conn).get_columns("tickets")}:
                conn.execute(sa.text("ALTER TABLE tickets ADD COLUMN survey JSON"))
            for i in range(10):
                conn.execute(
                    sa.text("UPDATE tickets SET survey = :s WHERE id = :id"),
                    {
                        "s": '{"overall": 9, "speed": 5, "thoroughness": 7, "attitude": 8}',
                        "id": ids[f"P{i}"],
                    },
                )
    return ids
