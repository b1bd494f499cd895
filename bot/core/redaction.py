"""Redaction of query results before they are shown anywhere (DESIGN §4).

Field rules run first, on the dotted paths of the runbook's `redact.fields` (so a rule
cannot name an attribute whose name holds a dot); a path goes through lists, so
`shipping.phone` reaches every element of a `shipping` list of maps. A
rule applies to the value at its path: a scalar is transformed, a list has the rule
applied to each element, and a map is replaced whole (by the mask, or for `hash` by the
hash of its canonical JSON). Numbers, booleans and nulls are written as text first, so a
masked null is indistinguishable from a masked number.

* drop: the attribute is removed.
* mask: `••••`, whatever the length of the value.
* last4: `•••• 4242`. A value made of digits and separators keeps its last four digits,
  other text its last four non-blank characters; values with fewer than 8 of those are
  masked whole so that at most half of a value is ever shown.
* hash: `hash:3f9a1c2b7d4e`, the first 12 hex digits of HMAC-SHA256 under the bot's key:
  equal values give equal hashes, so rows can still be correlated (the number 42 and the
  text "42" hash alike).
* email: `•••@example.com`; the domain is kept, anything that is not an address is masked.

Then the detectors (see `bot.core.detectors`) run over every remaining string at any
depth, map keys included: in a DynamoDB map the keys can be data (a map keyed by e-mail
address), and a key that looks like personal data is tagged like a value (with ` (2)`,
` (3)` appended should two keys of one map end up equal; a key is counted once however
many maps hold it). Each finding is replaced by a tag such as `[email]` and counted per
kind. Values produced by a field rule are not scanned again. The result is a new copy;
it shares no map or list with the input, which is never modified.

Fail closed: any failure, including a value of a type a DynamoDB item cannot hold
(float, bytes, set, ...), raises `RedactionError` and nothing is returned. Error messages
name types and top-level attributes, never values; nothing here logs.
"""

from __future__ import annotations

import gc
import hashlib
import hmac
import json
import re
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from decimal import Decimal
from operator import itemgetter
from typing import Any

from bot.core import detectors
from bot.core.runbooks import Detector, RedactRule, RedactSpec

MASK = "••••"
HASH_DIGITS = 12
MIN_HASH_KEY = 16
_SCALARS = frozenset({int, bool, Decimal, type(None)})
_NUMBER_LIKE = re.compile(r"[0-9 ()+.\-/]+")
_NON_DIGITS = re.compile(r"[^0-9]+")
_DOMAIN_NAME = re.compile(r"(?:[\w\-]+\.)+(?:[^\W\d_]{2,63}|xn--[\w\-]+)")
_SEPARATOR = "\x00"  # joins all strings of a result so each detector runs once
_KIND = itemgetter(2)
_FIELD_COUNTS = {rule: f"field:{rule.value}" for rule in RedactRule}

RuleTree = dict[str, "RedactRule | RuleTree"]


@dataclass(frozen=True)
class RedactedResult:
    items: list[dict[str, Any]]
    counts: dict[str, int]  # per kind: "field:last4", "email", "card", ...

    @property
    def total(self) -> int:
        return sum(self.counts.values())


class RedactionError(Exception):
    """Redaction could not be completed: the caller must post nothing."""


class _Unsupported(Exception):
    def __init__(self, kind: type) -> None:
        super().__init__(kind.__name__)
        self.kind = kind


