"""Detectors: where personal data and secrets sit inside free text (DESIGN §4).

`find_spans(text, kinds)` returns the spans to replace. It is built to run once over the
NUL-joined strings of a whole result, so every scan is anchored on something cheap to
find (an `@`, a `:`, a digit, a 40-character token, `AKIA`) and no span crosses a NUL.

What each detector claims, and the rules that keep ordinary values alone:

* email: `local@domain.tld`; the TLD is letters (or `xn--`), the local part up to 64
  characters of word characters and `.%+-`.
* card: 13-19 digits, either unbroken or in groups of four (Amex/Diners 4-6-5 and 4-6-4)
  split by one kind of separator (space or dash); first digit 2-6 (every major network)
  or the JCB prefix 1800; Luhn-valid. 12-digit Maestro numbers are not claimed: they look
  exactly like 12-digit ids such as AWS account numbers.
* ssn: `###-##-####` or `### ## ####` with a valid area (not 000, 666, 9xx), group and
  serial. Such a layout is never taken for a phone number.
* ip: IPv4 dotted quads with octets 0-255 and no leading zeros (what `ipaddress` takes),
  and IPv6 addresses that the platform's `inet_pton` accepts (the same addresses as
  `ipaddress.IPv6Address`, which is ten times slower). A dotted quad counts unless it is
  glued to a word (`v10.4.1.2` is a version, `10.4.1.2` an address) or part of a longer
  dotted number (`1.2.3.4.5`); a `:port` after it is kept.
* aws_key: access key ids (`AKIA`/`ASIA` + 16) and secret access keys: a 40-character
  token of `[A-Za-z0-9/+]` with upper case, lower case and a digit, not hexadecimal (a
  SHA-1 is 40 hex characters), not followed by `=` (base64 data), and either preceded
  within 40 characters by the word "secret" or random-looking: entropy >= 4.2 bits per
  character and less than 80% of it word-like (a camelCase name is not a key).
* phone: `+` (or `(+44)`) followed by 8-15 digits in any grouping, E.164 included;
  `00` + a country code (not 0) + the number, written with separators; and national
  numbers of 9-13 digits written with spaces, dots, dashes or parentheses that are
  North American 3-3-4, or 11 digits after a one-digit prefix (`1 415 555 0132`,
  `8 896 935 0492`), or open with a trunk `0`, or have a parenthesised area code, or
  are 3+ groups of 2-4 digits with a dash or dot among the separators. An extension
  (`x123`, `ext. 123`) is included. Not claimed, because they cannot be told from ids,
  amounts and lists of numbers: bare digit strings without `+` (except 10-11 digits
  after a single trunk 0, `0612345678`), national numbers under
  9 digits, groups split by spaces alone outside the layouts above (`609 141 777`),
  slash-separated numbers, dates, decimals, dotted quads.

A digit run glued to a word on either side (`ORDER#A1001`, `sha 3f9a…`, `v1.2.3.4`,
`2026-11-26T11:33`) is not personal data, and only the ASCII digits 0-9 are recognised.
"""

from __future__ import annotations

import math
import re
import socket
from collections import Counter
from collections.abc import Callable, Iterable
from itertools import islice
from operator import gt, itemgetter
from typing import Any, NamedTuple

from bot.core.runbooks import Detector

# When two findings overlap they are merged into one span of the earlier kind here.
PRIORITY: tuple[Detector, ...] = (
    Detector.email,
    Detector.aws_key,
    Detector.card,
    Detector.ssn,
    Detector.ip,
    Detector.phone,
)
_RANK = {kind: rank for rank, kind in enumerate(PRIORITY)}
TAGS: dict[Detector, str] = {kind: f"[{kind.value}]" for kind in Detector}

Span = tuple[int, int, Detector]
_START, _END = itemgetter(0), itemgetter(1)

# -- email -------------------------------------------------------------------------------
_LOCAL_REVERSED = re.compile(r"[\w.%+\-]{1,64}")
_AT_DOMAIN = re.compile(r"@(?:[\w\-]+\.)+(?:[^\W\d_]{2,63}|xn--[\w\-]+)(?![\w\-])")


def _emails(text: str, found: list[Span]) -> None:
    # Anchored on "@" so the scan is a fast literal search; the local part is read
    # backwards from the "@", as a forward match in the reversed 64 characters before it.
    local_part = _LOCAL_REVERSED.match
    append = found.append
    for domain in _AT_DOMAIN.finditer(text):
        at = domain.start()
        local = local_part(text[max(0, at - 64) : at][::-1])
        if local:
            append((at - local.end(), domain.end(), Detector.email))


