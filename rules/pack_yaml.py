"""YAML with line numbers: every mapping and list of a rule pack knows where it came from.

Errors carry the YAML line they come from (the pack is composed to nodes first).

Lifecycle: :func:`load_yaml` runs once per pack text (``rules.pack``); the mappings and
lists it returns (:class:`LDict`, :class:`LList`) carry the line of the mapping or list
and of each key or item, so every error of a pack, down to a single key, names its line
(``PATH:LINE: message``, as ``sitewatch rules check`` prints it). A duplicate key, which
plain YAML silently overwrites, is an error too. :class:`Errors` collects them.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import yaml


class LDict(dict[Any, Any]):
    line: int = 0
    lines: dict[Any, int]


class LList(list[Any]):
    line: int = 0
    lines: list[int]


class _Loader(yaml.SafeLoader):
    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.dup_errors: list[tuple[int, str]] = []


def _construct_map(loader: _Loader, node: yaml.MappingNode) -> Iterator[LDict]:
    d = LDict()
    d.line = node.start_mark.line + 1
    d.lines = {}
    yield d
    loader.flatten_mapping(node)
    for k_node, v_node in node.value:
        key = loader.construct_object(k_node, deep=True)
        line = k_node.start_mark.line + 1
        try:
            hash(key)
        except TypeError:
            loader.dup_errors.append((line, "a mapping key must be a plain value"))
            continue
        if key in d:
            loader.dup_errors.append((line, f"duplicate key {key!r}"))
        d[key] = loader.construct_object(v_node, deep=True)
        d.lines[key] = v_node.start_mark.line + 1 if isinstance(v_node, yaml.ScalarNode) else line
    return


def _construct_seq(loader: _Loader, node: yaml.SequenceNode) -> Iterator[LList]:
    seq = LList()
    seq.line = node.start_mark.line + 1
    seq.lines = []
    yield seq
    for item in node.value:
        seq.append(loader.construct_object(item, deep=True))
        seq.lines.append(item.start_mark.line + 1)


_Loader.add_constructor("tag:yaml.org,2002:map", _construct_map)  # type: ignore[arg-type]
_Loader.add_constructor("tag:yaml.org,2002:seq", _construct_seq)  # type: ignore[arg-type]


def load_yaml(text: str) -> tuple[Any, list[tuple[int, str]]]:
    loader = _Loader(text)
    try:
        data = loader.get_single_data()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 0
        return None, [(line, f"YAML syntax: {exc.problem or exc.context}")]
    except yaml.YAMLError as exc:
        return None, [(0, f"YAML: {exc}")]
    finally:
        loader.dispose()
    return data, loader.dup_errors


class Errors:
    def __init__(self) -> None:
        self.items: list[tuple[int, str]] = []

    def add(self, line: int, msg: str) -> None:
        self.items.append((line, msg))


def line_of(d: Any, key: str) -> int:
    if isinstance(d, LDict):
        return d.lines.get(key, d.line)
    return 0