class Redactor:
    def __init__(self, spec: RedactSpec, hash_key: bytes) -> None:
        if RedactRule.hash in spec.fields.values() and len(hash_key) < MIN_HASH_KEY:
            raise RedactionError(
                f"the hash redaction rule needs a key of at least {MIN_HASH_KEY} bytes; "
                "configure the bot's redaction hash key"
            )
        self._tree = _rule_tree(spec.fields)
        self._kinds = frozenset(spec.detect)
        self._hash_key = bytes(hash_key)

    def redact(self, items: list[dict[str, Any]]) -> RedactedResult:
        """A redacted copy of `items`; the input is never modified."""
        unsupported: type | None = None
        try:
            return self._redact(items)
        except RedactionError:
            raise
        except _Unsupported as exc:
            unsupported = exc.kind
            failure = f"cannot redact a {unsupported.__name__}"
        except Exception as exc:  # fail closed, whatever went wrong
            failure = f"redaction failed unexpectedly ({type(exc).__name__})"
        if unsupported is not None:
            with suppress(Exception):  # nesting too deep to describe: the short form will do
                failure = _describe_unsupported(items, unsupported)
        # Raised outside the handlers so the original exception, whose message may quote
        # a value, is not chained onto the error the caller sees or logs.
        raise RedactionError(f"{failure}; nothing was posted")

    def _redact(self, items: list[dict[str, Any]]) -> RedactedResult:
        if type(items) is not list:
            raise _Unsupported(type(items))
        walk = _Walk(self._tree, self._hash_key)
        with _collector_paused():
            copies = [walk.item(item) for item in items]
            if self._kinds:
                _detect(walk, self._kinds)
        counts = {kind: n for kind, n in walk.counts.items() if n}
        return RedactedResult(copies, counts)


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while copying a large result.

    Copying allocates a container per map and list, and each allocation burst makes the
    collector traverse the whole growing result again: about a third of the time of a
    large redaction. The copies hold no reference cycles, so nothing is left for it to
    free later. The collector is process-wide: for the few hundred milliseconds a 10 MB
    redaction takes, other threads' garbage cycles wait too.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


class _Walk:
    """One pass over the items: copies them, applies field rules, collects strings."""

    def __init__(self, tree: RuleTree, hash_key: bytes) -> None:
        self.tree = tree
        self.hash_key = hash_key
        self.counts: Counter[str] = Counter()
        self.strings: list[str] = []  # every string value left for the detectors,
        self.owners: list[Any] = []  # the map or list of the copy holding it,
        self.slots: list[Any] = []  # and its key or index there
        self.maps: list[dict[str, Any]] = []  # every copied map, for renaming keys
        self.keys: set[str] = set()  # every distinct map key
        self.copy_map, self.copy_list = _copiers(self)

    def item(self, item: Any) -> dict[str, Any]:
        if type(item) is not dict:
            raise _Unsupported(type(item))
        return self.ruled_map(item, self.tree) if self.tree else self.copy_map(item)

    def ruled_map(self, source: dict[str, Any], tree: RuleTree) -> dict[str, Any]:
        out = source.copy()
        self.maps.append(out)
        ruled = set()
        for key, node in tree.items():
            if key not in out:
                continue
            value = out[key]
            if node is RedactRule.drop:
                del out[key]
                self.counts[_FIELD_COUNTS[node]] += 1
            elif isinstance(node, RedactRule):
                out[key] = self.rule(node, value)
            elif type(value) is dict:
                out[key] = self.ruled_map(value, node)
            elif type(value) is list:
                out[key] = self.ruled_list(value, node)
            else:
                continue  # a scalar where the rules expect a map: scanned like the rest
            ruled.add(key)
        add_string, add_owner, add_slot = self.strings.append, self.owners.append, self.slots.append
        scalars = _SCALARS
        for key, value in out.items():  # as in copy_map, inline: this runs for every item
            kind = type(value)
            if kind in scalars or key in ruled:
                continue
            if kind is str:
                add_string(value)
                add_owner(out)
                add_slot(key)
            elif kind is dict:
                out[key] = self.copy_map(value)
            elif kind is list:
                out[key] = self.copy_list(value)
            else:
                raise _Unsupported(kind)
        self.keys.update(out)
        return out

    def ruled_list(self, source: list[Any], tree: RuleTree) -> list[Any]:
        out = source.copy()
        for index, value in enumerate(source):
            if type(value) is dict:
                out[index] = self.ruled_map(value, tree)
            elif type(value) is list:
                out[index] = self.ruled_list(value, tree)
            else:
                self.place(out, index, value)
        return out

    def place(self, out: Any, key: Any, value: Any) -> None:
        """Copy (into out[key]) and collect a value that no rule applies to."""
        kind = type(value)
        if kind is str:
            self.strings.append(value)
            self.owners.append(out)
            self.slots.append(key)
        elif kind is dict:
            out[key] = self.copy_map(value)
        elif kind is list:
            out[key] = self.copy_list(value)
        elif kind not in _SCALARS:
            raise _Unsupported(kind)

    def rule(self, rule: RedactRule, value: Any) -> Any:
        kind = type(value)
        if kind is list:
            return [self.rule(rule, element) for element in value]
        self.counts[_FIELD_COUNTS[rule]] += 1
        if kind is dict:
            canonical = _canonical_json(value)
            return self.hashed(canonical) if rule is RedactRule.hash else MASK
        if kind is not str and kind not in _SCALARS:
            raise _Unsupported(kind)
        text = _as_text(value)
        if rule is RedactRule.mask:
            return MASK
        if rule is RedactRule.last4:
            return _last4(text)
        if rule is RedactRule.email:
            return _email_domain(text)
        return self.hashed(text)

    def hashed(self, text: str) -> str:
        digest = hmac.new(self.hash_key, text.encode("utf-8", "surrogatepass"), hashlib.sha256)
        return f"hash:{digest.hexdigest()[:HASH_DIGITS]}"


