"""The pipeline's stage interfaces (Telegraf's ``parser.go`` / ``output.go`` in Python).

Each is a small protocol; :class:`gateway.pipeline.Pipeline` is handed one of each (and a
list of processors) by the composition root, so another decoder (an adapter for a foreign
payload) or another processor plugs in without touching the hot path.

All of them run on the event loop, one message at a time, in arrival order. Any of them
may raise: the pipeline turns that message into a dead letter (reason ``internal``) and
goes on.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from rules.model import Message, Rejected


class Decoder(Protocol):
    """Raw MQTT message in, a validated message or a reasoned rejection out (or several
    messages, when one foreign message carries several readings)."""

    def decode(
        self, topic: str, payload: bytes, now_ms: int
    ) -> Message | Rejected | Sequence[Message | Rejected]: ...


class Processor(Protocol):
    """Sees every valid message, in order, before it is stored."""

    def __call__(self, msg: Message) -> None: ...


class AckGate(Protocol):
    """Asked before stored messages are acknowledged to the broker.

    ``ready()`` returning ``False`` holds the acknowledgements; the gate then calls
    :meth:`gateway.pipeline.Pipeline.ack_held` once it is ready (e.g. the rule engine's
    pending timers are saved)."""

    def ready(self) -> bool: ...
