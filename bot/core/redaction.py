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

Then the detectors (see `bot.core.detectors`) run over every string at any depth, map
keys included: in a DynamoDB map the keys can be data (a map keyed by e-mail address),
and a key that looks like personal data is tagged like a value (with ` (2)`, ` (3)`
appended should two keys of one map end up equal; a key is counted once however many
maps hold it). Each finding is replaced by a tag such as `[email]` and counted per kind,
every occurrence of a value counting. Each distinct string is scanned once (a result
often repeats values): one walk gathers them, another writes the findings back
(`bot.core.item_strings`). What field rules leave is scanned like the rest: at most that
tags part of what a rule kept (`•••• 0::1`, the last four of an address, becomes
`•••• [ip]`).

Items are redacted in place: the caller hands over the query's own items and gets the
same list back, redacted, so no second copy of a large result is made and no raw value
is left behind in memory next to the redacted one.

Fail closed: any failure, including a value of a type a DynamoDB item cannot hold
(float, bytes, set, ...), raises `RedactionError` and nothing is returned; the items
given may then be part redacted and must be dropped. Error messages name types and
top-level attributes, never values; nothing here logs.
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
from itertools import compress, repeat
from operator import is_
from typing import Any, cast

from bot.core import detectors, item_strings
from bot.core.item_strings import SCALARS, KeyNotText, Unsupported, consume
from bot.core.runbooks import Detector, RedactRule, RedactSpec

MASK = "••••"
HASH_DIGITS = 12
MIN_HASH_KEY = 16
_NUMBER_LIKE = re.compile(r"[0-9 ()+.\-/]+")
_NON_DIGITS = re.compile(r"[^0-9]+")
_DOMAIN_NAME = re.compile(r"(?:[\w\-]+\.)+(?:[^\W\d_]{2,63}|xn--[\w\-]+)")
_SEPARATOR = "\x00"  # joins all strings of a result so each detector runs once
_FIELD_COUNTS = {rule: f"field:{rule.value}" for rule in RedactRule}
_KIND_NAMES = {kind: kind.value for kind in Detector}  # Enum.value is slow in a hot loop

RuleTree = dict[str, "RedactRule | RuleTree"]
Finding = tuple[str, tuple[Detector, ...]]  # the new text, and the kind of each finding


@dataclass(frozen=True)
class RedactedResult:
    items: list[dict[str, Any]]
    counts: dict[str, int]  # per kind: "field:last4", "email", "card", ...

    @property
    def total(self) -> int:
        return sum(self.counts.values())


