"""Tokens to a syntax tree (recursive descent; grammar in schemas/query.ebnf)."""

from __future__ import annotations

import re

from pipeline.query.ast import And, Compare, Match, Node, Not, Or
from pipeline.query.errors import QueryError
from pipeline.query.fields import canonical_field, severity_threshold
from pipeline.query.lexer import Token, has_wildcard, tokenize, unescape_word

_MAX_DEPTH = 32  # keeps compiled rule expressions well inside Python's nesting limit
_NUMBER = re.compile(r"-?[0-9]+(?:\.[0-9]+)?")
_STARTS_TERM = ("WORD", "STRING", "REGEX", "LPAREN", "NOT")
_DESCRIBE = {"EOF": "end of query", "RPAREN": "')'", "LPAREN": "'('", "COLON": "':'"}


def parse(query: str) -> Node:
    """Parse query text into a syntax tree; QueryError with position on bad input."""
    if not isinstance(query, str):
        raise QueryError("query must be text", 0, "a string")
    return _Parser(query, tokenize(query)).parse()


class _Parser:
    def __init__(self, query: str, tokens: list[Token]):
        self.q = query
        self.toks = tokens
        self.i = 0
        self.depth = 0

    def peek(self, k: int = 0) -> Token:
        return self.toks[min(self.i + k, len(self.toks) - 1)]

    def take(self) -> Token:
        t = self.toks[self.i]
        self.i += 1
        return t

    def fail(self, tok: Token, expected: str) -> QueryError:
        found = _DESCRIBE.get(tok.kind, repr(tok.text))
        return QueryError(f"unexpected {found}", tok.pos, expected, self.q)

    def parse(self) -> Node:
        if self.peek().kind == "EOF":
            raise QueryError("empty query", 0, "a search term", self.q)
        node = self.or_expr()
        if self.peek().kind != "EOF":
            raise self.fail(self.peek(), "AND, OR, NOT, a search term or end of query")
        return node

    def _enter(self, tok: Token) -> None:
        self.depth += 1
        if self.depth > _MAX_DEPTH:
            raise QueryError(f"query nests deeper than {_MAX_DEPTH} levels", tok.pos,
                             "a flatter query", self.q)

    def or_expr(self) -> Node:
        items = [self.and_expr()]
        while self.peek().kind == "OR":
            self.take()
            items.append(self.and_expr())
        return items[0] if len(items) == 1 else Or(tuple(items))

    def and_expr(self) -> Node:
        items = [self.unary()]
        while True:
            kind = self.peek().kind
            if kind == "AND":
                self.take()
                items.append(self.unary())
            elif kind in _STARTS_TERM:
                items.append(self.unary())  # juxtaposition means AND
            else:
                break
        return items[0] if len(items) == 1 else And(tuple(items))

    def unary(self) -> Node:
        tok = self.peek()
        if tok.kind == "NOT":
            self.take()
            self._enter(tok)
            node = Not(self.unary())
            self.depth -= 1
            return node
        return self.primary()

    def primary(self) -> Node:
        tok = self.take()
        if tok.kind == "LPAREN":
            self._enter(tok)
            node = self.or_expr()
            close = self.take()
            if close.kind != "RPAREN":
                raise self.fail(close, "')' to close the '(' at position %d" % tok.pos)
            self.depth -= 1
            return node
        if tok.kind == "STRING":
            return Match("message", "phrase", tok.text)
        if tok.kind == "REGEX":
            return self.regex_match("message", tok)
        if tok.kind == "WORD":
            nxt = self.peek()
            if nxt.kind == "COLON":
                self.take()
                return self.field_value(self.field_name(tok))
            if nxt.kind == "CMP":
                self.take()
                return self.comparison(self.field_name(tok), nxt)
            return self.word_match("message", tok)
        raise self.fail(tok, "a search term, field:value, NOT or '('")

    def field_name(self, tok: Token) -> str:
        name = unescape_word(tok.text)
        if has_wildcard(tok.text):
            raise QueryError("field names cannot contain wildcards", tok.pos, "a field name", self.q)
        return canonical_field(name)

    def word_match(self, field: str, tok: Token) -> Match:
        if has_wildcard(tok.text):
            if tok.text == "*":
                return Match(field, "exists")
            return Match(field, "glob", tok.text)
        return Match(field, "term", unescape_word(tok.text))

    def regex_match(self, field: str, tok: Token) -> Match:
        from pipeline.query.regex import parse_regex

        try:
            parse_regex(tok.text)
        except QueryError as exc:
            # Re-anchor the regex-relative position onto the whole query (+1 for the '/').
            raise QueryError(exc.message, tok.pos + 1 + exc.position, exc.expected, self.q) from None
        return Match(field, "regex", tok.text, ci="i" in tok.flags)

    def field_value(self, field: str) -> Node:
        tok = self.take()
        if tok.kind == "WORD":
            return self.word_match(field, tok)
        if tok.kind == "STRING":
            return Match(field, "phrase", tok.text)
        if tok.kind == "REGEX":
            return self.regex_match(field, tok)
        raise self.fail(tok, f"a value after '{field}:' (word, \"phrase\", /regex/ or *)")

    def comparison(self, field: str, op_tok: Token) -> Node:
        op = op_tok.text
        tok = self.take()
        if op in ("=", "!="):
            if tok.kind == "WORD":
                node: Node = self.word_match(field, tok)
            elif tok.kind == "STRING":
                node = Match(field, "phrase", tok.text)
            elif tok.kind == "REGEX":
                node = self.regex_match(field, tok)
            else:
                raise self.fail(tok, f"a value after '{op}'")
            return Not(node) if op == "!=" else node
        if tok.kind not in ("WORD", "STRING"):
            raise self.fail(tok, f"a number after '{op}'")
        text = unescape_word(tok.text) if tok.kind == "WORD" else tok.text
        if _NUMBER.fullmatch(text):
            return Compare(field, op, float(text))
        if field == "level":
            n = severity_threshold(text)
            if n:
                return Compare(field, op, float(n))
            raise QueryError(f"{text!r} is not a number or a severity name", tok.pos,
                             "a number or trace/debug/info/warn/error/fatal", self.q)
        raise QueryError(f"{text!r} is not a number", tok.pos, f"a number after '{op}'", self.q)
