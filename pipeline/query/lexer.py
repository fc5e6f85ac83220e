"""Query text to tokens, with the character position of each for error messages."""

from __future__ import annotations

from dataclasses import dataclass

from pipeline.query.errors import QueryError

KEYWORDS = ("AND", "OR", "NOT")
# Characters that end an unquoted word (besides whitespace); `!` only when `!=` follows.
_WORD_STOP = frozenset('():"<>=')
_STRING_ESCAPES = {"n": "\n", "t": "\t", "r": "\r"}


@dataclass(frozen=True, slots=True)
class Token:
    """kind: LPAREN RPAREN AND OR NOT WORD STRING REGEX COLON CMP EOF.

    WORD keeps its raw text (escapes included) so the parser can tell a wildcard `*` from a
    literal `\\*`; STRING holds the unescaped text; REGEX holds the pattern and `flags`.
    """

    kind: str
    text: str
    pos: int
    flags: str = ""


def tokenize(query: str) -> list[Token]:
    """Split a query into tokens; raises QueryError naming the position of bad input."""
    out: list[Token] = []
    i, n = 0, len(query)
    while i < n:
        c = query[i]
        if c.isspace():
            i += 1
        elif c == "(":
            out.append(Token("LPAREN", c, i))
            i += 1
        elif c == ")":
            out.append(Token("RPAREN", c, i))
            i += 1
        elif c == ":":
            out.append(Token("COLON", c, i))
            i += 1
        elif c in "<>" or (c == "!" and query.startswith("!=", i)) or c == "=":
            op = query[i:i + 2] if query[i + 1:i + 2] == "=" and c != "=" else c
            out.append(Token("CMP", op, i))
            i += len(op)
        elif c == '"':
            i = _string(query, i, out)
        elif c == "/":
            i = _regex(query, i, out)
        else:
            i = _word(query, i, out)
    out.append(Token("EOF", "", n))
    return out


def _string(q: str, start: int, out: list[Token]) -> int:
    buf: list[str] = []
    i, n = start + 1, len(q)
    while i < n:
        c = q[i]
        if c == '"':
            out.append(Token("STRING", "".join(buf), start))
            return i + 1
        if c == "\\":
            if i + 1 >= n:
                break
            e = q[i + 1]
            if e == "u":
                hexpart = q[i + 2:i + 6]
                if len(hexpart) != 4 or any(h not in "0123456789abcdefABCDEF" for h in hexpart):
                    raise QueryError("bad \\u escape in string", i, "four hex digits", q)
                cp = int(hexpart, 16)
                if 0xD800 <= cp <= 0xDFFF:
                    raise QueryError("\\u escape names a surrogate", i, "a Unicode scalar value", q)
                buf.append(chr(cp))
                i += 6
                continue
            buf.append(_STRING_ESCAPES.get(e, e))
            i += 2
            continue
        buf.append(c)
        i += 1
    raise QueryError("unterminated string", start, 'a closing "', q)


def _regex(q: str, start: int, out: list[Token]) -> int:
    i, n = start + 1, len(q)
    while i < n:
        c = q[i]
        if c == "\\":
            i += 2
            continue
        if c == "/":
            body = q[start + 1:i]
            j = i + 1
            while j < n and q[j].isalpha():
                if q[j] != "i":
                    raise QueryError(f"unknown regex flag {q[j]!r}", j, "the flag i or nothing", q)
                j += 1
            out.append(Token("REGEX", body, start, q[i + 1:j]))
            return j
        i += 1
    raise QueryError("unterminated regex", start, "a closing /", q)


def _word(q: str, start: int, out: list[Token]) -> int:
    i, n = start, len(q)
    while i < n:
        c = q[i]
        if c.isspace() or c in _WORD_STOP or (c == "!" and q.startswith("!=", i)):
            break
        if c == "\\":
            if i + 1 >= n:
                raise QueryError("dangling escape at end of query", i, "a character after \\", q)
            i += 2
            continue
        i += 1
    text = q[start:i]
    kind = text if text in KEYWORDS else "WORD"
    out.append(Token(kind, text, start))
    return i


def unescape_word(raw: str) -> str:
    """A word's text with `\\x` escapes resolved to `x`."""
    if "\\" not in raw:
        return raw
    out, i = [], 0
    while i < len(raw):
        if raw[i] == "\\" and i + 1 < len(raw):
            out.append(raw[i + 1])
            i += 2
        else:
            out.append(raw[i])
            i += 1
    return "".join(out)


def has_wildcard(raw: str) -> bool:
    """True when the raw word has an unescaped `*`."""
    i = 0
    while i < len(raw):
        if raw[i] == "\\":
            i += 2
            continue
        if raw[i] == "*":
            return True
        i += 1
    return False
