"""Shared, immutable attribute sets with their encodings cached on first use.

A simulated system has few distinct attribute sets (one per operation and outcome, one per
resource), so the generator interns them and every encoder converts each set once, not once
per span. That is most of what makes file output fast.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

AttrValue = str | int | float | bool


class Attrs:
    """An ordered tuple of (key, value) pairs plus per-encoder cached forms."""

    __slots__ = ("items", "json", "proto", "flat")

    def __init__(self, items: tuple[tuple[str, AttrValue], ...]) -> None:
        self.items = items
        self.json: bytes | None = None  # OTLP/JSON `[{"key":…,"value":{…}}]` fragment
        self.proto: list[Any] | None = None  # opentelemetry KeyValue messages
        self.flat: dict[str, str] | None = None  # flat-event form: every value a string

    def get(self, key: str) -> AttrValue | None:
        for k, v in self.items:
            if k == key:
                return v
        return None


EMPTY = Attrs(())


class Shape:
    """What spans of one kind of work share: name, kind and attributes (plus cached encodings)."""

    __slots__ = ("name", "kind", "attrs", "json")

    def __init__(self, name: str, kind: int, attrs: Attrs) -> None:
        self.name, self.kind, self.attrs = name, kind, attrs
        self.json: tuple[str, str] | None = None  # OTLP/JSON fragments around the span's times


class AttrsCache:
    """Interns attribute sets by a caller-chosen key so equal sets are one object."""

    __slots__ = ("_by_key",)

    def __init__(self) -> None:
        self._by_key: dict[object, Attrs] = {}

    def get(self, key: object, build: Callable[[], Iterable[tuple[str, AttrValue]]]) -> Attrs:
        """The interned set for key, built by build() the first time."""
        a = self._by_key.get(key)
        if a is None:
            a = self._by_key[key] = Attrs(tuple(build()))
        return a