class RedactionError(Exception):
    """Redaction could not be completed: the caller must post nothing."""


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

    def redact(self, items: object) -> RedactedResult:
        """Redact `items` in place and return them with the counts (see the module doc).

        `items` should be a list of maps; anything else fails closed, so it is typed as
        any object (a compiled module would otherwise refuse it with a `TypeError`)."""
        unsupported: type | None = None
        try:
            return self._redact(items)
        except RedactionError:
            raise
        except KeyNotText:
            failure = "a map key is not text"
        except Unsupported as exc:
            unsupported = exc.kind
            failure = f"cannot redact a {unsupported.__name__}"
        except Exception as error:  # fail closed, whatever went wrong
            failure = f"redaction failed unexpectedly ({type(error).__name__})"
        if unsupported is not None:
            with suppress(Exception):  # nesting too deep to describe: the short form will do
                failure = _describe_unsupported(items, unsupported)
        # Raised outside the handlers so the original exception, whose message may quote
        # a value, is not chained onto the error the caller sees or logs.
        raise RedactionError(f"{failure}; nothing was posted")

    def _redact(self, given: object) -> RedactedResult:
        if type(given) is not list:
            raise Unsupported(type(given))
        not_maps = {type(item) for item in given} - {dict}
        if not_maps:
            raise Unsupported(not_maps.pop())
        items = cast(list[dict[str, Any]], given)
        counts: Counter[str] = Counter()
        with _collector_paused():
            if self._tree:
                rules = _FieldRules(self._hash_key)
                rules.apply(items, self._tree)
                counts.update(rules.counts())
            _detect(items, self._kinds, counts)
        return RedactedResult(items, {kind: n for kind, n in counts.items() if n})


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while a large result is redacted.

    The items were just built (by the query's deserialiser) and still sit in the young
    generations: the first few containers allocated here would set off collections that
    traverse the whole result, costing more than the redaction. Nothing allocated here
    forms a reference cycle, so nothing is left for the collector to free. The collector
    is process-wide: for the few hundred milliseconds a 10 MB redaction takes, other
    threads' garbage cycles wait too.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


class _FieldRules:
    """Applies the runbook's field rules in place, along the rule tree's paths only.

    A rule is applied to one attribute of every map at its level at once (a column), so
    that looking the attribute up, transforming it and writing it back run in C (`map`
    over the maps); each distinct value is transformed once. Values other than text at a
    rule's place (numbers, lists, maps) take the general path, value by value.
    """

    def __init__(self, hash_key: bytes) -> None:
        self.hash_key = hash_key
        self.applied: Counter[RedactRule] = Counter()  # values each rule applied to
        # Each distinct value is transformed once: a result repeats a customer's e-mail
        # or card in every one of their orders.
        self._last4_done: dict[str, str] = {}
        self._email_done: dict[str, str] = {}
        self._hash_done: dict[str, str] = {}

    def counts(self) -> Counter[str]:
        return Counter({_FIELD_COUNTS[rule]: n for rule, n in self.applied.items()})

    def apply(self, maps: list[dict[str, Any]], tree: RuleTree) -> None:
        """Apply `tree` to each of `maps` (the maps at one level of the items)."""
        for key, node in tree.items():
            holders = list(compress(maps, map(dict.__contains__, maps, repeat(key))))
            if not holders:
                continue
            if node is RedactRule.drop:
                consume(map(dict.__delitem__, holders, repeat(key)))
                self.applied[node] += len(holders)
                continue
            values = list(map(dict.__getitem__, holders, repeat(key)))
            if isinstance(node, RedactRule):
                consume(map(dict.__setitem__, holders, repeat(key), self.column(node, values)))
            else:  # a map or a list of maps below: the rules go on there
                self.apply(_maps_within(values), node)

    def column(self, rule: RedactRule, values: list[Any]) -> Iterator[Any]:
        """The new value of each of `values`, all at one rule's place."""
        if set(map(type, values)) != {str}:
            return map(self.rule, repeat(rule), values)
        self.applied[rule] += len(values)
        if rule is RedactRule.mask:
            return repeat(MASK, len(values))
        done, transform = self._transform(rule)
        for text in set(values).difference(done):
            done[text] = transform(text)
        return map(done.__getitem__, values)

    def _transform(self, rule: RedactRule) -> tuple[dict[str, str], Callable[[str], str]]:
        if rule is RedactRule.last4:
            return self._last4_done, _last4
        if rule is RedactRule.email:
            return self._email_done, _email_domain
        return self._hash_done, self.hashed

    def rule(self, rule: RedactRule, value: Any) -> Any:
        kind = type(value)
        if kind is str:
            text = value
        elif kind is list:
            return [self.rule(rule, element) for element in value]
        elif kind is dict:
            self.applied[rule] += 1
            canonical = _canonical_json(value)
            return self.hashed(canonical) if rule is RedactRule.hash else MASK
        elif kind in SCALARS:
            text = _as_text(value)
        else:
            raise Unsupported(kind)
        self.applied[rule] += 1
        if rule is RedactRule.mask:
            return MASK
        done, transform = self._transform(rule)
        new = done.get(text)
        if new is None:
            new = done[text] = transform(text)
        return new

    def hashed(self, text: str) -> str:
        digest = hmac.new(self.hash_key, text.encode("utf-8", "surrogatepass"), hashlib.sha256)
        return f"hash:{digest.hexdigest()[:HASH_DIGITS]}"


def _maps_within(values: list[Any]) -> list[dict[str, Any]]:
    """The maps among `values`, and inside those of them that are lists (at any depth);
    anything else where the rules expect a map is left to the detectors."""
    kinds = list(map(type, values))
    maps = list(compress(values, map(is_, kinds, repeat(dict))))
    for inner in compress(values, map(is_, kinds, repeat(list))):
        maps += _maps_within(inner)
    return maps


def _detect(items: list[dict[str, Any]], kinds: frozenset[Detector],
            counts: Counter[str]) -> None:
    """Scan each distinct string once; replace findings in values and keys; count them."""
    values, keys = item_strings.gather(items)  # also refuses types an item cannot hold
    if not kinds:
        return
    values.update(keys)
    findings = _findings(list(values), kinds)
    if not findings:
        return
    new_text = {text: new for text, (new, _) in findings.items()}
    renamed = {key: new_text[key] for key in keys if key in findings}
    # counted per distinct text first (in C), then per kind; a key counts once, however
    # many maps hold it
    times_found = Counter(item_strings.rewrite(items, new_text, renamed))
    times_found.update(renamed.keys())
    for text, times in times_found.items():
        for kind in findings[text][1]:
            counts[_KIND_NAMES[kind]] += times


def _findings(texts: list[str], kinds: frozenset[Detector]) -> dict[str, Finding]:
    """The new text and finding kinds of each of `texts` that holds a finding."""
    if not texts:
        return {}
    joined = _SEPARATOR.join(texts)
    if joined.count(_SEPARATOR) == len(texts) - 1:
        return {texts[index]: found
                for index, found in _changes(joined, detectors.find_spans(joined, kinds))}
    findings = {}  # a value holds the separator itself: scan string by string
    for text in texts:
        spans = detectors.find_spans(text, kinds)
        if spans:
            findings[text] = (_substitute(text, spans), tuple(kind for _, _, kind in spans))
    return findings


def _substitute(text: str, spans: list[detectors.Span]) -> str:
    pieces = []
    position = 0
    for start, end, kind in spans:
        pieces.append(text[position:start])
        pieces.append(detectors.TAGS[kind])
        position = end
    pieces.append(text[position:])
    return "".join(pieces)


def _changes(text: str, spans: list[detectors.Span]) -> list[tuple[int, Finding]]:
    """(index, finding) of each string of the NUL-joined `text` that holds a span."""
    changes: list[tuple[int, Finding]] = []
    tags = detectors.TAGS
    find, rfind, count = text.find, text.rfind, text.count
    index = cursor = position = 0
    string_end = -1
    pieces: list[str] = []
    found: list[Detector] = []
    for start, end, kind in spans:
        if start > string_end:  # the first span in another string
            if pieces:
                pieces.append(text[position:string_end])
                changes.append((index, ("".join(pieces), tuple(found))))
            index += count(_SEPARATOR, cursor, start)
            cursor = start
            string_end = find(_SEPARATOR, start)
            if string_end == -1:
                string_end = len(text)
            pieces = [text[rfind(_SEPARATOR, 0, start) + 1 : start], tags[kind]]
            found = [kind]
        else:
            pieces.append(text[position:start])
            pieces.append(tags[kind])
            found.append(kind)
        position = end
    if pieces:
        pieces.append(text[position:string_end])
        changes.append((index, ("".join(pieces), tuple(found))))
    return changes


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
    elif kind is not str and kind not in SCALARS:
        raise Unsupported(kind)


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
            except Unsupported as exc:
                return (f"cannot redact attribute {attribute!r}: it holds a "
                        f"{exc.kind.__name__}; items may hold only {allowed}")
    return f"cannot redact a {kind.__name__}; items may hold only {allowed}"
