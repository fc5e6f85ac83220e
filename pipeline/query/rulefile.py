"""Rule files: YAML lists of `{id, query, severity?, signal?}`, validated and compiled."""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import yaml

from pipeline.query.errors import QueryError

SIGNALS = ("error", "resource", "dependency", "network", "security", "lifecycle", "data", "")
SEVERITIES = ("", "info", "warning", "error", "critical")
_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}")


@dataclass(frozen=True, slots=True)
class Rule:
    """A named query. `signal` says what a match means for root cause (see SIGNALS)."""

    id: str
    query: str
    severity: str = ""
    signal: str = ""


class RuleFileError(QueryError):
    """A rule file that is malformed; the message names the file and the rule."""


def rules_from_data(data: object, source: str = "<rules>") -> list[Rule]:
    """Validate parsed YAML/JSON data (a list of mappings) into rules; queries are parsed, and
    each regex must be one Hyperscan or RE2 accepts (query/engines.py)."""
    from pipeline.query.engines import refused_by_both
    from pipeline.query.parser import parse

    if not isinstance(data, list):
        raise RuleFileError(f"{source}: a rule file is a list of rules", 0, "- id: …")
    rules: list[Rule] = []
    seen: set[str] = set()
    for n, item in enumerate(data, 1):
        where = f"{source}: rule #{n}"
        if not isinstance(item, dict):
            raise RuleFileError(f"{where}: each rule is a mapping", 0, "id and query keys")
        unknown = set(item) - {"id", "query", "severity", "signal", "description"}
        if unknown:
            raise RuleFileError(f"{where}: unknown keys {sorted(unknown)}", 0,
                                "id, query, severity, signal, description")
        rid, query = item.get("id"), item.get("query")
        if not isinstance(rid, str) or not _ID.fullmatch(rid):
            raise RuleFileError(f"{where}: id must match {_ID.pattern}", 0, "a short id")
        if rid in seen:
            raise RuleFileError(f"{where}: duplicate id {rid!r}", 0, "unique ids")
        seen.add(rid)
        if not isinstance(query, str):
            raise RuleFileError(f"{where} ({rid}): query must be a string", 0, "query: '…'")
        severity = str(item.get("severity", "") or "")
        signal = str(item.get("signal", "") or "")
        if severity not in SEVERITIES:
            raise RuleFileError(f"{where} ({rid}): severity {severity!r}", 0, ", ".join(SEVERITIES[1:]))
        if signal not in SIGNALS:
            raise RuleFileError(f"{where} ({rid}): signal {signal!r}", 0, ", ".join(SIGNALS[:-1]))
        try:
            tree = parse(query)
        except QueryError as exc:
            raise RuleFileError(f"{where} ({rid}): {exc.message}", exc.position, exc.expected,
                                query) from None
        for source, hs_says, re2_says in refused_by_both(tree):
            raise RuleFileError(f"{where} ({rid}): the regex /{source}/ is refused by both regex engines "
                                f"(Hyperscan: {hs_says}; RE2: {re2_says})", max(query.find(source), 0),
                                "a regex one of them accepts, e.g. with smaller repetition counts", query)
        rules.append(Rule(rid, query, severity, signal))
    return rules


def load_rules(path: str | Path) -> list[Rule]:
    """Read and validate a YAML rule file."""
    p = Path(path)
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise RuleFileError(f"{p}: {exc}", 0, "a readable YAML list of rules") from None
    return rules_from_data(data or [], str(p))


def default_rules() -> list[Rule]:
    """The rule pack shipped with telecorr (pipeline/query/rules/default.yaml)."""
    text = resources.files("pipeline.query").joinpath("rules/default.yaml").read_text(encoding="utf-8")
    return rules_from_data(yaml.safe_load(text), "default.yaml")


def rules_from_setting(path: str | Path | None) -> list[Rule]:
    """The rules a worker uses: the configured rule file, or the default pack when unset."""
    return load_rules(path) if path else default_rules()
