"""Query field names onto stored log columns, and each match kind as one regex meaning.

Every string match (term, phrase, glob, regex) is defined here as a regex in the query
dialect over one field value; the stream matcher and the SQL compiler both start from this
definition, which is what keeps their answers identical.
"""

from __future__ import annotations

from pipeline.ingest.logs.severity import from_name
from pipeline.query.ast import Match
from pipeline.query.lexer import unescape_word

# Query spellings of the stored columns.
_ALIASES = {
    "message": "message", "msg": "message", "body": "message",
    "level": "level", "severity": "level", "severity_text": "level",
    "service": "service", "host": "host", "instance": "instance",
    "trace_id": "trace_id", "span_id": "span_id",
}
# Canonical field -> stored column (others are keys of the `attributes` map).
COLUMNS = {
    "message": "body", "level": "severity_text", "service": "service", "host": "host",
    "instance": "instance", "trace_id": "trace_id", "span_id": "span_id",
}
# ASCII-only case folding: ClickHouse lower()/…CaseInsensitive and Hyperscan fold exactly these.
ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
# hasToken's separators: every ASCII character that is not a letter or digit.
TOKEN_SEPARATORS = r"[\x00-/:-@\[-`{-\x7f]"
_NON_SPACE = r"[^\t\n\x0b\f\r ]"


def canonical_field(name: str) -> str:
    """The canonical spelling of a field ('msg' -> 'message'); attribute names unchanged."""
    return _ALIASES.get(name, name)


def column_of(field: str) -> str | None:
    """The stored column for a canonical field, or None for an attribute key."""
    return COLUMNS.get(field)


def severity_threshold(word: str) -> int:
    """The lowest OTLP severity number of a level name ('warn' -> 13), 0 if unknown."""
    n = from_name(word)
    return ((n - 1) // 4) * 4 + 1 if n else 0


def is_token_char(c: str) -> bool:
    return c.isascii() and c.isalnum() or not c.isascii()


def escape_literal(text: str) -> str:
    """Regex source matching `text` literally (dialect escapes)."""
    out = []
    for c in text:
        if c.isascii() and (c.isalnum() or c == "_"):
            out.append(c)
        elif c.isascii() and 0x20 < ord(c) < 0x7f:
            out.append("\\" + c)
        else:
            out.append("\\x{%x}" % ord(c))
    return "".join(out)


def _glob_source(raw: str, star: str) -> str:
    """A raw word with `*` wildcards to regex source; escaped characters are literal."""
    out, i = [], 0
    while i < len(raw):
        c = raw[i]
        if c == "\\" and i + 1 < len(raw):
            out.append(escape_literal(raw[i + 1]))
            i += 2
        elif c == "*":
            out.append(star)
            i += 1
        else:
            out.append(escape_literal(c))
            i += 1
    return "".join(out)


def match_regex(m: Match) -> tuple[str, bool]:
    """(regex source, case-insensitive) that defines a string match on its field's value.

    - message: unquoted words match whole tokens (ASCII letters/digits; other characters
      separate; non-ASCII characters belong to tokens, as in ClickHouse hasToken), quoted
      phrases match anywhere; both ignore ASCII case. `*` in a message word spans non-space.
    - level: the whole value, ignoring ASCII case.
    - other fields: the whole value exactly; `*` spans anything.
    - /regex/: searches the value as written (`i` flag ignores ASCII case).
    """
    if m.kind == "regex":
        return m.value, m.ci
    if m.field == "message":
        if m.kind == "phrase":
            return escape_literal(m.value), True
        text = unescape_word(m.value) if m.kind == "glob" else m.value
        src = _glob_source(m.value, _NON_SPACE + "*") if m.kind == "glob" else escape_literal(m.value)
        if text[:1] and text[0] != "*" and is_token_char(text[0]):
            src = f"(?:^|{TOKEN_SEPARATORS})" + src
        if text[-1:] and not m.value.endswith("*") and is_token_char(text[-1]):
            src = src + f"(?:{TOKEN_SEPARATORS}|$)"
        return src, True
    ci = m.field == "level"
    if m.kind == "glob":
        return "^" + _glob_source(m.value, ".*") + "$", ci
    return "^" + escape_literal(m.value) + "$", ci