# -- AWS keys ------------------------------------------------------------------------------
_KEY_ID = re.compile(r"(?:AKIA|ASIA)[A-Z0-9]{16}(?![A-Za-z0-9])")
_B64 = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789/+"
_B64_CLASS = bytes(ord("B") if byte in _B64 else ord(".") for byte in range(256))
_FORTY = b"B" * 40
_HEX = re.compile(r"[0-9A-Fa-f]{40}")
_SECRET_CONTEXT = re.compile(r"secret", re.IGNORECASE)
_WORDS = re.compile(r"[A-Z]?[a-z]{3,}")


def _aws_keys(text: str, latin: bytes, found: list[Span]) -> None:
    for prefix in ("AKIA", "ASIA"):
        at = text.find(prefix)
        while at != -1:
            key = _KEY_ID.match(text, at)
            if key and not text[at - 1 : at].isalnum():
                found.append((at, key.end(), Detector.aws_key))
            at = text.find(prefix, at + 4)
    if len(text) < 40:
        return
    # `latin` has one byte per character (anything outside Latin-1 became "?"); mapped to
    # byte classes, the search for 40-character tokens is a plain substring search.
    classes = latin.translate(_B64_CLASS)
    start = classes.find(_FORTY)
    while start != -1:
        end = classes.find(b".", start)
        end = len(classes) if end == -1 else end
        if end - start == 40 and _looks_like_secret(text, start, end):
            found.append((start, end, Detector.aws_key))
        start = classes.find(_FORTY, end)


def _looks_like_secret(text: str, start: int, end: int) -> bool:
    if text[end : end + 1] == "=":
        return False  # base64 padding: encoded data, not a key
    token = text[start:end]
    if _HEX.fullmatch(token):
        return False
    if not (any(c.isupper() for c in token) and any(c.islower() for c in token)
            and any(c.isdigit() for c in token)):
        return False
    # The context is looked for in the token's own string only: in the NUL-joined text of
    # a result the string before it is some other value, whichever happened to come first.
    context_start = max(0, start - 40, text.rfind("\x00", max(0, start - 40), start) + 1)
    if _SECRET_CONTEXT.search(text, context_start, start):
        return True
    # Standalone: random-looking, and not mostly words (a camelCase name). Over random
    # keys the entropy is above 4.2 and the share of word-like runs below 0.8 in all but
    # a few in a hundred thousand.
    counts = Counter(token).values()
    entropy = -sum(n / 40 * math.log2(n / 40) for n in counts)
    words = sum(len(word) for word in _WORDS.findall(token))
    return entropy >= 4.2 and words < 32


# -- IPv6 ------------------------------------------------------------------------------------
_V6_TRIGGER = re.compile(r":(?::|[0-9A-Fa-f]{1,4}:[0-9A-Fa-f]{1,4}:[0-9A-Fa-f]{1,4}:)")
_V6_BACK = re.compile(r"[0-9A-Fa-f:]*")
_V6_FORWARD = re.compile(r"[0-9A-Fa-f:]*(?:(?<=[0-9])(?:\.[0-9]{1,3}){3})?")


def _ipv6(text: str, found: list[Span]) -> None:
    covered = 0
    for hit in _V6_TRIGGER.finditer(text):
        if hit.start() < covered:
            continue
        # back to the start of the address: at most 45 characters (with an IPv4 tail)
        before = text[max(0, hit.start() - 45) : hit.start()][::-1]
        start = hit.start() - _V6_BACK.match(before).end()  # type: ignore[union-attr]
        end = _V6_FORWARD.match(text, hit.start()).end()  # type: ignore[union-attr]
        covered = end
        if _glued(text[start - 1 : start]) or _glued(text[end : end + 1]):
            continue
        candidate = text[start:end]
        if candidate.endswith(":") and not candidate.endswith("::"):
            candidate, end = candidate[:-1], end - 1
        try:
            socket.inet_pton(socket.AF_INET6, candidate)
        except (OSError, ValueError):
            continue
        if candidate.strip(":"):
            found.append((start, end, Detector.ip))


def _glued(char: str) -> bool:
    return char.isalnum() or char == "_"


# -- digit runs: card, ssn, IPv4, phone ------------------------------------------------------
# The text is encoded one byte per character (anything outside Latin-1 becomes "?") and
# mapped to a "shape": digits become 9, letters a (except x, e, t, kept for extensions),
# separators stay, everything else is #. Runs of digits are found in the shape with a
# literal-prefixed pattern, and the layout of each run is judged once per distinct shape.
_DIGIT_KINDS = frozenset({Detector.card, Detector.ssn, Detector.ip, Detector.phone})


