"""The rounds of one site: made on schedule, done on a phone, failures turned into tickets.

Life: built by :func:`gateway.rounds.wiring.build_rounds` beside the ticket service;
construction writes the site file's templates (``RoundStore.sync``). Then
:meth:`RoundService.tick` (from the site's tick, at most every 30 s of gateway time;
reads call it too, so a read never shows a stale status):

1. makes the rounds due up to ``open_ahead_min`` from now (never before the template was
   first seen, at most two days back after a stop);
2. flags ``missed`` each round still ``due`` after its ``start_by`` and tells the crew's
   lead (``tell``: the notification channels, in the same transaction);
3. flags ``abandoned`` each round ``in_progress`` a second window after ``finish_by``
   (its answers and findings are kept).

Doing a round (crew members, ``gateway.rounds.rights``): :meth:`start`; :meth:`answer`
per checkpoint (answers judged by ``gateway.rounds.findings``; photos claimed; every
answer carries the phone's idempotency key: a replay of a key already applied changes
nothing and returns the round); failed items then open tickets or add to the open one;
:meth:`finish` (409 naming unanswered checkpoints) or :meth:`abandon`. Everything is
synchronous and short and runs on the event loop, like the ticket service.
"""

from __future__ import annotations

import builtins
import secrets
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from pydantic import ValidationError
from sqlalchemy import Engine
from sqlalchemy.engine import Connection

from gateway.clock import Clock, iso_ms
from gateway.errors import Conflict, Forbidden, Invalid, NotFound
from gateway.people.principal import Principal
from gateway.photos import Photos, may_read
from gateway.rounds.figures import round_figures
from gateway.rounds.findings import Findings, Opener, judge
from gateway.rounds.model import STARTABLE, Round, RoundStatus
from gateway.rounds.rights import check_crew, check_manager
from gateway.rounds.schedule import due_times
from gateway.rounds.store import RoundStore, TemplateRecord
from gateway.store.filters import parse_id
from rules.site import RoundTemplate, Site, check_rounds

TICK_EVERY_MS = 30_000
BACKFILL_MS = 2 * 86_400_000
MIN_MS = 60_000
#: (conn, people, title, lines, now_ms): tell people in the caller's transaction
Tell = Callable[[Connection, list[str], str, list[str], int], None]
S = RoundStatus


