"""The regex dialect: what Hyperscan, RE2 and ClickHouse's match() all read the same way.

A pattern is parsed into a small tree (rejecting backreferences, lookaround, inline flags,
possessive and other engine-specific syntax with a positioned QueryError) and written back
out per engine in an explicit form: character classes as code-point ranges, `\\d\\w\\s` as
their ASCII sets, case-insensitivity as explicit ASCII letter pairs, `.` matching newlines.
Both engines then read identical, unambiguous syntax.

For Hyperscan the pattern is also rewritten to scan many values joined by NUL bytes in one
call: `.` and negated classes never cross a NUL, and `^`/`$` become the NUL itself. Patterns
where that rewrite would be unsound (anchors not at the pattern's edges, a NUL in the
pattern) are marked so the matcher evaluates them with RE2 instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from pipeline.query.errors import QueryError
from pipeline.query.regex_tree import (
    anchors_at_edges, has_assertion, max_anchors, min_len, required_literal, strip_dotstar,
)

MAX_REPEAT = 1000  # RE2's limit for {n,m}
_MAX_CP = 0x10FFFF
_DIGIT = ((0x30, 0x39),)
_WORD = ((0x30, 0x39), (0x41, 0x5A), (0x5F, 0x5F), (0x61, 0x7A))
_SPACE = ((0x09, 0x0A), (0x0C, 0x0D), (0x20, 0x20))  # RE2's \s: no vertical tab
_SIMPLE_ESCAPES = {"t": 0x09, "n": 0x0A, "r": 0x0D, "f": 0x0C, "v": 0x0B, "a": 0x07}


# Tree nodes are tuples: ("lit", cp) ("cls", ranges, negated) ("dot",) ("bol",) ("eol",)
# ("wb", is_boundary) ("grp", name|None, capturing, alt) ("alt", [seq]) ("seq", [node])
# ("rep", node, lo, hi|None, lazy)


class _P:
    def __init__(self, src: str):
        self.s = src
        self.i = 0
        self.names: list[str] = []

    def err(self, msg: str, expected: str = "", at: int | None = None) -> QueryError:
        return QueryError(msg, self.i if at is None else at, expected, self.s)

    def alt(self, depth: int) -> tuple:
        if depth > 64:
            raise self.err("regex nests too deeply", "fewer nested groups")
        branches = [self.seq(depth)]
        while self.i < len(self.s) and self.s[self.i] == "|":
            self.i += 1
            branches.append(self.seq(depth))
        return ("alt", branches)

    def seq(self, depth: int) -> tuple:
        items: list[tuple] = []
        while self.i < len(self.s) and self.s[self.i] not in "|)":
            start = self.i
            atom = self.atom(depth)
            q = self.quantifier()
            if q is not None:
                if atom[0] in ("bol", "eol", "wb"):
                    raise self.err("a quantifier cannot follow an anchor", "an atom before it", start)
                atom = ("rep", atom, *q)
            items.append(atom)
        return ("seq", items)

    def quantifier(self) -> tuple | None:
        s, i = self.s, self.i
        if i >= len(s):
            return None
        c = s[i]
        if c in "*+?":
            lo, hi = {"*": (0, None), "+": (1, None), "?": (0, 1)}[c]
            self.i += 1
        elif c == "{":
            close = s.find("}", i)
            body = s[i + 1:close] if close > 0 else ""
            parts = body.split(",")
            if close < 0 or len(parts) > 2 or not parts[0].isdigit() or not all(
                    p.isdigit() or (k == 1 and p == "") for k, p in enumerate(parts)):
                raise self.err("'{' must start a repetition {n}, {n,} or {n,m}", "\\{ for a literal brace")
            lo = int(parts[0])
            hi = lo if len(parts) == 1 else (int(parts[1]) if parts[1] else None)
            if lo > MAX_REPEAT or (hi is not None and (hi > MAX_REPEAT or hi < lo)):
                raise self.err(f"bad repetition {{{body}}}", f"0 <= n <= m <= {MAX_REPEAT}")
            self.i = close + 1
        else:
            return None
        lazy = False
        if self.i < len(s) and s[self.i] == "?":
            lazy = True
            self.i += 1
        if self.i < len(s) and s[self.i] in "*+?{":
            what = "possessive quantifiers" if s[self.i] == "+" else "stacked quantifiers"
            raise self.err(f"{what} are not supported", "one quantifier per atom")
        return (lo, hi, lazy)

    def atom(self, depth: int) -> tuple:
        s, i = self.s, self.i
        c = s[i]
        if c == "(":
            return self.group(depth)
        if c == "[":
            return self.klass()
        if c in "*+?":
            raise self.err(f"nothing to repeat before {c!r}", "an atom before the quantifier")
        if c == "{":
            raise self.err("nothing to repeat before '{'", "\\{ for a literal brace")
        self.i += 1
        if c == ".":
            return ("dot",)
        if c == "^":
            return ("bol",)
        if c == "$":
            return ("eol",)
        if c == "\\":
            return self.escape(in_class=False)
        return ("lit", ord(c))

    def group(self, depth: int) -> tuple:
        s, start = self.s, self.i
        self.i += 1
        name, capturing = None, True
        if s.startswith("?", self.i):
            rest = s[self.i:]
            if rest.startswith("?:"):
                capturing = False
                self.i += 2
            elif rest.startswith(("?P<", "?<")) and not rest.startswith(("?<=", "?<!")):
                self.i += 3 if rest.startswith("?P<") else 2
                end = s.find(">", self.i)
                name = s[self.i:end] if end > 0 else ""
                if not name or not (name[0].isalpha() or name[0] == "_") or not all(
                        ch.isascii() and (ch.isalnum() or ch == "_") for ch in name):
                    raise self.err("bad capture group name", "(?P<name>...) with a word name")
                if name in self.names:
                    raise self.err(f"duplicate capture group name {name!r}", "unique names")
                self.names.append(name)
                self.i = end + 1
            elif rest.startswith(("?=", "?!", "?<=", "?<!")):
                raise self.err("lookaround is not supported", "a plain group (...) or (?:...)", start)
            elif rest.startswith("?>"):
                raise self.err("atomic groups are not supported", "(?:...)", start)
            else:
                raise self.err("inline flags and (?...) extensions are not supported",
                               "(...), (?:...) or (?P<name>...); use /.../i for case", start)
        alt = self.alt(depth + 1)
        if self.i >= len(s) or s[self.i] != ")":
            raise self.err("unclosed group", f"')' to close the '(' at {start}", start)
        self.i += 1
        return ("grp", name, capturing, alt)

    def escape(self, in_class: bool) -> tuple:
        s, start = self.s, self.i - 1
        if self.i >= len(s):
            raise self.err("dangling backslash at end of regex", "a character after \\", start)
        c = s[self.i]
        self.i += 1
        if c in "dws":
            return ("cls", {"d": _DIGIT, "w": _WORD, "s": _SPACE}[c], False)
        if c in "DWS":
            if in_class:
                raise self.err(f"\\{c} inside [...] is not supported", "[^...] instead", start)
            return ("cls", {"D": _DIGIT, "W": _WORD, "S": _SPACE}[c], True)
        if c in _SIMPLE_ESCAPES:
            return ("lit", _SIMPLE_ESCAPES[c])
        if c == "x":
            if s.startswith("{", self.i):
                end = s.find("}", self.i)
                digits = s[self.i + 1:end] if end > 0 else ""
                self.i = end + 1 if end > 0 else self.i
            else:
                digits = s[self.i:self.i + 2]
                self.i += 2
                if len(digits) != 2:
                    digits = ""
            if not digits or len(digits) > 6 or any(h not in "0123456789abcdefABCDEF" for h in digits):
                raise self.err("bad \\x escape", "\\xHH or \\x{HHHH}", start)
            cp = int(digits, 16)
            if cp > _MAX_CP or 0xD800 <= cp <= 0xDFFF:
                raise self.err("\\x escape is not a Unicode scalar value", "a valid code point", start)
            return ("lit", cp)
        if not in_class:
            if c == "b":
                return ("wb", True)
            if c == "B":
                return ("wb", False)
            if c == "A":
                return ("bol",)
            if c == "z":
                return ("eol",)
        if c.isdigit():
            raise self.err("backreferences and octal escapes are not supported", "\\xHH for a byte", start)
        if c.isascii() and c.isalnum():
            raise self.err(f"unsupported escape \\{c}", "\\d \\w \\s \\b \\xHH \\t \\n or escaped punctuation", start)
        return ("lit", ord(c))

    def klass(self) -> tuple:
        s, start = self.s, self.i
        self.i += 1
        negated = False
        if s.startswith("^", self.i):
            negated = True
            self.i += 1
        ranges: list[tuple[int, int]] = []
        first = True
        while True:
            if self.i >= len(s):
                raise self.err("unclosed character class", "']'", start)
            c = s[self.i]
            if c == "]" and not first:
                self.i += 1
                break
            if c == "]":
                raise self.err("empty character class", "\\] for a literal bracket", self.i)
            if c == "[" and s.startswith(("[:", "[=", "[."), self.i):
                raise self.err("POSIX classes are not supported", "explicit ranges like [a-z]", self.i)
            first = False
            lo = self.class_atom()
            if isinstance(lo, tuple):  # \d \w \s inside the class
                ranges.extend(lo)
                continue
            if s.startswith("-", self.i) and self.i + 1 < len(s) and s[self.i + 1] != "]":
                dash = self.i
                self.i += 1
                hi = self.class_atom()
                if not isinstance(hi, int):
                    raise self.err("a class shorthand cannot end a range", "a character", dash)
                if hi < lo:
                    raise self.err("range out of order in character class", "low-high", dash)
                ranges.append((lo, hi))
            else:
                ranges.append((lo, lo))
        return ("cls", tuple(ranges), negated)

    def class_atom(self) -> int | tuple:
        """A code point, or the ranges of a shorthand class."""
        c = self.s[self.i]
        self.i += 1
        if c == "\\":
            return self.escape(in_class=True)[1]
        return ord(c)


@lru_cache(maxsize=4096)
def parse_regex(src: str) -> tuple:
    """Parse dialect source to a tree; QueryError (position inside `src`) if unsupported."""
    p = _P(src)
    tree = p.alt(0)
    if p.i < len(src):
        raise p.err("unmatched ')'", "'(' before it or \\)")
    return tree


def _merge(ranges) -> list[tuple[int, int]]:
    out: list[list[int]] = []
    for lo, hi in sorted(ranges):
        if out and lo <= out[-1][1] + 1:
            out[-1][1] = max(out[-1][1], hi)
        else:
            out.append([lo, hi])
    return [(a, b) for a, b in out]


def _fold(ranges) -> list[tuple[int, int]]:
    """Add the other ASCII case of every letter in the ranges."""
    extra = []
    for lo, hi in ranges:
        for a, b, delta in ((0x61, 0x7A, -32), (0x41, 0x5A, 32)):
            x, y = max(lo, a), min(hi, b)
            if x <= y:
                extra.append((x + delta, y + delta))
    return _merge(list(ranges) + extra)


def _cp(cp: int) -> str:
    c = chr(cp)
    if c.isascii() and (c.isalnum() or c == "_"):
        return c
    return "\\x{%x}" % cp


class _Emit:
    """Writes a tree for one engine: 're2' (RE2 / ClickHouse) or 'hs' (NUL-joined scanning)."""

    def __init__(self, target: str, ci: bool, captures: bool):
        self.hs = target == "hs"
        self.ci = ci
        self.captures = captures
        self.ok = True  # False when the hs rewrite would be unsound

    def cls(self, ranges, negated: bool) -> str:
        rs = _fold(ranges) if self.ci else _merge(ranges)
        if self.hs:
            if negated:
                rs = _merge(rs + [(0, 0)])
            else:
                rs = [r for lo, hi in rs for r in ((lo, hi),) if not (lo == hi == 0)]
                rs = [(max(lo, 1), hi) for lo, hi in rs]
                if not rs:
                    self.ok = False
                    return "[a]"
        body = "".join(_cp(lo) if lo == hi else f"{_cp(lo)}-{_cp(hi)}" for lo, hi in rs)
        return f"[{'^' if negated else ''}{body}]"

    def node(self, n: tuple) -> str:
        kind = n[0]
        if kind == "lit":
            cp = n[1]
            if self.hs and cp == 0:
                self.ok = False
            if self.ci and (0x41 <= cp <= 0x5A or 0x61 <= cp <= 0x7A):
                return self.cls(((cp, cp),), False)
            return _cp(cp)
        if kind == "cls":
            return self.cls(n[1], n[2])
        if kind == "dot":
            return "[^\\x{0}]" if self.hs else "."
        if kind == "bol":
            return "\\x{0}" if self.hs else "^"
        if kind == "eol":
            return "\\x{0}" if self.hs else "\\z"
        if kind == "wb":
            return "\\b" if n[1] else "\\B"
        if kind == "seq":
            return "".join(self.node(c) for c in n[1])
        if kind == "alt":
            return "|".join(self.node(b) for b in n[1])
        if kind == "grp":
            inner = self.node(n[3])
            if self.captures and n[1]:
                return f"(?P<{n[1]}>{inner})"
            return f"(?:{inner})"
        if kind == "rep":
            inner = self.node(n[1])
            if n[1][0] in ("alt", "seq"):
                inner = f"(?:{inner})"
            lo, hi, lazy = n[2], n[3], n[4]
            q = {(0, None): "*", (1, None): "+", (0, 1): "?"}.get((lo, hi))
            if q is None:
                q = f"{{{lo}}}" if lo == hi else f"{{{lo},{'' if hi is None else hi}}}"
            return inner + q + ("?" if lazy else "")
        raise AssertionError(kind)


@dataclass(frozen=True, slots=True)
class CompiledRegex:
    """One dialect pattern written for each engine.

    re2: for RE2 and ClickHouse match()/multiMatchAny() (no captures).
    re2_captures: same with named captures kept (field extraction).
    hs: for Hyperscan over NUL-joined values, or None when only RE2 can evaluate it.
    literal: a substring every match contains ('' if none), compared ASCII-case-folded when ci.
    always: matches every value (can match empty and asserts nothing).
    """

    re2: str
    re2_captures: str
    hs: str | None
    literal: str
    always: bool
    captures: tuple[str, ...]


@lru_cache(maxsize=8192)
def compile_regex(src: str, ci: bool = False) -> CompiledRegex:
    """Validate and translate dialect source; QueryError on unsupported syntax."""
    tree = strip_dotstar(parse_regex(src))
    names = tuple(_capture_names(tree))
    e_re2 = _Emit("re2", ci, False)
    re2 = "(?s)" + e_re2.node(tree)
    re2_caps = "(?s)" + _Emit("re2", ci, True).node(tree) if names else re2
    e_hs = _Emit("hs", ci, False)
    hs = e_hs.node(tree)
    has_anchor = any(a in src for a in ("^", "$", "\\A", "\\z"))
    if not e_hs.ok or (has_anchor and (not anchors_at_edges(tree, True, True)
                                       or max_anchors(tree, "bol") > 1
                                       or max_anchors(tree, "eol") > 1)):
        hs = None
    elif min_len(tree) == 0:
        # A match could consume no character of its value (`\b`, `^\b`) and end on the NUL
        # before it, which is also the previous value's end: the hit could not be placed.
        # RE2 evaluates these (Hyperscan rejects most of them as matching empty anyway).
        hs = None
    always = min_len(tree) == 0 and not has_assertion(tree)
    return CompiledRegex(re2, re2_caps, hs, required_literal(tree, ci), always, names)


def _capture_names(n: tuple):
    k = n[0]
    if k == "grp":
        if n[1]:
            yield n[1]
        yield from _capture_names(n[3])
    elif k in ("seq", "alt"):
        for c in n[1]:
            yield from _capture_names(c)
    elif k == "rep":
        yield from _capture_names(n[1])