def _shape_byte(byte: int) -> int:
    char = chr(byte)
    if char in "0123456789":
        return ord("9")
    if char in "xet +-.():,/":
        return byte
    if char.isalnum() or char == "_":
        return ord("a")
    return ord("$") if char in "$£¥" else ord("#")


_SHAPE_BYTES = bytes(_shape_byte(byte) for byte in range(256))
_PAD_BEFORE, _PAD_AFTER = b"###", b"##"
# A run starts at a digit not preceded by one; ISO timestamps are skipped outright since
# they are the commonest digit runs in stored items.
_RUN = re.compile(
    rb"9(?<!99)(?!999-99-99(?:a|[ ]99:))[9 .()\-]{5,}9(?: ?(?:x|ext\.? ?)9{1,6})?"
)
_CLOSED_GROUP = re.compile(r"9{1,5}\)")
_SHAPE_EXTENSION = re.compile(r" ?(?:x|ext\.? ?)9{1,6}$")
_GLUE_BEFORE = frozenset("aext$.,-/")
_GLUE_AFTER = frozenset("9aext")
# How a run ends: free, followed by ":digit" (a port after an address, or a time), or glued
_FREE, _COLON, _GLUED = 0, 1, 2
_MAX_WORDS = 8  # no supported format has more space-separated words than this
_PLAN_CACHE_SIZE = 20_000

_plans: dict[bytes, Plan | None] = {}


def _digit_runs(
    text: str, latin: bytes, kinds: frozenset[Detector], found: list[Span]
) -> None:
    shape = _PAD_BEFORE + latin.translate(_SHAPE_BYTES) + _PAD_AFTER
    plans = _plans
    for run in _RUN.finditer(shape):
        start, end = run.span()
        window = shape[start - 3 : end + 2]
        try:
            plan = plans[window]
        except KeyError:
            if len(plans) >= _PLAN_CACHE_SIZE:
                plans.clear()
            plan = plans[window] = _plan(window.decode("latin-1"))
        if plan:
            # window index 0 is text index start - 6 (three pad bytes, three context bytes)
            _apply_plan(plan, text, start - 6, kinds, found)


def _apply_plan(
    plan: Plan, text: str, base: int, kinds: frozenset[Detector], found: list[Span]
) -> None:
    options_by_word, run_end, extension_end = plan
    word = 0
    while word < len(options_by_word):
        for next_word, start, end, checks in options_by_word[word]:
            piece = text[base + start : base + end]
            for kind, check, layout in checks:
                if kind in kinds and check(piece, layout):
                    if kind is Detector.phone and end == run_end:
                        end = extension_end
                    found.append((base + start, base + end, kind))
                    break
            else:
                continue
            word = next_word
            break
        else:
            word += 1


def _plan(window: str) -> Plan | None:
    """Which word ranges of a digit run could be PII, longest first, judged on its shape.

    `window` is three characters of context, the run (with any extension) and two more.
    Only the layout is judged here; the digits themselves (Luhn, octets, SSN areas, dates)
    are checked on the real text by the caller.
    """
    run_end = extension_end = len(window) - 2
    extension = _SHAPE_EXTENSION.search(window, 3, run_end)
    if extension:
        run_end = extension.start()
    start = 3  # a phone number may open with "(" (its area code), "+", "+(" or "(+"
    if window[1:3] == "(+" and _CLOSED_GROUP.match(window, 3):
        start = 1
    else:
        if window[2] == "(" and _CLOSED_GROUP.match(window, 3):
            start = 2
        if window[start - 1] == "+":
            start -= 1
    glued_before = window[start - 1] in _GLUE_BEFORE
    after, next_char = window[extension_end], window[extension_end + 1]
    if after in _GLUE_AFTER:
        ending = _GLUED
    elif after in ".,:/" and next_char == "9":
        ending = _COLON if after == ":" else _GLUED
    else:
        ending = _FREE
    if extension and ending == _GLUED:
        run_end = extension_end  # "x12" glued to more text is no extension
    words = window[start:run_end].split(" ")
    starts = []
    position = start
    for word in words:
        starts.append(position)
        position += len(word) + 1
    first = 1 if glued_before else 0
    last = len(words) - (1 if ending == _GLUED else 0)
    options_by_word: list[tuple[Option, ...]] = []
    for i in range(len(words)):
        options: list[Option] = []
        for j in range(min(last, i + _MAX_WORDS), i, -1) if first <= i < last else ():
            stop = starts[j - 1] + len(words[j - 1])
            piece = window[starts[i] : stop]
            port = ending == _COLON and j == len(words)
            checks = _checks_for(piece, whole=i == 0 and j == len(words), port=port)
            if checks:
                options.append((j, starts[i], stop, checks))
        options_by_word.append(tuple(options))
    if not any(options_by_word):
        return None
    return tuple(options_by_word), run_end, extension_end