def _copiers(walk: _Walk) -> tuple[Callable[[dict[str, Any]], dict[str, Any]],
                                    Callable[[list[Any]], list[Any]]]:
    """Copy-and-collect for rule-free subtrees: closures over local names (the hot loop).

    Each container is copied whole in C first; only nested containers are then replaced.
    """
    add_string, add_owner, add_slot = walk.strings.append, walk.owners.append, walk.slots.append
    add_map, add_keys = walk.maps.append, walk.keys.update
    scalars = _SCALARS

    def copy_map(source: dict[str, Any]) -> dict[str, Any]:
        out = source.copy()
        add_map(out)
        add_keys(source)
        for key, value in source.items():
            kind = type(value)
            if kind is str:
                add_string(value)
                add_owner(out)
                add_slot(key)
            elif kind is dict:
                out[key] = copy_map(value)
            elif kind is list:
                out[key] = copy_list(value)
            elif kind not in scalars:
                raise _Unsupported(kind)
        return out

    def copy_list(source: list[Any]) -> list[Any]:
        out = source.copy()
        for index, value in enumerate(source):
            kind = type(value)
            if kind is str:
                add_string(value)
                add_owner(out)
                add_slot(index)
            elif kind is dict:
                out[index] = copy_map(value)
            elif kind is list:
                out[index] = copy_list(value)
            elif kind not in scalars:
                raise _Unsupported(kind)
        return out

    return copy_map, copy_list


def _detect(walk: _Walk, kinds: frozenset[Detector]) -> None:
    """Run the detectors over all collected strings and distinct map keys; patch the copy."""
    keys = list(walk.keys)
    strings = walk.strings + keys
    if not strings:
        return
    try:
        text = _SEPARATOR.join(strings)
    except TypeError:
        raise RedactionError("a map key is not text; nothing was posted") from None
    if text.count(_SEPARATOR) == len(strings) - 1:
        spans = detectors.find_spans(text, kinds)
        changes = _changes(text, spans)
    else:  # a value holds the separator itself: scan string by string
        spans, changes = [], []
        for index, string in enumerate(strings):
            found = detectors.find_spans(string, kinds)
            if found:
                spans.extend(found)
                changes.append((index, _substitute(string, found)))
    for kind, count in Counter(map(_KIND, spans)).items():
        walk.counts[kind.value] += count
    value_count = len(walk.strings)
    renamed: dict[str, str] = {}
    owners, slots = walk.owners, walk.slots
    for index, new in changes:
        if index < value_count:
            owners[index][slots[index]] = new
        else:
            renamed[keys[index - value_count]] = new
    # Keys are renamed after the values are patched: the value slots name the old keys.
    if renamed:
        for copy in walk.maps:
            if not renamed.keys().isdisjoint(copy):
                _rename_keys(copy, renamed)


