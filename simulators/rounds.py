"""Inspection rounds done by simulated crews, through the HTTP API, so the figures have data.

:func:`complete_due` takes the rounds that are due (or missed) and does most of them as a
crew member would: start, each checkpoint in order (a generated photo uploaded for a
failure), finish. A checkpoint fails with its crew's rate (cleaning 25 %: the service
plan's spot checks; security 5 %; customer service 10 %; fire safety 8 %; one failable
item failed, a number put outside its limits); a share of rounds (``skip``, 10 %) is left
undone, so some are missed. :func:`run` does it periodically until stopped (for the demo;
it needs a token of a role that may do every crew's rounds: ``admin``).

It talks HTTP only (``httpx``; any ``httpx.Client``, a FastAPI ``TestClient`` too).
"""

from __future__ import annotations

import asyncio
import io
import random
from typing import Any

import httpx
from PIL import Image

FAIL_RATE = {"cleaning": 0.25, "security": 0.05, "customer-service": 0.10, "fire-safety": 0.08}
DEFAULT_FAIL_RATE = 0.10


def _photo(rng: random.Random) -> bytes:
    buf = io.BytesIO()
    colour = tuple(rng.randrange(256) for _ in range(3))
    Image.new("RGB", (320, 240), colour).save(buf, "JPEG", quality=70)
    return buf.getvalue()


def _answers(cp: dict[str, Any], fail: bool, rng: random.Random) -> tuple[dict[str, Any], bool]:
    """Answers of a checkpoint (one failable item failed when ``fail``) and whether a
    photo is wanted."""
    failable = [
        i
        for i in cp["items"]
        if i.get("kind", "check") == "check"
        or (i.get("kind") == "number" and (i.get("min") is not None or i.get("max") is not None))
    ]
    bad = rng.choice(failable)["id"] if fail and failable else None
    out: dict[str, Any] = {}
    photo = False
    for i in cp["items"]:
        kind = i.get("kind", "check")
        if kind == "check":
            out[i["id"]] = i["id"] != bad
        elif kind == "number":
            lo, hi = i.get("min"), i.get("max")
            if i["id"] == bad:
                out[i["id"]] = (lo - 1) if lo is not None else (hi + 1)
            else:
                a = lo if lo is not None else (hi - 10 if hi is not None else 0)
                b = hi if hi is not None else a + 10
                out[i["id"]] = round(rng.uniform(a, b), 1)
        elif i.get("required", True) and kind == "text":
            out[i["id"]] = "ok"
        if i["id"] == bad and i.get("photo", "on_fail") == "on_fail":
            photo = True
        photo = photo or i.get("photo") == "always"
    return out, photo


def complete_due(
    client: httpx.Client, rng: random.Random | None = None, *, skip: float = 0.1
) -> dict[str, int]:
    """Do the rounds due now (see the module doc); how many were done, skipped, failed."""
    rng = rng or random.Random()
    counts = {"done": 0, "skipped": 0, "failed_checkpoints": 0, "checkpoints": 0}
    due = client.get("/api/v1/rounds", params={"status": "due,missed", "limit": 50})
    due.raise_for_status()
    for r in due.json()["items"]:
        if rng.random() < skip:
            counts["skipped"] += 1
            continue
        client.post(f"/api/v1/rounds/{r['id']}/start").raise_for_status()
        rate = FAIL_RATE.get(r["crew"], DEFAULT_FAIL_RATE)
        for cp in r["checkpoints"]:
            fail = rng.random() < rate
            answers, want_photo = _answers(cp, fail, rng)
            photos = []
            if want_photo:
                up = client.post(
                    "/api/v1/photos", files={"file": ("p.jpg", _photo(rng), "image/jpeg")}
                )
                up.raise_for_status()
                photos.append(up.json()["id"])
            body = {"answers": answers, "photos": photos, "key": f"sim-{r['id']}-{cp['id']}"}
            client.post(
                f"/api/v1/rounds/{r['id']}/checkpoints/{cp['id']}", json=body
            ).raise_for_status()
            counts["checkpoints"] += 1
            counts["failed_checkpoints"] += fail
        client.post(f"/api/v1/rounds/{r['id']}/finish", json={}).raise_for_status()
        counts["done"] += 1
    return counts


async def run(base_url: str, token: str, stop: asyncio.Event, every_s: float = 60.0) -> None:
    """Every ``every_s``: :func:`complete_due` against the gateway at ``base_url``."""
    rng = random.Random()
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=base_url, headers=headers, timeout=10) as client:
        while not stop.is_set():
            try:
                await asyncio.to_thread(complete_due, client, rng)
            except httpx.HTTPError:
                pass  # the gateway is starting or stopping: next time
            try:
                await asyncio.wait_for(stop.wait(), every_s)
            except TimeoutError:
                pass
