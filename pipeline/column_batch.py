"""Columnar batches: records of one model class held as one list per field.

The ingest hot path decodes straight into these lists, re-keys by slicing them and builds the
store's insert columns from them, so no Python object exists per record there (issue 19).
A batch still reads as a sequence of records (indexing, iteration, equality with a list),
built on demand, so the API, the tests, the simulator and the offline path keep working with
the model classes; those conversions are off the hot path.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Iterator
from functools import lru_cache
from operator import attrgetter, itemgetter
from typing import Any


@lru_cache(maxsize=None)
def field_names(cls: type) -> tuple[str, ...]:
    """The model class's fields in declaration order (its positional constructor's order)."""
    return tuple(f.name for f in dataclasses.fields(cls))


class ColumnBatch:
    """Records of `cls` as `cols`: field name → list, every list the same length, in the
    order `field_names(cls)` gives (so a row unpacks straight into `cls(*row)`)."""

    __slots__ = ("cls", "cols")

    def __init__(self, cls: type, cols: dict[str, list] | None = None) -> None:
        self.cls = cls
        self.cols: dict[str, list] = cols if cols is not None else {n: [] for n in field_names(cls)}

    @classmethod
    def of(cls, model: type, records: Iterable[Any]) -> ColumnBatch:
        """A batch holding `records` (instances of `model`)."""
        batch = cls(model)
        batch.extend(records)
        return batch

    def __len__(self) -> int:
        for col in self.cols.values():
            return len(col)
        return 0

    def column(self, name: str) -> list:
        return self.cols[name]

    def extend(self, other: Iterable[Any]) -> None:
        """Append another batch's columns, or records one field at a time."""
        if isinstance(other, ColumnBatch):
            for name, col in self.cols.items():
                col.extend(other.cols[name])
            return
        records = other if isinstance(other, list) else list(other)
        if records:  # one C call per record reads every field; zip transposes them to columns
            for col, values in zip(self.cols.values(), zip(*map(attrgetter(*self.cols), records))):
                col.extend(values)

    def __iadd__(self, other: Iterable[Any]) -> ColumnBatch:
        self.extend(other)
        return self

    def row(self, i: int) -> Any:
        """Record i as a model instance."""
        return self.cls(*[col[i] for col in self.cols.values()])

    def take(self, indexes: list[int]) -> ColumnBatch:
        """A new batch of the rows at `indexes`, in that order."""
        if len(indexes) < 2:  # itemgetter of one index gives the item, not a tuple
            return ColumnBatch(self.cls, {n: [col[i] for i in indexes] for n, col in self.cols.items()})
        get = itemgetter(*indexes)
        return ColumnBatch(self.cls, {n: list(get(col)) for n, col in self.cols.items()})

    def __getitem__(self, key: int | slice) -> Any:
        if isinstance(key, slice):
            return ColumnBatch(self.cls, {n: col[key] for n, col in self.cols.items()})
        return self.row(key)

    def __setitem__(self, i: int, record: Any) -> None:
        for name, col in self.cols.items():
            col[i] = getattr(record, name)

    def __delitem__(self, key: int | slice) -> None:
        for col in self.cols.values():
            del col[key]

    def __iter__(self) -> Iterator[Any]:
        make = self.cls
        for values in zip(*self.cols.values()):
            yield make(*values)

    def records(self) -> list:
        return list(self)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, ColumnBatch):
            return self.cls is other.cls and self.cols == other.cols
        if isinstance(other, list):
            return self.records() == other
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"ColumnBatch({self.cls.__name__}, {len(self)} rows)"