def _checks_for(piece: str, *, whole: bool, port: bool) -> tuple[Check, ...]:
    """The kinds whose layout `piece` (a shape) has, each with its check on the digits."""
    if port:  # only an address may carry a ":port"; a time follows dates and numbers
        return ((Detector.ip, _ipv4_value, None),) if _ipv4_shape(piece) else ()
    # A part of a longer run made only of space-separated digits may be the middle of some
    # longer spaced number (a tracking number, an account number); only the Luhn-checked
    # card is trusted there.
    spaced_digits_only = not whole and not piece.strip("9 ")
    ssn_shaped = piece in ("999-99-9999", "999 99 9999")  # never a phone, valid or not
    checks: list[Check] = []
    if _card_shape(piece):
        checks.append((Detector.card, _card_value, None))
    if ssn_shaped and not spaced_digits_only:
        checks.append((Detector.ssn, _ssn_value, None))
    if _ipv4_shape(piece):
        checks.append((Detector.ip, _ipv4_value, None))
    layout = None if spaced_digits_only or ssn_shaped else _phone_layout(piece)
    if layout is not None:
        checks.append((Detector.phone, _phone_value, layout))
    return tuple(checks)


def _card_shape(piece: str) -> bool:
    separators = set(piece) - {"9"}
    if len(separators) > 1 or not separators <= {" ", "-"}:
        return False
    groups = [len(g) for g in re.split(r"[ \-]", piece)]
    if 0 in groups or not 13 <= sum(groups) <= 19:
        return False
    return (
        len(groups) == 1
        or (all(g == 4 for g in groups[:-1]) and 1 <= groups[-1] <= 4)
        or groups in ([4, 6, 5], [4, 6, 4])
    )


def _card_value(piece: str, _: object) -> bool:
    digits = piece.replace(" ", "").replace("-", "")
    if not (digits[0] in "23456" or digits.startswith("1800")):
        return False
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = ord(char) - 48
        if position % 2:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def _ssn_value(piece: str, _: object) -> bool:
    area, group, serial = int(piece[:3]), piece[4:6], piece[7:]
    return area not in (0, 666) and area < 900 and group != "00" and serial != "0000"


def _ipv4_shape(piece: str) -> bool:
    parts = piece.split(".")
    return len(parts) == 4 and all(1 <= len(p) <= 3 and p.strip("9") == "" for p in parts)


_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_IPV4 = re.compile(rf"{_OCTET}(?:\.{_OCTET}){{3}}")


def _ipv4_value(piece: str, _: object) -> bool:
    # What ipaddress.IPv4Address accepts (octets 0-255, no leading zeros), ten times faster
    return _IPV4.fullmatch(piece) is not None


_PHONE_TOKEN = re.compile(r"\(([0-9]{1,5})\)|([0-9]+)|([ .\-])")
_KEEP_DIGITS = dict.fromkeys(map(ord, " .-()+"))  # what a phone candidate holds besides digits


class PhoneLayout(NamedTuple):
    plus: bool  # opens with "+": the digits need no further judging
    lengths: tuple[int, ...]  # digits per group, a parenthesised group included
    parens: bool  # has a parenthesised group (an area code or a trunk "(0)")
    grouped: bool  # 3+ groups of 2-4 digits, not all of 4, and not only spaces between
    grouped_after_first: bool  # three or more groups of 2-4 digits after the first


