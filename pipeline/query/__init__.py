"""The query language: lexer, parser, optimizer, and compilers to a Hyperscan stream
matcher and to parameterised ClickHouse SQL. Grammar: schemas/query.ebnf."""

from pipeline.query.ast import dump
from pipeline.query.errors import QueryError
from pipeline.query.matcher import RuleMatcher, compile_rules, rules_hash
from pipeline.query.optimize import optimize
from pipeline.query.parser import parse
from pipeline.query.rulefile import (Rule, RuleFileError, default_rules, load_rules, rules_from_data,
                                      rules_from_setting)
from pipeline.query.sql import to_sql


def tag_logs(logs: list, rules: list[Rule]) -> None:
    """Fill each record's `rules` (and named captures) using the cached matcher for `rules`."""
    compile_rules(rules).tag(logs)


__all__ = ["QueryError", "Rule", "RuleFileError", "RuleMatcher", "compile_rules", "default_rules",
           "dump", "load_rules", "optimize", "parse", "rules_from_data", "rules_from_setting",
           "rules_hash", "tag_logs", "to_sql"]
