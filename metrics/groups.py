"""The hour groups and distribution samples of a range, column by column, folded into the facts of any window.

A :class:`~alignwatch.metrics.engine.Reader` of 28 days holds ~80,000 hour groups and as many
samples at the ecommerce rate; as Python objects (one :class:`Aggregate` with its dict of
sums per group) they cost hundreds of bytes each, and folding a window group by group
(:meth:`Facts._add`) is most of a nightly run's time. Here they are numpy columns sorted by
event type, hour and identifiers, and a window's :class:`Facts` is folded from the rows of
its hours with one ``bincount`` per measure.

**The same values, bit for bit.** :meth:`Facts.build` adds the groups of a window one after
the other in the order of :func:`alignwatch.metrics.aggregates.order` (hour by hour, and
within an hour by identifier), each sum starting from 0.0. ``numpy.bincount`` with weights
is that very loop (``total[key[i]] += weight[i]`` for i in row order, from 0.0), so each
sum is taken in the same order; it is never a pairwise or vectorised reduction, which
would change the last bits of a large sum (a revenue of ~10⁸). A measure a group does not
carry is 0.0 here, and adding 0.0 changes no sum. The dictionaries of the facts get their
keys in the order in which they first occur in the window, as :meth:`Facts._add` inserts
them (some questions of the formulas sum over them in that order), and a :class:`Sums`
holds the measures some group of its key carries. Sets and samples do not depend on an
order (a percentile sorts its samples). ``tests/metrics/test_metrics_groups.py`` holds
the fold to :meth:`Facts.build`, exactly and not rounded.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import sqlalchemy as sa

from alignwatch.metrics.aggregates import (
    DISTRIBUTIONS,
    MEASURES,
    ORDER_PRODUCTS,
    Aggregate,
    Reconfiguration,
    Sample,
    hour_index,
    hour_of,
    samples_query,
)
from alignwatch.metrics.facts import Facts, Sums

__all__ = ["GroupRow", "HourGroups", "HourSamples", "as_row", "fold_facts", "project"]

#: one group as read: type, hour, automation, process, touchpoint, actor, dataset, k1, k2, sums
GroupRow = tuple[str, int, str | None, str | None, str | None, str | None, str | None, str | None, str | None,
                 dict[str, float]]

_IDS = ("automation_id", "process_id", "touchpoint_id", "actor", "dataset", "k1", "k2")
A, P, TP, ACTOR, DATASET, K1, K2 = range(len(_IDS))
Ints = npt.NDArray[np.int64]
Floats = npt.NDArray[np.float64]


def as_row(item: Aggregate) -> GroupRow:
    """An :class:`Aggregate` as a :data:`GroupRow`."""
    return (item.type, item.hour, item.automation_id, item.process_id, item.touchpoint_id, item.actor, item.dataset,
            item.k1, item.k2, item.sums)


def _true(value: str | None) -> bool:
    return value == "true"


#: the types whose sums go into one dict of :class:`Sums` of the facts: (attribute, key of a row's identifiers)
_SUMS: dict[str, tuple[str, Callable[[Sequence[str | None]], Hashable]]] = {
    "automation.run": ("runs", lambda ids: (ids[A], ids[P])),
    "process.execution": ("executions", lambda ids: (ids[P], _true(ids[K1]))),
    "customer.touchpoint": ("touches", lambda ids: (ids[TP], ids[K1], ids[K2])),
    "customer.feedback": ("feedback", lambda ids: ids[TP]),
    "customer.order": ("orders", lambda ids: _true(ids[K1])),
    "finance.entry": ("finance", lambda ids: (ids[A], ids[K1])),
    "kpi.observed": ("observed", lambda ids: ids[K1]),
    "integration.issue": ("issues", lambda ids: ids[A]),
}
#: the workforce sums of each workforce type: Facts.workforce name <- measure
_WORKFORCE = {
    "workforce.task": (("task_n", "n"), ("minutes", "minutes")),
    "workforce.skill": (("skill_n", "n"),),
    "workforce.survey": (("survey_n", "n"), ("satisfaction", "satisfaction")),
}


def _codes(column: Sequence[str | None]) -> tuple[Ints, list[str | None]]:
    """Each value's rank among the column's distinct values ordered as ``order`` orders them (``str``)."""
    distinct = sorted(set(column), key=lambda v: (str(v), v is not None))
    rank = {value: index for index, value in enumerate(distinct)}
    return np.fromiter(map(rank.__getitem__, column), dtype=np.int64, count=len(column)), distinct


def _first_seen(keys: Ints) -> Ints:
    """The distinct ``keys`` in the order in which they first occur."""
    distinct, first = np.unique(keys, return_index=True)
    return distinct[np.argsort(first, kind="stable")]


def _sequential_sums(keys: Ints, weights: Floats, size: int) -> Floats:
    """Σ weights per key, each sum taken row after row from 0.0 (``bincount``'s loop, never pairwise)."""
    return np.asarray(np.bincount(keys, weights=weights, minlength=size), dtype=np.float64)


@dataclass
class _Block:
    """The rows of one event type, in ``order``: hours ascending, identifiers within an hour."""

    hours: Ints
    ids: list[Ints]  # one code column per identifier (index into HourGroups.values)
    names: tuple[str, ...]  # the measures some row of the type carries
    sums: Floats  # rows × names, 0.0 where a row does not carry the measure
    keys: list[Hashable]  # the facts key of each code in ``key``
    key: Ints  # the facts key of each row (for the types of _SUMS)

    def rows(self, first: int, last: int) -> slice:
        """The rows of the hours ``[first, last)``."""
        return slice(int(np.searchsorted(self.hours, first)), int(np.searchsorted(self.hours, last)))

    def column(self, name: str) -> Floats:
        return self.sums[:, self.names.index(name)] if name in self.names else np.zeros(len(self.hours))


class HourGroups:
    """The hour groups of a range as columns; :meth:`fold` adds those of some hours to a :class:`Facts`."""

    def __init__(self, rows: Sequence[GroupRow]) -> None:
        count = len(rows)
        columns = list(zip(*rows, strict=True)) if rows else [()] * 10
        type_codes, types = _codes(columns[0])
        hours = np.fromiter(columns[1], dtype=np.int64, count=count)
        codes = []
        #: the distinct values of each identifier column, indexed by code
        self.values: list[list[str | None]] = []
        for position in range(len(_IDS)):
            column_codes, distinct = _codes(columns[2 + position])
            codes.append(column_codes)
            self.values.append(distinct)
        # lexsort: the last key is the primary one
        sequence = np.lexsort((*reversed(codes), hours, type_codes))
        type_codes, hours = type_codes[sequence], hours[sequence]
        codes = [column[sequence] for column in codes]
        measures: list[dict[str, float]] = [columns[9][i] for i in sequence.tolist()]
        self.blocks: dict[str, _Block] = {}
        bounds = np.flatnonzero(np.diff(type_codes)) + 1
        for lo, hi in zip([0, *bounds.tolist()], [*bounds.tolist(), count], strict=True):
            if lo == hi:
                continue
            type_ = types[int(type_codes[lo])]
            assert type_ is not None
            part = measures[lo:hi]
            carried = set().union(*part)
            names = tuple(name for name in MEASURES if name in carried)
            table = np.array([[sums.get(name, 0.0) for name in names] for sums in part], dtype=np.float64)
            ids = [column[lo:hi] for column in codes]
            keys: list[Hashable] = []
            key = np.zeros(hi - lo, dtype=np.int64)
            if type_ in _SUMS:
                make = _SUMS[type_][1]
                index: dict[Hashable, int] = {}
                decoded = list(zip(*(
                    [self.values[position][code] for code in ids[position].tolist()] for position in range(len(_IDS))
                ), strict=True))
                key = np.fromiter((index.setdefault(make(row), len(index)) for row in decoded), dtype=np.int64,
                                  count=hi - lo)
                keys = list(index)
            self.blocks[type_] = _Block(hours[lo:hi], ids, names, table.reshape(hi - lo, len(names)), keys, key)

        self._index = [{value: code for code, value in enumerate(values)} for values in self.values]
        #: the code of None in each identifier column (-1: no row has None)
        self._none = [index.get(None, -1) for index in self._index]

    @classmethod
    def of(cls, aggregates: Iterable[Aggregate]) -> HourGroups:
        """The groups of ``aggregates``."""
        return cls([as_row(item) for item in aggregates])

    def fold(self, facts: Facts, first: int, last: int) -> None:
        """Add the groups of the hours ``[first, last)`` to ``facts`` (new: nothing folded yet), as :meth:`Facts._add`."""
        for type_, block in self.blocks.items():
            rows = block.rows(first, last)
            if rows.start == rows.stop:
                continue
            ids = [column[rows] for column in block.ids]
            given = [codes != self._none[position] for position, codes in enumerate(ids)]
            if type_ in _SUMS:
                self._fold_sums(getattr(facts, _SUMS[type_][0]), block, rows)
            elif type_ == ORDER_PRODUCTS:
                self._fold_sets(facts.buyers, K2, ids[K2], ACTOR, ids[ACTOR], given[ACTOR] & given[K2])
            elif type_ == "feature.usage":
                self._fold_sets(facts.features, A, ids[A], K1, ids[K1], given[K1])
                self._fold_sets(facts.users, A, ids[A], ACTOR, ids[ACTOR], given[ACTOR])
                automations = ids[A]
                totals = _sequential_sums(automations, block.column("n")[rows], len(self.values[A]))
                for code in _first_seen(automations).tolist():
                    facts.usage_events[self.values[A][code]] += float(totals[code])
            elif type_ == "data.produced":
                facts.produced |= self._members(DATASET, ids[DATASET], given[DATASET] & given[A])
            elif type_ == "data.used":
                decision = ids[K1] == self._code(K1, "decision")
                strategic = ids[K2] == self._code(K2, "true")
                facts.used_for_decision |= self._members(DATASET, ids[DATASET], given[DATASET] & decision)
                facts.strategic_uses |= self._members(DATASET, ids[DATASET], given[DATASET] & strategic)
            elif type_ in _WORKFORCE:
                facts.active |= self._members(ACTOR, ids[ACTOR], given[ACTOR])
                every = np.zeros(rows.stop - rows.start, dtype=np.int64)
                for target, measure in _WORKFORCE[type_]:
                    facts.workforce[target] += float(_sequential_sums(every, block.column(measure)[rows], 1)[0])
                if type_ == "workforce.task":
                    augmented = given[ACTOR] & (ids[K1] == self._code(K1, "true"))
                    facts.augmented |= self._members(ACTOR, ids[ACTOR], augmented)
                    self._fold_sets(facts.users, A, ids[A], ACTOR, ids[ACTOR], given[A] & given[ACTOR])
                elif type_ == "workforce.skill":
                    facts.skilled |= self._members(ACTOR, ids[ACTOR], given[ACTOR])

    def _fold_sums(self, target: dict[Hashable, Sums], block: _Block, rows: slice) -> None:
        """One :class:`Sums` per key: each measure summed in row order, kept where a row of the key carries it."""
        key = block.key[rows]
        size = len(block.keys)
        totals = []
        for index in range(len(block.names)):
            column = block.sums[rows, index]
            totals.append((_sequential_sums(key, column, size), np.bincount(key, weights=column != 0, minlength=size)))
        for code in _first_seen(key).tolist():
            sums = target[block.keys[code]]
            for name, (total, carried) in zip(block.names, totals, strict=True):
                if carried[code]:
                    sums[name] = sums[name] + float(total[code])

    def _code(self, position: int, value: str) -> int:
        """The code of ``value`` in an identifier column (-1: no row has it)."""
        return self._index[position].get(value, -1)

    def _members(self, position: int, codes: Ints, mask: npt.NDArray[np.bool_]) -> set[str]:
        values = self.values[position]
        return {value for value in (values[code] for code in np.unique(codes[mask]).tolist()) if value is not None}

    def _fold_sets(
        self, target: dict[Any, set[str]], key_position: int, keys: Ints, member_position: int, members: Ints,
        mask: npt.NDArray[np.bool_],
    ) -> None:
        """``target[key].add(member)`` for the rows of ``mask``, the keys inserted in the order they first occur."""
        if not mask.any():
            return
        keys, members = keys[mask], members[mask]
        key_values, member_values = self.values[key_position], self.values[member_position]
        for code in _first_seen(keys).tolist():
            target.setdefault(key_values[code], set())
        width = len(member_values)
        pairs = np.unique(keys * width + members)
        for key_code, member_code in zip((pairs // width).tolist(), (pairs % width).tolist(), strict=True):
            target[key_values[key_code]].add(member_values[member_code])


class HourSamples:
    """The distribution samples of a range as columns; :meth:`fold` adds those of some hours to a :class:`Facts`."""

    def __init__(self, samples: Iterable[tuple[str, int, str | None, str | None, float, int]]) -> None:
        """``samples``: (distribution, hour, automation, process, value, events with it) in any order."""
        rows = list(samples)
        columns = list(zip(*rows, strict=True)) if rows else [()] * 6
        self._take(columns[0], np.fromiter(columns[1], dtype=np.int64, count=len(rows)), columns[2], columns[3],
                   columns[4], columns[5])

    def _take(self, distributions: Sequence[str], hours: Ints, automations: Sequence[str | None],
              processes: Sequence[str | None], values: Sequence[float], counts: Sequence[int]) -> None:
        sequence = np.argsort(hours, kind="stable")
        self.hours = hours[sequence]
        self.values = np.asarray(values, dtype=np.float64).reshape(len(hours))[sequence]
        self.counts = np.asarray(counts, dtype=np.int64).reshape(len(hours))[sequence]
        index: dict[tuple[str, str | None, str | None], int] = {}
        key = np.fromiter((index.setdefault(group, len(index)) for group in zip(
            distributions, automations, processes, strict=True)), dtype=np.int64, count=len(hours))
        self.key = key[sequence]
        self.keys = list(index)

    @classmethod
    def of(cls, samples: Iterable[Sample]) -> HourSamples:
        return cls((s.distribution, s.hour, s.automation_id, s.process_id, s.value, s.count) for s in samples)

    @classmethod
    def read(cls, conn: sa.Connection, lo: dt.datetime, hi: dt.datetime, distributions: Iterable[str]) -> HourSamples:
        """The samples :func:`~alignwatch.metrics.aggregates.fetch_samples` reads, straight into columns."""
        wanted = sorted(set(distributions))
        if not wanted:
            return cls(())
        by_type = {DISTRIBUTIONS[name][0]: name for name in wanted}
        rows = conn.execute(samples_query(conn.dialect.name, lo, hi, wanted)).all()
        if not rows:
            return cls(())
        types, hours, automations, processes, values, counts = zip(*rows, strict=True)
        out = cls.__new__(cls)
        out._take([by_type[type_] for type_ in types], np.fromiter(map(hour_of, hours), dtype=np.int64, count=len(rows)),
                  automations, processes, values, counts)
        return out

    def fold(self, facts: Facts, first: int, last: int) -> None:
        """Add the samples of the hours ``[first, last)`` to ``facts.samples``."""
        lo, hi = int(np.searchsorted(self.hours, first)), int(np.searchsorted(self.hours, last))
        if lo == hi:
            return
        key = self.key[lo:hi]
        sequence = np.argsort(key, kind="stable")
        ordered = key[sequence]
        values, counts = self.values[lo:hi][sequence].tolist(), self.counts[lo:hi][sequence].tolist()
        bounds = [0, *(np.flatnonzero(np.diff(ordered)) + 1).tolist(), len(ordered)]
        for start, stop in zip(bounds, bounds[1:], strict=False):
            facts.samples[self.keys[int(ordered[start])]] += zip(values[start:stop], counts[start:stop], strict=True)


def fold_facts(
    start: dt.datetime, end: dt.datetime, groups: HourGroups, samples: HourSamples,
    reconfigurations: Iterable[Reconfiguration],
) -> Facts:
    """The facts of ``[start, end)`` (whole hours, or up to the end of the range read), as :meth:`Facts.build` folds them."""
    first, last = hour_index(start), hour_index(end - dt.timedelta(microseconds=1)) + 1
    facts = Facts(start=start, end=end)
    groups.fold(facts, first, last)
    facts.reconfigurations = [r for r in reconfigurations if start <= r.time < end]
    samples.fold(facts, first, last)
    return facts


def project(facts: Facts, types: frozenset[str]) -> Facts:
    """The facts of ``types`` only (types whose groups are folded into one dict of sums), as a read of those types folds them."""
    unknown = sorted(types - set(_SUMS))
    if unknown:
        raise ValueError(f"project: types without a dict of sums of their own: {unknown}")
    kept = {_SUMS[type_][0]: getattr(facts, _SUMS[type_][0]) for type_ in types}
    return Facts(start=facts.start, end=facts.end, reconfigurations=facts.reconfigurations, **kept)
