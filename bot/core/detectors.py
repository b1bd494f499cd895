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
Cards, SSNs, IPv4 addresses and phone numbers share one scan of digit runs
(`bot.core.digit_runs`).
"""

from __future__ import annotations

import math
import re
import socket
from collections import Counter
from collections.abc import Iterable
from itertools import islice
from operator import gt, itemgetter

from bot.core import digit_runs
from bot.core.digit_runs import Span
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

_START, _END = itemgetter(0), itemgetter(1)

# -- email -------------------------------------------------------------------------------
_LOCAL_REVERSED = re.compile(r"[\w.%+\-]{1,64}")
_AT_DOMAIN = re.compile(r"@(?:[\w\-]+\.)+(?:[^\W\d_]{2,63}|xn--[\w\-]+)(?![\w\-])")


def _emails(text: str, backwards: str, found: list[Span]) -> None:
    # Anchored on "@" so the scan is a fast literal search; the local part is read
    # backwards from the "@", as a forward match in `backwards` (the text reversed).
    local_part = _LOCAL_REVERSED.match
    append = found.append
    end = len(text)
    for domain in _AT_DOMAIN.finditer(text):
        at = domain.start()
        local = local_part(backwards, end - at)  # backwards[end - at] is text[at - 1]
        if local:
            append((end - local.end(), domain.end(), Detector.email))


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


def _ipv6(text: str, backwards: str, found: list[Span]) -> None:
    covered = 0
    length = len(text)
    for hit in _V6_TRIGGER.finditer(text):
        if hit.start() < covered:
            continue
        # back to the start of the address: at most 45 characters (with an IPv4 tail),
        # read forwards in `backwards` (the text reversed) from the trigger
        back = length - hit.start()
        start = length - _V6_BACK.match(backwards, back, back + 45).end()  # type: ignore[union-attr]
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


# -- all together ------------------------------------------------------------------------------
def find_spans(text: str, kinds: Iterable[Detector]) -> list[Span]:
    """Sorted, non-overlapping spans of `text` holding data of the given kinds."""
    enabled = frozenset(kinds)
    found: list[Span] = []
    emails = Detector.email in enabled and "@" in text
    addresses = Detector.ip in enabled and ":" in text
    backwards = text[::-1] if emails or addresses else ""
    if emails:
        _emails(text, backwards, found)
    if addresses:
        _ipv6(text, backwards, found)
    if Detector.aws_key in enabled or enabled & digit_runs.DIGIT_KINDS:
        latin = text.encode("latin-1", "replace")
        if Detector.aws_key in enabled:
            _aws_keys(text, latin, found)
        if enabled & digit_runs.DIGIT_KINDS:
            digit_runs.find(text, latin, enabled, found)
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