class RoundService:
    def __init__(
        self,
        engine: Engine,
        site: Site,
        clock: Clock,
        tickets: Opener,
        photos: Photos,
        *,
        tell: Tell | None = None,
    ) -> None:
        self.site = site
        self.site_id = photos.site_id
        self._engine = engine
        self._clock = clock
        self.tickets = tickets
        self.photos = photos
        self.tell = tell
        self.store = RoundStore(engine)
        self.store.sync(site.rounds, clock.now_ms())
        self._templates: dict[str, TemplateRecord] = self.store.templates()
        self._findings = Findings(tickets, site, self.store)
        self._tick_at: int | None = None

    # -------------------------------------------------------------------- time
    def tick(self, now_ms: int | None = None, *, force: bool = False) -> dict[str, int]:
        """See the module doc; how many rounds were made, missed and abandoned."""
        now = self._clock.now_ms() if now_ms is None else int(now_ms)
        if not force and self._tick_at is not None and 0 <= now - self._tick_at < TICK_EVERY_MS:
            return {}
        self._tick_at = now
        made = self._make(now)
        with self._engine.begin() as conn:
            missed = self._flag_missed(conn, now)
            abandoned = self._flag_abandoned(conn, now)
        return {"made": made, "missed": missed, "abandoned": abandoned}

    def _make(self, now: int) -> int:
        made = 0
        for rec in self._templates.values():
            t = rec.template
            lo = max(rec.anchor_ms, now - BACKFILL_MS)
            hi = now + int(t.open_ahead_min * MIN_MS)
            dues = due_times(t.schedule, self.site.tz, rec.anchor_ms, lo, hi)
            have = self.store.due_times_of(t.id, lo, hi)
            new = [d for d in dues if d not in have]
            if not new:
                continue
            cps = [c.model_dump(mode="json") for c in t.checkpoints]
            with self._engine.begin() as conn:
                for due in new:
                    self.store.insert(
                        conn,
                        {
                            "site": self.site_id,
                            "template_id": t.id,
                            "name": t.name,
                            "crew": t.crew,
                            "status": S.DUE,
                            "due_at_ms": due,
                            "start_by_ms": due + int(t.grace_min * MIN_MS),
                            "finish_by_ms": due + int(t.window_min * MIN_MS),
                            "checkpoints": cps,
                            "priority": str(t.priority),
                            "created_at_ms": now,
                            "updated_at_ms": now,
                            "version": 1,
                        },
                    )
                    made += 1
        return made

    def _flag_missed(self, conn: Connection, now: int) -> int:
        late = [
            r
            for r in self.store.select(conn, status=[S.DUE], limit=10_000)[0]
            if r.start_by_ms < now
        ]
        for r in late:
            self.store.save(conn, r, status=S.MISSED, missed_at_ms=now, updated_at_ms=now)
            crew = self.site.crew(r.crew)
            if self.tell is not None and crew is not None and crew.lead:
                self.tell(
                    conn,
                    [crew.lead],
                    f"[{self.site_id}] Round missed 巡检漏检: {r.name}",
                    [
                        f"Due 应开始: {iso_ms(r.due_at_ms)}",
                        f"Crew 班组: {r.crew}",
                        f"Round 巡检: #{r.id}",
                    ],
                    now,
                )
        return len(late)

    def _flag_abandoned(self, conn: Connection, now: int) -> int:
        stale = [
            r
            for r in self.store.select(conn, status=[S.IN_PROGRESS], limit=10_000)[0]
            if now > r.finish_by_ms + (r.finish_by_ms - r.due_at_ms)
        ]
        for r in stale:
            self.store.save(
                conn,
                r,
                status=S.ABANDONED,
                abandoned_at_ms=now,
                updated_at_ms=now,
                note="not finished in time: abandoned, answers kept",
            )
        return len(stale)

    # ------------------------------------------------------------------ doing
    def start(self, round_id: int | str, who: Principal) -> dict[str, Any]:
        rid = parse_id(round_id, "round")
        self.tick()
        now = self._clock.now_ms()
        with self._engine.begin() as conn:
            r = self.store.load(conn, rid)
            check_crew(who, r.id, r.crew)
            if r.status == S.IN_PROGRESS:
                return self._public(conn, r)  # started already (a replay): nothing to do
            if r.status not in STARTABLE:
                raise Conflict(f"round {r.id} is {r.status}: only a due or missed round starts")
            r = self.store.save(
                conn,
                r,
                status=S.IN_PROGRESS,
                started_at_ms=now,
                started_by=who.user,
                updated_at_ms=now,
            )
            return self._public(conn, r)

    def answer(
        self,
        round_id: int | str,
        checkpoint: str,
        answers: Mapping[str, Any],
        who: Principal,
        *,
        photos: Sequence[str] = (),
        key: str | None = None,
        scanned: bool = False,
        client_at_ms: int | None = None,
    ) -> dict[str, Any]:
        """One checkpoint's answers (see the module doc); the round as it now stands."""
        rid = parse_id(round_id, "round")
        key = key or secrets.token_urlsafe(12)
        now = self._clock.now_ms()
        with self._engine.begin() as conn:
            r = self.store.load(conn, rid)
            check_crew(who, r.id, r.crew)
            if self.store.answer_seen(conn, r.id, key):
                return {**self._public(conn, r), "replayed": True}
            if r.status != S.IN_PROGRESS:
                raise Conflict(f"round {r.id} is {r.status}: answers go to a round in progress")
            cp = r.checkpoint(checkpoint)
            if cp is None:
                raise NotFound(f"round {r.id} has no checkpoint {checkpoint!r}")
            items = {i["id"]: i for i in cp["items"]}
            pics = [
                *photos,
                *(v for k, v in answers.items() if k in items and items[k].get("kind") == "photo"),
            ]
            clean, failed = judge(cp, answers, pics)
            claimed = self.photos.claim(conn, pics, who.user, round_id=r.id)
            self.store.add_answer(
                conn,
                {
                    "round_id": r.id,
                    "checkpoint": cp["id"],
                    "key": key,
                    "by": who.user,
                    "body": {"answers": clean, "photos": claimed, "scanned": scanned},
                    "at_ms": now,
                    "client_at_ms": client_at_ms,
                },
            )
            self.store.put_checkpoint(
                conn,
                {
                    "round_id": r.id,
                    "checkpoint": cp["id"],
                    "template_id": r.template_id,
                    "zone": cp["zone"],
                    "asset": cp.get("asset"),
                    "answers": clean,
                    "photos": claimed,
                    "failed": bool(failed),
                    "failed_items": [i["id"] for i in failed],
                    "scanned": scanned,
                    "done_at_ms": now,
                    "done_by": who.user,
                },
            )
            todo = [
                i
                for i in failed
                if not self._findings.repeat(conn, r, cp, i, claimed, who.user, now)
            ]
            r = self.store.save(conn, r, updated_at_ms=now)
        for item in todo:
            self._findings.open(r, cp, item, clean[item["id"]], claimed, who, who.user)
        return self.get(r.id)

    def finish(
        self, round_id: int | str, who: Principal, note: str | None = None
    ) -> dict[str, Any]:
        rid = parse_id(round_id, "round")
        now = self._clock.now_ms()
        with self._engine.begin() as conn:
            r = self.store.load(conn, rid)
            check_crew(who, r.id, r.crew)
            if r.status == S.DONE:
                return self._public(conn, r)  # finished already (a replay)
            if r.status != S.IN_PROGRESS:
                raise Conflict(f"round {r.id} is {r.status}: only a round in progress finishes")
            done = self.store.answered(conn, [r.id])[r.id]
            left = [c["id"] for c in r.checkpoints if c["id"] not in done]
            if left:
                raise Conflict(f"round {r.id}: checkpoints not yet answered: {', '.join(left)}")
            r = self.store.save(
                conn,
                r,
                status=S.DONE,
                finished_at_ms=now,
                finished_by=who.user,
                note=(note or "").strip() or r.note,
                updated_at_ms=now,
            )
            return self._public(conn, r)

    def abandon(self, round_id: int | str, who: Principal, reason: str) -> dict[str, Any]:
        """Stop a round half-way: what was answered stays (and its findings)."""
        rid = parse_id(round_id, "round")
        if not reason or not reason.strip():
            raise Invalid("reason is required")
        now = self._clock.now_ms()
        with self._engine.begin() as conn:
            r = self.store.load(conn, rid)
            check_crew(who, r.id, r.crew)
            if r.status != S.IN_PROGRESS:
                raise Conflict(f"round {r.id} is {r.status}: only a round in progress is abandoned")
            r = self.store.save(
                conn,
                r,
                status=S.ABANDONED,
                abandoned_at_ms=now,
                note=reason.strip()[:500],
                updated_at_ms=now,
            )
            return self._public(conn, r)

    # --------------------------------------------------------------- reading
    def list(
        self,
        status: Sequence[str] | None = None,
        crew: str | None = None,
        *,
        limit: int = 100,
        offset: int = 0,
    ) -> tuple[list[dict[str, Any]], int]:
        self.tick()
        horizon = self._clock.now_ms() + 86_400_000
        with self._engine.connect() as conn:
            rows, total = self.store.select(
                conn, status=status, crew=crew, limit=limit, offset=offset, due_before_ms=horizon
            )
            done = self.store.answered(conn, [r.id for r in rows])
            return [r.public(done[r.id]) for r in rows], total

    def get(self, round_id: int | str) -> dict[str, Any]:
        rid = parse_id(round_id, "round")
        self.tick()
        with self._engine.connect() as conn:
            r = self.store.load(conn, rid)
            out = self._public(conn, r)
            out["answers_log"] = [
                {
                    "checkpoint": a["checkpoint"],
                    "key": a["key"],
                    "by": a["by"],
                    "at": iso_ms(a["at_ms"]),
                    "client_at": iso_ms(a["client_at_ms"]),
                }
                for a in self.store.answers(conn, r.id)
            ]
            return out

    def _public(self, conn: Connection, r: Round) -> dict[str, Any]:
        done = self.store.answered(conn, [r.id])[r.id]
        return r.public(done, self.store.findings_of(conn, r))

    def crew_of(self, round_id: int) -> str | None:
        with self._engine.connect() as conn:
            try:
                return self.store.load(conn, round_id).crew
            except NotFound:
                return None

    # ------------------------------------------------------------- templates
    def templates(self) -> builtins.list[dict[str, Any]]:
        return [rec.public() for rec in self._templates.values()]

    def add_template(self, body: Mapping[str, Any], who: Principal) -> dict[str, Any]:
        check_manager(who)
        try:
            t = RoundTemplate.model_validate(dict(body))
            assets = {d.id for d in self.site.devices} | {a.id for a in self.site.assets}
            check_rounds(
                [t], {z.id for z in self.site.zones}, {c.id for c in self.site.crews}, assets
            )
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(x) for x in first.get("loc", ()))
            raise Invalid(f"{where}: {first.get('msg')}") from None
        except ValueError as exc:
            raise Invalid(str(exc)) from None
        rec = self.store.add(t, who.user, self._clock.now_ms())
        self._templates[t.id] = rec
        self._tick_at = None  # make its rounds at the next tick
        return rec.public()

    # --------------------------------------------------------------- figures
    def figures(self, days: float = 30.0, now_ms: int | None = None) -> dict[str, Any]:
        end = self._clock.now_ms() if now_ms is None else now_ms
        start = end - int(days * 86_400_000)
        with self._engine.connect() as conn:
            out = round_figures(conn, start, end + 1)
        return {"from": iso_ms(start), "to": iso_ms(end), **out}

    # ---------------------------------------------------------------- photos
    def photo(self, photo_id: str, who: Principal, thumb: bool = False) -> tuple[bytes, str]:
        """A photo's bytes for ``who`` (404 for none of this site's, 403 without rights)."""
        meta = self.photos.get(photo_id)
        if meta is None:
            raise NotFound("no such photo")
        crew = self.crew_of(meta.round_id) if meta.round_id is not None else None
        t_crew = t_assignee = None
        if meta.ticket_id is not None:
            try:
                t = self.tickets.get(meta.ticket_id)  # type: ignore[attr-defined]
                t_crew, t_assignee = t.get("crew"), t.get("assignee")
            except NotFound:
                pass
        if not may_read(who, meta, round_crew=crew, ticket_crew=t_crew, ticket_assignee=t_assignee):
            if meta.round_id is None and meta.ticket_id is None:
                raise NotFound("no such photo")
            raise Forbidden(f"{who.user} may not see photo {photo_id}")
        return self.photos.content(meta, thumb)
