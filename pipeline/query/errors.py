"""The one exception the query language raises for anything wrong with a query."""

from __future__ import annotations


class QueryError(ValueError):
    """A query (or rule) that cannot be lexed, parsed or compiled.

    `position` is the 0-based character offset in the query text where the problem is, so
    tools can point at it; `expected` says what would have been valid there.
    """

    def __init__(self, message: str, position: int = 0, expected: str = "", query: str = ""):
        self.message = message
        self.position = position
        self.expected = expected
        self.query = query
        text = f"{message} at position {position}"
        if expected:
            text += f" (expected {expected})"
        super().__init__(text)

    def caret(self) -> str:
        """The query with a caret under the error position, for terminals."""
        return f"{self.query}\n{' ' * self.position}^\n{self}"
