"""Query tree to a parameterised ClickHouse WHERE fragment over the `logs` table.

User values only ever travel as server-side parameters (`{p0:String}`), never in the SQL
text. Each leaf uses the cheapest ClickHouse function with exactly the meaning defined in
fields.match_regex: `=`/`has` for whole-value matches, hasTokenCaseInsensitive for single
message tokens, positionCaseInsensitive / multiSearchAnyCaseInsensitive for phrases,
match (one alternation for merged leaves, with a substring pre-filter) for everything
else.
"""

from __future__ import annotations

from pipeline.query.ast import And, AnyOf, Compare, Const, Match, Node, Not, Or
from pipeline.query.fields import ASCII_LOWER, column_of, match_regex
from pipeline.query.optimize import optimize
from pipeline.query.parser import parse
from pipeline.query.regex import compile_regex

# The numeric syntax both Python and ClickHouse read identically.
NUMBER_RE = r"^-?[0-9]+(?:\.[0-9]+)?\z"
_MIN_PREFILTER = 3


def to_sql(expr: str | Node) -> tuple[str, dict]:
    """(WHERE fragment, parameters) for a query string or tree."""
    node = optimize(parse(expr) if isinstance(expr, str) else expr)
    b = _Builder()
    return b.node(node), b.params


def _fmt_number(x: float) -> str:
    return str(int(x)) if x.is_integer() and abs(x) < 1e15 else repr(x)


class _Builder:
    def __init__(self) -> None:
        self.params: dict[str, object] = {}

    def param(self, value: object, typ: str) -> str:
        name = f"p{len(self.params)}"
        self.params[name] = value
        return f"{{{name}:{typ}}}"

    def column(self, field: str) -> str:
        col = column_of(field)
        return col if col else f"attributes[{self.param(field, 'String')}]"

    def node(self, n: Node) -> str:
        if isinstance(n, Const):
            return "1" if n.value else "0"
        if isinstance(n, Not):
            return f"NOT ({self.node(n.item)})"
        if isinstance(n, (And, Or)):
            op = " AND " if isinstance(n, And) else " OR "
            return "(" + op.join(self.node(i) for i in n.items) + ")"
        if isinstance(n, Compare):
            return self.compare(n)
        if isinstance(n, AnyOf):
            return self.any_of(n)
        return self.match(n)

    def compare(self, n: Compare) -> str:
        if n.field == "level":
            return f"severity_number {n.op} {self.param(n.number, 'Float64')}"
        col = self.column(n.field)
        return (f"(match({col}, {self.param(NUMBER_RE, 'String')}) AND toFloat64OrZero({col}) "
                f"{n.op} toFloat64({self.param(_fmt_number(n.number), 'String')}))")

    def match(self, m: Match) -> str:
        if m.kind == "exists":
            col = column_of(m.field)
            if col:
                return f"{col} != ''"
            return f"mapContains(attributes, {self.param(m.field, 'String')})"
        if m.field == "message" and m.kind == "term" and m.value.isascii() and m.value.isalnum():
            return f"hasTokenCaseInsensitive(body, {self.param(m.value, 'String')})"
        if m.field == "message" and m.kind == "phrase":
            return f"positionCaseInsensitive(body, {self.param(m.value, 'String')}) > 0"
        if m.kind in ("term", "phrase") and m.field != "message":
            if m.field == "level":
                return f"lower(severity_text) = {self.param(m.value.translate(ASCII_LOWER), 'String')}"
            return f"{self.column(m.field)} = {self.param(m.value, 'String')}"
        cr = compile_regex(*match_regex(m))
        col = self.column(m.field)
        test = f"match({col}, {self.param(cr.re2, 'String')})"
        if len(cr.literal) >= _MIN_PREFILTER:
            pos = "positionCaseInsensitive" if match_regex(m)[1] else "position"
            return f"({pos}({col}, {self.param(cr.literal, 'String')}) > 0 AND {test})"
        return test

    def any_of(self, n: AnyOf) -> str:
        ms = n.members
        if n.field == "message" and all(m.kind == "phrase" for m in ms):
            vals = [m.value for m in ms]
            return f"multiSearchAnyCaseInsensitive(body, {self.param(vals, 'Array(String)')})"
        if n.field != "message" and all(m.kind in ("term", "phrase") for m in ms):
            if n.field == "level":
                vals = [m.value.translate(ASCII_LOWER) for m in ms]
                return f"has({self.param(vals, 'Array(String)')}, lower(severity_text))"
            vals = [m.value for m in ms]
            return f"has({self.param(vals, 'Array(String)')}, {self.column(n.field)})"
        # One RE2 alternation rather than multiMatchAny: ClickHouse runs multiMatchAny on
        # Vectorscan, which rejects patterns it deems expensive and reads `$` differently.
        alts = "|".join("(?:" + compile_regex(*match_regex(m)).re2.removeprefix("(?s)") + ")" for m in ms)
        return f"match({self.column(n.field)}, {self.param('(?s)' + alts, 'String')})"
