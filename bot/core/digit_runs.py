"""Digit runs: payment cards, US SSNs, IPv4 addresses and phone numbers (DESIGN §4).

Part of the detectors (`bot.core.detectors`, which documents what each kind claims):
these four kinds all start from a run of digits and separators, so they share one scan.
The text is mapped to a "shape", each run's layout is judged once per distinct shape
(cached), and only the digits themselves are checked on the real text (Luhn, octets,
SSN areas, dates).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, NamedTuple

from bot.core.runbooks import Detector

Span = tuple[int, int, Detector]  # start, end, kind: a finding in the scanned text


# The text is encoded one byte per character (anything outside Latin-1 becomes "?") and
# mapped to a "shape": digits become 9, letters a (except x, e, t, kept for extensions),
# separators stay, everything else is #. Runs of digits are found in the shape with a
# literal-prefixed pattern, and the layout of each run is judged once per distinct shape.
DIGIT_KINDS = frozenset({Detector.card, Detector.ssn, Detector.ip, Detector.phone})


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


def find(
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


# Luhn: what each digit (as its byte) adds when doubled
_DOUBLED = tuple(0 if not 48 <= byte <= 57 else (2 * (byte - 48)) % 10 + (byte >= 53)
                 for byte in range(256))


def _card_value(piece: str, _: object) -> bool:
    # the piece is ASCII: its shape is digits and separators only
    digits = piece.encode().translate(None, b" -")
    if not (50 <= digits[0] <= 54 or digits.startswith(b"1800")):  # 2-6, or JCB's 1800
        return False
    # Luhn, summed in C: from the right, every other digit as is, the rest doubled
    kept = digits[-1::-2]
    total = sum(kept) - 48 * len(kept) + sum(map(_DOUBLED.__getitem__, digits[-2::-2]))
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
_NOT_DIGITS = b" .-()+"  # what a phone candidate holds besides digits


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
    # the piece is ASCII: its shape is digits and separators only
    digits = piece.encode().translate(None, _NOT_DIGITS).decode()
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
