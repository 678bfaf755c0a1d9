"""Paper layouts a suite declares in its spec: which records make a table, what labels its rows, what its
columns are, and the short names (with one legend) of long labels such as threat models.

A layout is a pivot of records: one table per value of ``split`` (e.g. per norm), ``metrics`` stacked (a
``metric`` row label appears when there are several), rows labelled by ``rows`` (record fields or ``extra``
keys), one column per value of ``columns`` (an OOD set, an ε, a number of steps). ``leads`` put records
without the column key (clean accuracy, the real-data floor) in first columns of the rows they match.
``figure`` draws each row as a line against numeric column values. Torch-free: reports read it.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass


@dataclass(frozen=True)
class Name:
    """A short name for a label value (``pattern`` may hold ``*``, which ``{}`` in ``short`` repeats), the group
    it belongs to (rows are ordered by group, then name) and what it means, for the legend."""

    pattern: str
    short: str
    meaning: str
    group: str = ""

    def match(self, value: str) -> tuple[str, str] | None:
        """(short name, meaning) of ``value`` if this rule covers it."""
        if not fnmatch.fnmatchcase(value, self.pattern):
            return None
        star = value[self.pattern.index("*"):len(value) - (len(self.pattern) - self.pattern.index("*") - 1)] \
            if "*" in self.pattern else ""
        return self.short.replace("{}", star), self.meaning.replace("{}", star)


@dataclass(frozen=True)
class Lead:
    """Records shown as a leading column ``label`` of every row that agrees with them on ``match`` (record
    fields, extra keys, or ``metric``): those of ``metric`` (any, if empty) whose eval set matches ``eval_set``
    (a pattern; any, if empty). E.g. clean accuracy before the ε columns, real data before the step columns."""

    label: str
    match: tuple[str, ...]
    metric: str = ""
    eval_set: str = ""

    def selects(self, metric: str, eval_set: str) -> bool:
        return (not self.metric or metric == self.metric) and (
            not self.eval_set or fnmatch.fnmatchcase(eval_set, self.eval_set))


@dataclass(frozen=True)
class Layout:
    """One paper table (or one per value of ``split``); see the module docstring."""

    title: str
    metrics: tuple[str, ...]
    rows: tuple[str, ...]
    columns: str
    split: tuple[str, ...] = ()
    leads: tuple[Lead, ...] = ()
    column_label: str = ""  # an extra key holding the column's display text (e.g. epsilon_label)
    last: tuple[str, ...] = ()  # column values placed last (e.g. the average over sets)
    names: tuple[tuple[str, tuple[Name, ...]], ...] = ()  # key -> its short-name rules
    figure: str = ""  # y-axis label: draw each row against the (numeric) columns
    best: str = "column"  # bold the best value of each column; "" where rows are not rivals (threat models)
    column_format: str = "{}"  # column header around the value, e.g. "ε={}" or "{} steps"
    # how a model's rows reduce to its one headline number (summary, leaderboard), in order: the model's own
    # choices take their best (an OOD score, a defense), the adversary's their worst (threat models)
    reduce: tuple[tuple[str, str], ...] = ()
    note: str = ""

    def rules(self, key: str) -> tuple[Name, ...]:
        return next((rules for k, rules in self.names if k == key), ())

    def short(self, key: str, value: str) -> tuple[str, str, str, int] | None:
        """(short name, meaning, group, rule order) of a label value, None when no rule covers it."""
        for order, rule in enumerate(self.rules(key)):
            found = rule.match(value)
            if found:
                return found[0], found[1], rule.group, order
        return None
