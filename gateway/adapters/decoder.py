"""The adapters as one pipeline Decoder: topic filters in file order, then the contract's.

Lifecycle: :func:`gateway.adapters.load_adapters` builds an :class:`AdapterDecoder` once at
start (every filter precompiled to a regular expression with its literal prefix). Per
message, :meth:`AdapterDecoder.decode`:

1. hands the contract's own topics (``sitewatch/...``) straight to
   :class:`gateway.decode.ContractDecoder`;
2. otherwise tries the adapters' filters in file order; the first that matches decodes the
   message, and a message it cannot map becomes a :class:`~rules.model.Rejected` with
   reason ``adapter:<name>:<why>``. The adapter a topic went to is remembered for the
   next message on that topic (topics of at most 256 characters, at most
   ``MAX_REMEMBERED`` of them; past that the filters are tried each time);
3. a topic no filter matches goes to the contract's decoder too (which rejects it as
   ``bad_topic``).

It never raises: whatever an adapter raises becomes reason ``adapter:<name>:internal``
(logged once per adapter and error type). It answers one message, or a list of them when
one foreign message carries several readings (ThingsBoard's gateway API, Sparkplug B's
NDEATH); see :class:`gateway.stages.Decoder`.

:meth:`AdapterDecoder.topic_filters` lists the filters the runtime must subscribe to
besides ``sitewatch/<site>/#``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence

from gateway.adapters.base import MAX_REMEMBERED, Adapter
from gateway.adapters.units import Unmappable
from gateway.decode import ContractDecoder
from rules.model import Message, Rejected

log = logging.getLogger("gateway.adapters")
_ROUTED_TOPIC_MAX = 256


def compile_filter(topic_filter: str) -> tuple[str, re.Pattern[str]]:
    """An MQTT filter -> (its literal prefix, a regex matching exactly its topics).

    ``+`` matches one level, ``#`` the parent level and any below it; as MQTT says, the
    wildcards do not match topics starting with ``$`` (``$SYS/...``)."""
    levels = topic_filter.split("/")
    out: list[str] = []
    for i, level in enumerate(levels):
        if level == "#":
            # "a/#" matches "a" too: the separator before # is optional
            if out:
                out[-1] = out[-1][: -len("/")] if out[-1].endswith("/") else out[-1]
                out.append("(?:/.*)?")
            else:
                out.append(".*")
            break
        piece = "[^/]*" if level == "+" else re.escape(level)
        out.append(piece + ("/" if i < len(levels) - 1 else ""))
    pattern = "".join(out)
    if topic_filter[:1] in ("+", "#"):
        pattern = r"(?!\$)" + pattern
    literal = topic_filter.split("+", 1)[0].split("#", 1)[0]
    return literal, re.compile(pattern, re.DOTALL)


class AdapterDecoder:
    """A :class:`gateway.stages.Decoder`: the adapters first, the contract's for the rest."""

    __slots__ = ("site", "adapters", "contract", "_routes", "_routed", "_own", "_logged")

    def __init__(self, site: str, adapters: Sequence[Adapter]) -> None:
        self.site = site
        self.adapters = tuple(adapters)
        self.contract = ContractDecoder(site)
        self._own = "sitewatch/"
        self._routes = tuple((*compile_filter(a.spec.topic), a) for a in self.adapters)
        self._routed: dict[str, Adapter] = {}  # topic -> the adapter whose filter matched
        self._logged: set[tuple[str, str]] = set()

    def topic_filters(self) -> list[str]:
        """The adapters' filters, in order, without duplicates (to subscribe to)."""
        return list(dict.fromkeys(a.spec.topic for a in self.adapters))

    def decode(
        self, topic: str, payload: bytes | bytearray, now_ms: int
    ) -> Message | list[Message] | Rejected:
        adapter: Adapter | None = None
        try:
            if not topic.startswith(self._own):
                adapter = self._routed.get(topic) or self._route(topic)
                if adapter is not None:
                    return adapter.decode(topic, payload, now_ms)
            return self.contract.decode(topic, payload, now_ms)
        except Unmappable as u:
            name = adapter.name if adapter is not None else "-"
            return Rejected(topic, bytes(payload), f"adapter:{name}:{u.why}", u.detail, now_ms)
        except RecursionError:
            name = adapter.name if adapter is not None else "-"
            return Rejected(
                topic, bytes(payload), f"adapter:{name}:bad_json", "nested too deeply", now_ms
            )
        except Exception as exc:  # noqa: BLE001 - never raise on input: a poison message
            name = adapter.name if adapter is not None else "-"
            self._log_once(name, exc, topic)
            detail = f"adapter {name}: {type(exc).__name__}: {exc}"[:500]
            try:
                raw = bytes(payload)
            except Exception:  # noqa: BLE001 - not even bytes
                raw = b""
            return Rejected(str(topic), raw, f"adapter:{name}:internal", detail, now_ms)

    def _route(self, topic: str) -> Adapter | None:
        for literal, rx, a in self._routes:
            if topic.startswith(literal) and rx.fullmatch(topic):
                if len(topic) <= _ROUTED_TOPIC_MAX and len(self._routed) < MAX_REMEMBERED:
                    self._routed[topic] = a
                return a
        return None

    def _log_once(self, name: str, exc: Exception, topic: str) -> None:
        key = (name, type(exc).__name__)
        if key not in self._logged and len(self._logged) < 64:
            self._logged.add(key)
            log.error(
                "adapter %s raised %s on %.200s; rejected as internal (logged once)",
                name,
                key[1],
                topic,
                exc_info=exc,
            )
