"""The rounds' figures against a fixture computed by hand: on time / late / missed per
crew, the fail rate (failed checkpoints / inspected checkpoints) overall, by zone and per
item, finding to fix, and a hot spot (the same item failed three rounds in a row)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rules.site import RoundTemplate
from tests.gateway.rounds.env import HU, Env

FX = RoundTemplate.model_validate(
    {
        "id": "fx",
        "name": "Fixture round",
        "crew": "cleaning",
        "schedule": {"every_min": 120, "start": "09:00", "end": "17:00"},
        "checkpoints": [
            {
                "id": "a",
                "zone": "lobby",
                "items": [
                    {"id": "floor", "text": "Floor clean", "photo": "never"},
                    {"id": "soap", "text": "Soap %", "kind": "number", "min": 20, "photo": "never"},
                    {"id": "note", "text": "Note", "kind": "text", "required": False},
                ],
            },
            {
                "id": "b",
                "zone": "vip-1",
                "items": [{"id": "floor", "text": "Floor clean", "photo": "never"}],
            },
        ],
    }
)

# (time, answers of a, answers of b or None, finish?)
PLAN: list[tuple[str, dict[str, Any], dict[str, Any] | None, bool]] = [
    ("09:05", {"floor": True, "soap": 50, "note": "ok"}, {"floor": False}, True),
    ("11:05", {"floor": False, "soap": 40}, {"floor": False}, True),
    ("13:05", {"floor": True, "soap": 10}, {"floor": False}, True),
    ("15:05", {"floor": True, "soap": 60}, None, False),
]


def test_the_figures_equal_the_hand_computed_fixture(tmp_path: Path) -> None:
    env = Env(tmp_path, templates=(FX,))
    ids = []
    for hhmm, a, b, finish in PLAN:
        env.at(hhmm)
        rid = env.round_of("fx", "due")["id"]
        ids.append(rid)
        env.rounds.start(rid, HU)
        env.rounds.answer(rid, "a", a, HU)
        if b is not None:
            env.rounds.answer(rid, "b", b, HU)
        if finish:
            env.rounds.finish(rid, HU)
        else:
            env.rounds.abandon(rid, HU, "called away")
        if hhmm == "13:05":
            # the lobby floor finding of 11:05 is fixed at 13:35: 2.5 h
            lobby = next(f for f in env.rounds.get(ids[1])["findings"] if f["checkpoint"] == "a")
            env.clock.advance(30 * 60)
            for to in ("assigned", "in_progress", "resolved"):
                env.tickets.transition(
                    lobby["ticket_id"],
                    to,
                    "operator",
                    assignee="clean-hu" if to == "assigned" else None,
                )
    env.at("18:00")  # the 17:00 round was never started: missed at 17:30
    fig = env.rounds.figures(days=1)

    assert fig["rounds"] == {
        "cleaning": {"on_time": 3, "late": 0, "missed": 1, "abandoned": 1, "open": 0}
    }
    # checkpoints inspected: 2 + 2 + 2 + 1 = 7; failed: b, a+b, a+b = 5
    assert (fig["inspected"], fig["failed"], fig["fail_pct"]) == (7, 5, 71.4)
    assert fig["by_zone"] == {
        "lobby": {"inspected": 4, "failed": 2, "fail_pct": 50.0},
        "vip-1": {"inspected": 3, "failed": 3, "fail_pct": 100.0},
    }
    # floor: 4 answers at a (1 failed) + 3 at b (3 failed); soap: 4 (1 failed); the note
    # cannot fail and is not counted
    assert fig["by_item"] == {
        "floor": {"inspected": 7, "failed": 4, "fail_pct": 57.1},
        "soap": {"inspected": 4, "failed": 1, "fail_pct": 25.0},
    }
    # findings: b/floor (then twice more on the same open ticket), a/floor, a/soap
    assert fig["finding_to_fix"] == {"findings": 3, "fixed": 1, "mean_h": 2.5, "median_h": 2.5}
    assert [(h["zone"], h["item"], h["streak"]) for h in fig["hot_spots"]] == [
        ("vip-1", "floor", 3)
    ]
