"""The strings inside query items: gathered once to be scanned, then rewritten in place.

Redaction has to look at every string of a result that can be megabytes large. The first
walk gathers each distinct string value and map key (a result repeats statuses, names and
e-mail addresses, and each distinct string is scanned once); the second, once the
findings are known, writes the new text over each value that changed and renames keys,
in place. Two walks cost less than one that records where each string sits: remembering
every place takes three appends per string, and the findings are few.

The walks are plain recursive functions over typed arguments so that mypyc compiles them
to C (see `setup.py`); interpreted they run as they read.

A value of a type a DynamoDB item cannot hold raises `Unsupported`, a map key that is not
text `KeyNotText`, each naming the offending type.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator
from decimal import Decimal
from typing import Any

SCALARS = frozenset({int, bool, Decimal, type(None)})


class Unsupported(Exception):
    def __init__(self, kind: type) -> None:
        super().__init__(kind.__name__)
        self.kind = kind


class KeyNotText(Unsupported):
    """A map key of another type than text."""


def gather(items: list[dict[str, Any]]) -> tuple[set[str], set[str]]:
    """Every distinct string value, and every distinct map key, at any depth of `items`."""
    values: set[str] = set()
    keys: set[Any] = set()
    for item in items:
        _gather_map(item, values, keys)
    not_text = {type(key) for key in keys} - {str}
    if not_text:
        raise KeyNotText(not_text.pop())
    return values, keys


def rewrite(
    items: list[dict[str, Any]], new_text: dict[str, str], renamed: dict[str, str]
) -> list[str]:
    """Write `new_text[value]` over every string value found in `new_text` and rename
    every key found in `renamed`, in place. Returns the values replaced, one per place.

    Should two keys of one map end up equal, the later ones get ` (2)`, ` (3)` appended.
    """
    replaced: list[str] = []
    for item in items:
        _rewrite_map(item, new_text, renamed, replaced)
    return replaced


def consume(calls: Iterator[Any]) -> None:
    """Run a lazy `map` of calls made for their effect (writes into items), in C."""
    deque(calls, maxlen=0)


def _gather_map(source: dict[str, Any], values: set[str], keys: set[Any]) -> None:
    keys.update(source)
    _gather_members(source.values(), values, keys)


def _gather_members(members: Iterable[Any], values: set[str], keys: set[Any]) -> None:
    """The values of a map, or the elements of a list."""
    for value in members:
        kind = type(value)
        if kind is str:
            values.add(value)
        elif kind is dict:
            _gather_map(value, values, keys)
        elif kind is list:
            _gather_members(value, values, keys)
        elif kind not in SCALARS:
            raise Unsupported(kind)


def _rewrite_map(
    source: dict[str, Any], new_text: dict[str, str], renamed: dict[str, str],
    replaced: list[str],
) -> None:
    for key, value in source.items():
        kind = type(value)
        if kind is str:
            if value in new_text:
                source[key] = new_text[value]  # the same key: the map keeps its size
                replaced.append(value)
        elif kind is dict:
            _rewrite_map(value, new_text, renamed, replaced)
        elif kind is list:
            _rewrite_list(value, new_text, renamed, replaced)
    if renamed and not renamed.keys().isdisjoint(source):
        _rename_keys(source, renamed)  # after the values: renaming rebuilds the map


def _rewrite_list(
    source: list[Any], new_text: dict[str, str], renamed: dict[str, str],
    replaced: list[str],
) -> None:
    for index, value in enumerate(source):
        kind = type(value)
        if kind is str:
            if value in new_text:
                source[index] = new_text[value]
                replaced.append(value)
        elif kind is dict:
            _rewrite_map(value, new_text, renamed, replaced)
        elif kind is list:
            _rewrite_list(value, new_text, renamed, replaced)


def _rename_keys(source: dict[str, Any], names: dict[str, str]) -> None:
    entries = list(source.items())
    source.clear()
    taken = {key for key, _ in entries if key not in names}
    for key, value in entries:
        new = names.get(key, key)
        if key in names:
            candidate, n = new, 1
            while candidate in taken:
                n += 1
                candidate = f"{new} ({n})"
            taken.add(candidate)
            new = candidate
        source[new] = value