def _substitute(text: str, spans: list[detectors.Span]) -> str:
    pieces = []
    position = 0
    for start, end, kind in spans:
        pieces.append(text[position:start])
        pieces.append(detectors.TAGS[kind])
        position = end
    pieces.append(text[position:])
    return "".join(pieces)


def _changes(text: str, spans: list[detectors.Span]) -> list[tuple[int, str]]:
    """(index, new text) of each string of the NUL-joined `text` that holds a span."""
    changes: list[tuple[int, str]] = []
    tags = detectors.TAGS
    find, rfind, count = text.find, text.rfind, text.count
    index = cursor = position = 0
    string_end = -1
    pieces: list[str] = []
    for start, end, kind in spans:
        if start > string_end:  # the first span in another string
            if pieces:
                pieces.append(text[position:string_end])
                changes.append((index, "".join(pieces)))
            index += count(_SEPARATOR, cursor, start)
            cursor = start
            string_end = find(_SEPARATOR, start)
            if string_end == -1:
                string_end = len(text)
            pieces = [text[rfind(_SEPARATOR, 0, start) + 1 : start], tags[kind]]
        else:
            pieces.append(text[position:start])
            pieces.append(tags[kind])
        position = end
    if pieces:
        pieces.append(text[position:string_end])
        changes.append((index, "".join(pieces)))
    return changes


def _rename_keys(copy: dict[str, Any], names: dict[str, str]) -> None:
    entries = list(copy.items())
    copy.clear()
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
        copy[new] = value


def _rule_tree(fields: dict[str, RedactRule]) -> RuleTree:
    """Dotted paths as a tree; a rule on a map covers every path below it."""
    tree: RuleTree = {}
    for path, rule in sorted(fields.items(), key=lambda entry: entry[0].count(".")):
        node: RuleTree = tree
        *parents, leaf = path.split(".")
        for part in parents:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                break
            node = child
        else:
            node[leaf] = rule
    return tree


def _as_text(value: Any) -> str:
    if value is None:
        return "null"
    if value is True or value is False:
        return "true" if value else "false"
    return value if type(value) is str else str(value)


def _last4(text: str) -> str:
    number_like = _NUMBER_LIKE.fullmatch(text)
    kept = _NON_DIGITS.sub("", text) if number_like else "".join(text.split())
    return f"{MASK} {kept[-4:]}" if len(kept) >= 8 else MASK


def _email_domain(text: str) -> str:
    local, at, domain = text.strip().rpartition("@")
    if at and local and _DOMAIN_NAME.fullmatch(domain):
        return f"•••@{domain.lower()}"
    return MASK


def _canonical_json(value: Any) -> str:
    _check_types(value)
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      default=str)


def _check_types(value: Any) -> None:
    kind = type(value)
    if kind is dict:
        for element in value.values():
            _check_types(element)
    elif kind is list:
        for element in value:
            _check_types(element)
    elif kind is not str and kind not in _SCALARS:
        raise _Unsupported(kind)


def _describe_unsupported(items: Any, kind: type) -> str:
    allowed = "text, whole or Decimal numbers, booleans, nulls, lists and maps"
    if type(items) is not list:
        return f"results must be a list of items, not {kind.__name__}"
    for item in items:
        if type(item) is not dict:
            return f"each result item must be a map, not {type(item).__name__}"
        for attribute, value in item.items():
            try:
                _check_types(value)
            except _Unsupported as exc:
                return (f"cannot redact attribute {attribute!r}: it holds a "
                        f"{exc.kind.__name__}; items may hold only {allowed}")
    return f"cannot redact a {kind.__name__}; items may hold only {allowed}"
