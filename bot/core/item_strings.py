"""Every string inside query items, each with its place, so findings can be put back.

Redaction has to look at every string of a result that can be megabytes large. One walk
over the items records each string value with the map or list holding it and its key or
index there; only the strings that change are then written back, in place. The walk is
a pair of closures over local names: it runs for every value of every item.

A value of a type a DynamoDB item cannot hold raises `Unsupported`, a map key that is not
text `KeyNotText`, each naming the offending type.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Iterator, Mapping
from decimal import Decimal
from itertools import compress
from operator import setitem
from typing import Any, TypeVar

SCALARS = frozenset({int, bool, Decimal, type(None)})
L = TypeVar("L")


class Unsupported(Exception):
    def __init__(self, kind: type) -> None:
        super().__init__(kind.__name__)
        self.kind = kind


class KeyNotText(Unsupported):
    """A map key of another type than text."""


class ItemStrings:
    def __init__(self, items: list[dict[str, Any]]) -> None:
        self.values: list[str] = []  # every string value (not keys), with repeats,
        self._owners: list[Any] = []  # the map or list holding each,
        self._slots: list[Any] = []  # and its key or index there
        self.maps: list[dict[str, Any]] = []
        self.keys: set[str] = set()  # every distinct map key
        walk_map = _walker(self)
        for item in items:
            walk_map(item)
        not_text = {type(key) for key in self.keys} - {str}
        if not_text:
            raise KeyNotText(not_text.pop())

    def replace(self, new_text: Mapping[str, str], label: Mapping[str, L]) -> Counter[L]:
        """Write back every string value found in `new_text`; how many of the values
        written back carry each label (`label[value]`)."""
        # The membership test, the write-back and the counting all run in C (`map`).
        hits = list(map(new_text.__contains__, self.values))
        found = list(compress(self.values, hits))
        consume(map(setitem, compress(self._owners, hits), compress(self._slots, hits),
                    map(new_text.__getitem__, found)))
        return Counter(map(label.__getitem__, found))


def consume(calls: Iterator[Any]) -> None:
    """Run a lazy `map` of calls made for their effect (writes into items), in C."""
    deque(calls, maxlen=0)


def _walker(found: ItemStrings) -> Any:
    add_string, add_owner, add_slot = found.values.append, found._owners.append, found._slots.append
    add_map, add_keys = found.maps.append, found.keys.update
    scalars = SCALARS

    def walk_map(source: dict[str, Any]) -> None:
        add_map(source)
        add_keys(source)
        for key, value in source.items():
            kind = type(value)
            if kind is str:
                add_string(value)
                add_owner(source)
                add_slot(key)
            elif kind is dict:
                walk_map(value)
            elif kind is list:
                walk_list(value)
            elif kind not in scalars:
                raise Unsupported(kind)

    def walk_list(source: list[Any]) -> None:
        for index, value in enumerate(source):
            kind = type(value)
            if kind is str:
                add_string(value)
                add_owner(source)
                add_slot(index)
            elif kind is dict:
                walk_map(value)
            elif kind is list:
                walk_list(value)
            elif kind not in scalars:
                raise Unsupported(kind)

    return walk_map