def _phone_layout(piece: str) -> PhoneLayout | None:
    """The layout of a supported phone format (module docstring), judged on its shape."""
    plus = piece.startswith(("+", "(+"))
    body = piece[1:] if plus else piece
    if piece.startswith("(+"):  # "(+358) 23 286 0129": the country code in parentheses
        body = piece[2:].replace(")", "", 1)
    lengths: list[int] = []
    separators: list[str] = []
    parens = 0
    position = 0
    previous = ""  # "group", "paren" or "sep"
    for token in _PHONE_TOKEN.finditer(body):
        if token.start() != position:
            return None
        position = token.end()
        paren, digits, separator = token.groups()
        if separator:
            if previous in ("", "sep"):
                return None
            separators.append(separator)
            previous = "sep"
        elif paren:
            parens += 1
            lengths.append(len(paren))
            previous = "paren"
        else:
            if previous == "group":
                return None
            lengths.append(len(digits))
            previous = "group"
    if position != len(body) or previous in ("", "sep") or parens > 1:
        return None
    kinds = set(separators)
    if len(lengths) > _MAX_WORDS or ("." in kinds and len(kinds) > 1):
        return None
    count = sum(lengths)
    # Groups split by spaces alone read as a list of numbers ("sizes 38 40 42 44") as
    # easily as a phone number, so they count only with a dash or a dot among them.
    grouped = (len(lengths) >= 3 and all(2 <= n <= 4 for n in lengths) and set(lengths) != {4}
               and bool(kinds - {" "}))
    after_first = len(lengths) >= 4 and all(2 <= n <= 4 for n in lengths[1:])
    layout = PhoneLayout(plus, tuple(lengths), parens > 0, grouped, after_first)
    if plus:
        return layout if 8 <= count <= 15 else None
    if not separators and not parens:
        # A bare digit string is an id as often as a phone number, except 10-11 digits
        # after a trunk 0 (0612345678, 07700900123): ids seldom open with a single 0.
        return layout if count in (10, 11) else None
    if not parens and kinds == {"."}:
        if len(separators) == 1:
            return None  # a decimal number
        if len(lengths) == 4 and all(n <= 3 for n in lengths):
            return None  # a dotted quad: an address or a version
    return layout if 9 <= count <= 17 else None


def _phone_value(piece: str, layout: PhoneLayout) -> bool:
    """The rules on the digits themselves, for a piece whose layout passed."""
    if layout.plus:
        return True
    digits = piece.translate(_KEEP_DIGITS)
    count = len(digits)
    lengths = layout.lengths
    if len(lengths) == 1:  # bare digits: only a trunk 0 and a non-zero area code
        return digits[0] == "0" and digits[1] != "0"
    if digits.startswith("00"):  # international prefix: 00, a country code, the number
        return digits[2] != "0" and count <= 17
    if len(lengths) > 2 and lengths[0] == 4 and digits[:2] in ("19", "20") and (
        "01" <= digits[4:6] <= "12"
    ):
        return False  # a date, YYYY-MM-DD and the like
    if count > 13:
        return False
    if lengths == (3, 3, 4) or (lengths[0] == 1 and count == 11 and layout.grouped_after_first):
        return True  # North American 415 555 0132, or a one-digit prefix: 1 415 555 0132
    if layout.parens or (digits[0] == "0" and digits[1] != "0"):
        return True  # a parenthesised area code, or a trunk 0
    return count <= 12 and layout.grouped


Check = tuple[Detector, Callable[[str, Any], bool], Any]
Option = tuple[int, int, int, tuple[Check, ...]]  # next word, start, end, checks
Plan = tuple[tuple[tuple[Option, ...], ...], int, int]  # options per word, run end, ext end


# -- all together ------------------------------------------------------------------------------
def find_spans(text: str, kinds: Iterable[Detector]) -> list[Span]:
    """Sorted, non-overlapping spans of `text` holding data of the given kinds."""
    enabled = frozenset(kinds)
    found: list[Span] = []
    if Detector.email in enabled and "@" in text:
        _emails(text, found)
    if Detector.ip in enabled and ":" in text:
        _ipv6(text, found)
    if Detector.aws_key in enabled or enabled & _DIGIT_KINDS:
        latin = text.encode("latin-1", "replace")
        if Detector.aws_key in enabled:
            _aws_keys(text, latin, found)
        if enabled & _DIGIT_KINDS:
            _digit_runs(text, latin, enabled, found)
    return _merge(found)


def _merge(found: list[Span]) -> list[Span]:
    if len(found) < 2:
        return found
    found.sort()
    # Overlaps are rare (digits inside an address, say): check for any in C first.
    if not any(map(gt, map(_END, found), map(_START, islice(found, 1, None)))):
        return found
    merged = [found[0]]
    for start, end, kind in found[1:]:
        last_start, last_end, last_kind = merged[-1]
        if start < last_end:
            winner = kind if _RANK[kind] < _RANK[last_kind] else last_kind
            merged[-1] = (last_start, max(end, last_end), winner)
        else:
            merged.append((start, end, kind))
    return merged


def redact_text(text: str, kinds: Iterable[Detector]) -> tuple[str, Counter[str]]:
    """`text` with every detected span replaced by its tag, and the count per kind."""
    counts: Counter[str] = Counter()
    pieces = []
    position = 0
    for start, end, kind in find_spans(text, kinds):
        pieces.append(text[position:start])
        pieces.append(TAGS[kind])
        counts[kind.value] += 1
        position = end
    if not pieces:
        return text, counts
    pieces.append(text[position:])
    return "".join(pieces), counts
