"""Regular expressions that run in linear time: check a pattern fits RE2, and turn a replacement into RE2's form.

Patterns are written in Python's ``re`` syntax and run by RE2 (through pyarrow), which
never backtracks, so no pattern can hang a worker. RE2 has no backreferences,
lookaround, atomic groups, possessive quantifiers, conditionals or comments, and its
``\\d \\w \\s \\b`` match ASCII only (as pandas' own string methods do on pyarrow text).
Stdlib only: the web process checks patterns when a config is saved.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

RE2_FLAGS = frozenset("ims")
MAX_REPEAT = 1000  # RE2 refuses larger counted repetitions
# Characters of Unicode's supplementary private use area B stand in for groups while a
# replacement is expanded by Python's own template rules.
_SENTINEL = 0x100000
_QUANTIFIER_END = set("*+?}")
_ESCAPES = {
    "Z": "\\Z (end of text) is not supported; use $",
    "u": "\\u escapes are not supported; write the character itself",
    "U": "\\U escapes are not supported; write the character itself",
    "N": "\\N{...} named characters are not supported; write the character itself",
}
_GROUPS = {
    "=": "lookahead (?=...) is not supported",
    "!": "negative lookahead (?!...) is not supported",
    "<=": "lookbehind (?<=...) is not supported",
    "<!": "negative lookbehind (?<!...) is not supported",
    ">": "atomic groups (?>...) are not supported",
    "P=": "backreferences (?P=name) are not supported",
    "(": "conditional groups (?(...)...) are not supported",
    "#": "comments (?#...) are not supported",
}
_WHY = "; patterns run on RE2, which never backtracks"


class PatternError(ValueError):
    """The pattern or replacement cannot run on RE2; the message says why in one sentence."""


def check_pattern(pattern: str) -> re.Pattern[str]:
    """The pattern compiled by Python (for its groups), or PatternError naming what RE2 lacks."""
    try:
        compiled = re.compile(pattern)
    except re.error as exc:
        raise PatternError(f"invalid regular expression: {exc}") from None
    for reason in _unsupported(pattern):
        raise PatternError(reason + _WHY)
    return compiled


def re2_replacement(pattern: str, replacement: str) -> str:
    """Python's replacement template (``\\1``, ``\\g<name>``, ``\\n``...) as an RE2 rewrite string.

    Python expands the template itself against a probe match whose groups are sentinel
    characters, so its escape and group rules apply exactly; the sentinels then become
    RE2's ``\\0``-``\\9``. Raises PatternError for a bad template or a group past 9.
    """
    compiled = check_pattern(pattern)
    sentinels = [chr(_SENTINEL + i) for i in range(compiled.groups + 1)]
    if any(ch in replacement for ch in sentinels):
        raise PatternError("invalid replacement: it holds characters reserved for group references")
    names = {index: name for name, index in compiled.groupindex.items()}
    probe = re.escape(sentinels[0]) + "".join(
        f"(?P<{names[i]}>{re.escape(s)})" if i in names else f"({re.escape(s)})"
        for i, s in enumerate(sentinels[1:], start=1)
    )
    try:
        expanded = re.compile(probe).sub(replacement, "".join(sentinels))
    except (re.error, IndexError) as exc:
        raise PatternError(f"invalid replacement: {exc}") from None
    expanded = expanded.replace("\\", "\\\\").replace("".join(sentinels), "\\0")
    for index, sentinel in enumerate(sentinels[1:], start=1):
        if sentinel in expanded and index > 9:
            raise PatternError(f"invalid replacement: group {index} is past 9, the last RE2 can refer to")
        expanded = expanded.replace(sentinel, f"\\{index}")
    return expanded


def _unsupported(pattern: str) -> Iterator[str]:
    """Reasons RE2 would refuse the pattern (or read it differently), in the order they appear."""
    i, in_class, class_start = 0, False, 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\":
            yield from _escape(pattern, i, in_class)
            i += 2
            continue
        if in_class:
            if ch == "]" and i >= class_start:
                in_class = False
            elif ch == "[" and pattern[i + 1 : i + 2] in (":", "=", "."):
                yield "POSIX classes like [[:alpha:]] are read differently by Python and RE2"
            i += 1
            continue
        if ch == "[":
            in_class = True
            class_start = i + 1 + (pattern[i + 1 : i + 2] == "^")
            # A "]" right after "[" or "[^" is a literal, not the end of the class.
            class_start += pattern[class_start : class_start + 1] == "]"
        elif ch == "(" and pattern[i + 1 : i + 2] == "?":
            yield from _group(pattern, i + 2)
        elif ch == "+" and _after_quantifier(pattern, i):
            yield "possessive quantifiers (*+, ++, ?+) are not supported"
        elif ch == "{":
            yield from _repeat(pattern, i)
        i += 1


def _escape(pattern: str, i: int, in_class: bool) -> Iterator[str]:
    nxt = pattern[i + 1 : i + 2]
    if nxt in _ESCAPES:
        yield _ESCAPES[nxt]
    elif nxt.isdigit() and nxt != "0":
        digits = re.match(r"\d{1,3}", pattern[i + 1 :]).group()  # type: ignore[union-attr]
        # Three octal digits are a character code in both; anything shorter is a group in Python.
        if not re.fullmatch("[0-7]{3}", digits):
            yield (
                f"octal escapes like \\{nxt} inside [...] are not supported; use \\xHH"
                if in_class
                else f"backreferences like \\{nxt} are not supported"
            )
    elif in_class and nxt == "b":
        yield "\\b inside [...] (a backspace) is not supported; use \\x08"


def _group(pattern: str, i: int) -> Iterator[str]:
    for opener, reason in _GROUPS.items():
        if pattern.startswith(opener, i):
            yield reason
            return
    if pattern.startswith("P<", i):
        return
    flags = re.match(r"[a-zA-Z-]*", pattern[i:]).group()  # type: ignore[union-attr]
    for flag in flags.replace("-", ""):
        if flag not in RE2_FLAGS:
            yield f"the inline flag {flag!r} is not supported (only i, m and s are)"


def _repeat(pattern: str, i: int) -> Iterator[str]:
    counted = re.match(r"\{(\d*)(,?)(\d*)\}", pattern[i:])
    if counted is None:
        return
    low, comma, high = counted.groups()
    if not low and comma and high:
        yield f"{{,{high}}} is read as text by RE2; write {{0,{high}}}"
    elif any(n and int(n) > MAX_REPEAT for n in (low, high)):
        yield f"repetition counts above {MAX_REPEAT} are not supported"


def _after_quantifier(pattern: str, i: int) -> bool:
    before = pattern[i - 1 : i]
    if before not in _QUANTIFIER_END or _escaped(pattern, i - 1):
        return False
    # "}" ends a quantifier only when it closes a counted repetition such as {2} or {1,3}.
    return before != "}" or re.search(r"\{\d+(?:,\d*)?\}$", pattern[:i]) is not None


def _escaped(pattern: str, i: int) -> bool:
    backslashes = len(pattern[:i]) - len(pattern[:i].rstrip("\\"))
    return backslashes % 2 == 1
