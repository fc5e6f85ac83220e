"""Query syntax tree: small immutable nodes, hashable so optimizers and caches can use them."""

from __future__ import annotations

from dataclasses import dataclass

# Match kinds: 'term' (unquoted word), 'phrase' (quoted string), 'glob' (word with `*`,
# stored with `\` escapes so a literal star is `\*`), 'regex' (dialect source), 'exists'.
# Compare ops: > >= < <=.


@dataclass(frozen=True, slots=True)
class Match:
    """`field:value`; `ci` marks a case-insensitive regex (`/…/i`)."""

    field: str
    kind: str
    value: str = ""
    ci: bool = False

    def __str__(self) -> str:
        if self.kind == "exists":
            return f"{self.field}:*"
        if self.kind == "regex":
            # The source keeps its `\/` escapes (an unescaped `/` would have ended it).
            v = "/" + self.value + "/" + ("i" if self.ci else "")
        elif self.kind == "phrase":
            v = '"' + self.value.replace("\\", "\\\\").replace('"', '\\"') + '"'
        else:
            v = self.value
        return f"{self.field}:{v}"


@dataclass(frozen=True, slots=True)
class Compare:
    """`field OP number` (numeric comparison; a value that is not a number never matches)."""

    field: str
    op: str
    number: float

    def __str__(self) -> str:
        n = int(self.number) if self.number.is_integer() else self.number
        return f"{self.field} {self.op} {n}"


@dataclass(frozen=True, slots=True)
class AnyOf:
    """Several matches on one field, any of which is enough: the optimizer's merged leaf,
    which becomes one multi-pattern scan in the stream and one multi* call in SQL."""

    field: str
    members: tuple[Match, ...]

    def __str__(self) -> str:
        return "(" + " OR ".join(str(m) for m in self.members) + ")"


@dataclass(frozen=True, slots=True)
class Not:
    item: Node

    def __str__(self) -> str:
        return f"NOT {self.item}"


@dataclass(frozen=True, slots=True)
class And:
    items: tuple[Node, ...]

    def __str__(self) -> str:
        return "(" + " AND ".join(str(i) for i in self.items) + ")"


@dataclass(frozen=True, slots=True)
class Or:
    items: tuple[Node, ...]

    def __str__(self) -> str:
        return "(" + " OR ".join(str(i) for i in self.items) + ")"


@dataclass(frozen=True, slots=True)
class Const:
    value: bool

    def __str__(self) -> str:
        return "TRUE" if self.value else "FALSE"


Node = Match | Compare | AnyOf | Not | And | Or | Const


def dump(node: Node, indent: int = 0) -> str:
    """An indented tree, one node per line (what `telecorr query check` prints)."""
    pad = "  " * indent
    if isinstance(node, (And, Or)):
        head = "AND" if isinstance(node, And) else "OR"
        return "\n".join([pad + head] + [dump(i, indent + 1) for i in node.items])
    if isinstance(node, Not):
        return pad + "NOT\n" + dump(node.item, indent + 1)
    if isinstance(node, AnyOf):
        return "\n".join([pad + f"ANY {node.field}"] + [pad + "  " + str(m) for m in node.members])
    return pad + str(node)
