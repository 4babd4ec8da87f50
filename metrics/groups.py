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
import itertools
import json
from collections.abc import Callable, Hashable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from operator import itemgetter
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
    fetch_group_rows,
    fetch_rows,
    hour_index,
    hour_of,
    key_text,
    sample_values_query,
    samples_query,
)
from alignwatch.metrics.facts import Facts, Sums

__all__ = [
    "ID_DTYPE",
    "SAMPLE_DTYPE",
    "SUM_DTYPE",
    "GroupRow",
    "HourColumns",
    "HourGroups",
    "HourSamples",
    "SampleRow",
    "as_row",
    "by_hour",
    "fold_facts",
    "project",
    "read_hours",
    "read_samples",
]

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


def _rank(value: str | None) -> tuple[str, bool]:
    """Where an identifier sorts: as ``order`` sorts it (``str``), None before the text ``'None'``."""
    return str(value), value is not None


def _first_seen(keys: Ints) -> Ints:
    """The distinct ``keys`` in the order in which they first occur."""
    distinct, first = np.unique(keys, return_index=True)
    return distinct[np.argsort(first, kind="stable")]


def _sequential_sums(keys: Ints, weights: Floats, size: int) -> Floats:
    """Σ weights per key, each sum taken row after row from 0.0 (``bincount``'s loop, never pairwise)."""
    return np.asarray(np.bincount(keys, weights=weights, minlength=size), dtype=np.float64)


#: the dtypes of a packed hour's columns (:meth:`HourColumns.pack`): identifier codes, sums, samples
ID_DTYPE = np.dtype("<i4")
SUM_DTYPE = np.dtype("<f8")
SAMPLE_DTYPE = np.dtype([("key", "<i4"), ("value", "<f8"), ("count", "<i8")])

#: one sample as read: distribution, hour, automation, process, value, events with it
SampleRow = tuple[str, int, str | None, str | None, float, int]
SampleKey = tuple[str, str | None, str | None]


def _sample_rank(key: SampleKey) -> tuple[Any, ...]:
    return key[0], _rank(key[1]), _rank(key[2])


class HourColumns:
    """The groups and distribution samples of one hour as columns, the groups in the order of :func:`~alignwatch.metrics.aggregates.order`.

    The groups are sorted by event type, then by each identifier as ``order`` sorts it
    (``str``; None before the text ``'None'``), ties kept in the order given. ``types``: each
    event type of the hour in that order with its number of rows and the measures some row
    of the type carries (:data:`MEASURES` order); ``values``: per identifier column, the
    distinct values of the hour in sort order; ``ids``: 7 × rows codes into ``values``;
    ``measures``: the measures some row of the hour carries; ``sums``: the sums of each type
    one after the other, each as its rows × its measures (row after row), 0.0 where a row
    does not carry the measure (:meth:`segments`). ``sample_keys``: the (distribution,
    automation, process) of the hour's samples, sorted; ``samples``: records (index into
    ``sample_keys``, value, events with it), by key and value.

    The hour-aggregate cache stores one per hour (:meth:`pack`): ``layout`` the JSON text
    ``{"types": [[type, rows, [measure, ...]], ...], "values": [[value, ...] × 7],
    "samples": [[distribution, automation, process], ...]}``, ``ids`` the codes as
    little-endian int32, identifier column after identifier column (automation, process,
    touchpoint, actor, dataset, k1, k2), ``sums`` the sums as little-endian float64 (type
    after type, row after row, the type's measures), ``samples`` the sample records packed (:data:`SAMPLE_DTYPE`: int32 key,
    float64 value, int64 count, little-endian, 20 bytes each). Reading it back is one
    ``frombuffer`` per column.
    """

    __slots__ = ("hour", "ids", "measures", "sample_keys", "samples", "sums", "types", "values")

    def __init__(
        self,
        hour: int,
        types: Sequence[tuple[str, int, tuple[str, ...]]],
        values: Sequence[Sequence[str | None]],
        ids: npt.NDArray[np.int32],
        sums: Floats,
        sample_keys: Sequence[SampleKey] = (),
        samples: npt.NDArray[np.void] | None = None,
    ) -> None:
        self.hour = hour
        self.types = tuple(types)
        self.values = tuple(tuple(column) for column in values)
        carried = {name for _, _, names in self.types for name in names}
        self.measures = tuple(name for name in MEASURES if name in carried)
        size = sum(rows for _, rows, _ in self.types)
        self.ids = ids.reshape(len(_IDS), size)
        self.sums = sums.reshape(sum(rows * len(names) for _, rows, names in self.types))
        self.sample_keys = tuple(sample_keys)
        self.samples = np.zeros(0, dtype=SAMPLE_DTYPE) if samples is None else samples

    @property
    def size(self) -> int:
        """The number of groups."""
        return int(self.ids.shape[1])

    @classmethod
    def of_rows(cls, hour: int, rows: Iterable[GroupRow], samples: Iterable[SampleRow] = ()) -> HourColumns:
        """The groups ``rows`` and the ``samples`` (all of ``hour``, in any order) as columns."""
        ordered = sorted(rows, key=lambda row: (row[0], *map(_rank, row[2:9])))
        identifiers: list[tuple[str | None, ...]] = [row[2:9] for row in ordered]
        values = [sorted({ident[position] for ident in identifiers}, key=_rank) for position in range(len(_IDS))]
        index = [{value: code for code, value in enumerate(column)} for column in values]
        ids = np.array([[index[position][ident[position]] for ident in identifiers] for position in range(len(_IDS))],
                       dtype=ID_DTYPE)
        types = []
        sums: list[float] = []
        for type_, group in itertools.groupby(ordered, key=itemgetter(0)):
            part = list(group)
            carried = set().union(*(row[9] for row in part))
            names = tuple(name for name in MEASURES if name in carried)
            types.append((type_, len(part), names))
            sums += (row[9].get(name, 0.0) for row in part for name in names)
        listed = list(samples)
        sample_keys = sorted({(row[0], row[2], row[3]) for row in listed}, key=_sample_rank)
        key_index = {key: code for code, key in enumerate(sample_keys)}
        records = np.array(sorted((key_index[(row[0], row[2], row[3])], float(row[4]), int(row[5])) for row in listed),
                           dtype=SAMPLE_DTYPE).reshape(len(listed))
        return cls(hour, types, values, ids.reshape(len(_IDS), len(ordered)), np.array(sums, dtype=SUM_DTYPE),
                   sample_keys, records)

    def pack(self) -> tuple[str, bytes, bytes, bytes]:
        """``(layout, ids, sums, samples)`` as the cache stores them (see the class)."""
        layout = json.dumps({"types": [[type_, rows, list(names)] for type_, rows, names in self.types],
                             "values": [list(column) for column in self.values],
                             "samples": [list(key) for key in self.sample_keys]}, separators=(",", ":"))
        return (layout, self.ids.astype(ID_DTYPE).tobytes(), self.sums.astype(SUM_DTYPE).tobytes(),
                self.samples.astype(SAMPLE_DTYPE).tobytes())

    @classmethod
    def unpack(cls, hour: int, layout: dict[str, Any], ids: bytes, sums: bytes, samples: bytes = b"") -> HourColumns:
        """The columns :meth:`pack` stored (``layout`` parsed)."""
        return cls(hour, [(type_, rows, tuple(names)) for type_, rows, names in layout["types"]], layout["values"],
                   np.frombuffer(ids, dtype=ID_DTYPE), np.frombuffer(sums, dtype=SUM_DTYPE),
                   [(d, a, p) for d, a, p in layout.get("samples", ())], np.frombuffer(samples, dtype=SAMPLE_DTYPE))

    def only(self, types: frozenset[str]) -> HourColumns:
        """The groups of ``types`` alone, in their order, without samples (``values`` shared)."""
        kept: list[tuple[str, int, tuple[str, ...]]] = []
        rows_at: list[Ints] = []
        sums_at: list[Floats] = []
        row = at = 0
        for type_, rows, names in self.types:
            width = rows * len(names)
            if type_ in types:
                kept.append((type_, rows, names))
                rows_at.append(np.arange(row, row + rows))
                sums_at.append(self.sums[at : at + width])
            row, at = row + rows, at + width
        ids = self.ids[:, np.concatenate(rows_at)] if rows_at else self.ids[:, :0]
        sums = np.concatenate(sums_at) if sums_at else self.sums[:0]
        return HourColumns(self.hour, kept, self.values, ids, sums)

    def segments(self) -> Iterator[tuple[str, int, tuple[str, ...], Floats]]:
        """Each type's (type, rows, measures, sums as rows × measures), in order."""
        start = 0
        for type_, rows, names in self.types:
            width = rows * len(names)
            yield type_, rows, names, self.sums[start : start + width].reshape(rows, len(names))
            start += width

    def rows(self) -> list[GroupRow]:
        """The groups as rows, in their order; a row's sums are the measures it carries (a non-zero sum)."""
        decoded = [[column[code] for code in codes] for column, codes in zip(self.values, self.ids.tolist(), strict=True)]
        sums = [
            (type_, {name: value for name, value in zip(names, row, strict=True) if value})
            for type_, _, names, part in self.segments()
            for row in part.tolist()
        ]
        return [
            (type_, self.hour, *ids, measures)
            for (type_, measures), *ids in zip(sums, *decoded, strict=True)
        ]

    def sample_rows(self) -> list[SampleRow]:
        """The samples as rows, in their order."""
        return [(distribution, self.hour, automation, process, value, count)
                for key, value, count in self.samples.tolist()
                for distribution, automation, process in (self.sample_keys[key],)]


def by_hour(rows: Iterable[GroupRow], samples: Iterable[SampleRow] = ()) -> list[HourColumns]:
    """``rows`` and ``samples`` as the columns of each of their hours, in hour order."""
    hours: dict[int, tuple[list[GroupRow], list[SampleRow]]] = {}
    for row in rows:
        hours.setdefault(row[1], ([], []))[0].append(row)
    for sample in samples:
        hours.setdefault(sample[1], ([], []))[1].append(sample)
    return [HourColumns.of_rows(hour, *hours[hour]) for hour in sorted(hours)]


def read_samples(conn: sa.Connection, lo: dt.datetime, hi: dt.datetime, distributions: Iterable[str]) -> list[SampleRow]:
    """The samples :func:`~alignwatch.metrics.aggregates.fetch_samples` reads, as rows in no particular order."""
    wanted = sorted(set(distributions))
    if not wanted:
        return []
    by_type = {DISTRIBUTIONS[name][0]: name for name in wanted}
    return [(by_type[type_], hour_of(hour), automation, process, float(value), int(count))
            for type_, hour, automation, process, value, count in fetch_rows(
                conn, samples_query(conn.dialect.name, lo, hi, wanted))]


def read_hours(
    conn: sa.Connection, lo: dt.datetime, hi: dt.datetime, *, sla_s: float, distributions: Iterable[str]
) -> list[HourColumns]:
    """The groups of ``[lo, hi)`` and the samples of ``distributions``, hour by hour, from the events.

    The very columns :func:`by_hour` makes of :func:`~alignwatch.metrics.aggregates.fetch_aggregates`
    and :func:`read_samples`, built from the fetched rows a column at a time, without an object
    or a sort key per group. The samples are counted here from the events' values
    (:func:`~alignwatch.metrics.aggregates.sample_values_query`, no grouping statement): a count
    does not depend on an order, and equal values are the same double, so they are the groups
    the database forms. Not so for a negative zero (equal to 0.0) or a NaN: a range with one
    is counted by the database (:func:`samples_query`), as :func:`read_samples` reads it.
    """
    wanted = sorted(set(distributions))
    distribution_of = {DISTRIBUTIONS[name][0]: name for name in wanted}
    groups = fetch_group_rows(conn, lo, hi, sla_s=sla_s)
    samples = _SampleColumns.of_rows([], distribution_of)
    if wanted:
        counted = _SampleColumns.count(fetch_rows(conn, sample_values_query(conn.dialect.name, lo, hi, wanted)),
                                       distribution_of)
        samples = counted or _SampleColumns.of_rows(fetch_rows(conn, samples_query(conn.dialect.name, lo, hi, wanted)),
                                                    distribution_of)
    return _fetched_hours(groups, samples)


def _factorize(
    column: Sequence[Any], convert: Callable[[Any], Any] | None = None, key: Callable[[Any], Any] | None = None
) -> tuple[list[Any], Ints]:
    """The distinct values of ``column`` (each ``convert``ed) sorted by ``key``, and each row's code into them."""
    converted = {value: value if convert is None else convert(value) for value in set(column)}
    distinct = sorted(set(converted.values()), key=key)
    position = {value: code for code, value in enumerate(distinct)}
    code_of = {value: position[target] for value, target in converted.items()}
    return distinct, np.fromiter(map(code_of.__getitem__, column), dtype=np.int64, count=len(column))


def _per_hour(hour: Ints, codes: Ints, hours: int) -> tuple[Ints, list[Ints]]:
    """Codes over a range as codes into each hour's own distinct codes: (each row's, each hour's distinct codes).

    ``hour``: the hour (its position) of each row, ascending.
    """
    width = int(codes.max()) + 1 if len(codes) else 1
    distinct, inverse = np.unique(hour * width + codes, return_inverse=True)
    starts = np.searchsorted(distinct, np.arange(hours + 1, dtype=np.int64) * width)
    local = inverse.reshape(-1) - starts[hour]
    return local, [distinct[starts[at] : starts[at + 1]] % width for at in range(hours)]


@dataclass
class _SampleColumns:
    """Samples as columns: per row an hour, a distribution, automation and process (codes), a value and its count."""

    hours: Ints
    distributions: list[str]
    distribution: Ints
    automations: list[str | None]
    automation: Ints
    processes: list[str | None]
    process: Ints
    values: Floats
    counts: Ints

    @classmethod
    def of_rows(cls, rows: Sequence[Sequence[Any]], distribution_of: dict[str, str]) -> _SampleColumns:
        """The rows of :func:`samples_query` (type, hour bucket, automation, process, value, events), in their order."""
        columns: list[Sequence[Any]] = list(zip(*rows, strict=True)) if rows else [()] * 6
        hours, hour = _factorize(columns[1], hour_of)
        distributions, distribution = _factorize(columns[0], distribution_of.__getitem__)
        automations, automation = _factorize(columns[2], key=_rank)
        processes, process = _factorize(columns[3], key=_rank)
        return cls(np.array(hours, dtype=np.int64)[hour], distributions, distribution, automations, automation,
                   processes, process, np.array([float(value) for value in columns[4]], dtype=np.float64),
                   np.array([int(count) for count in columns[5]], dtype=np.int64))

    @classmethod
    def count(cls, rows: Sequence[Sequence[Any]], distribution_of: dict[str, str]) -> _SampleColumns | None:
        """The rows of :func:`sample_values_query` (one per event) counted by value; None if a value is -0.0 or NaN."""
        columns: list[Sequence[Any]] = list(zip(*rows, strict=True)) if rows else [()] * 5
        values = np.array([float(value) for value in columns[4]], dtype=np.float64)
        if (np.isnan(values) | ((values == 0) & np.signbit(values))).any():
            return None
        hours, hour = _factorize(columns[1], hour_of)
        distributions, distribution = _factorize(columns[0], distribution_of.__getitem__)
        automations, automation = _factorize(columns[2], key=_rank)
        processes, process = _factorize(columns[3], key=_rank)
        order = np.lexsort((values, process, automation, distribution, hour))
        keys = (hour[order], distribution[order], automation[order], process[order], values[order])
        new = np.zeros(len(order), dtype=bool)
        new[:1] = True
        for column in keys:
            new[1:] |= column[1:] != column[:-1]
        first = order[new]
        counts = np.diff(np.r_[np.flatnonzero(new), len(order)]).astype(np.int64)
        return cls(np.array(hours, dtype=np.int64)[hour[first]], distributions, distribution[first], automations,
                   automation[first], processes, process[first], values[first], counts)


def _fetched_hours(groups: Sequence[Sequence[Any]], samples: _SampleColumns) -> list[HourColumns]:
    """What :func:`by_hour` makes of ``groups`` (rows of :func:`~alignwatch.metrics.aggregates.fetch_group_rows`)
    and of ``samples``."""
    columns: list[Sequence[Any]] = list(zip(*groups, strict=True)) if groups else [()] * (9 + len(MEASURES))
    group_hours, group_hour = _factorize(columns[1], hour_of)
    hours = sorted({*group_hours, *samples.hours.tolist()})
    indexes = np.array(hours, dtype=np.int64)
    grouped = _group_parts(columns, np.searchsorted(indexes, np.array(group_hours, dtype=np.int64))[group_hour], hours)
    sampled = _sample_parts(samples, np.searchsorted(indexes, samples.hours), hours)
    return [HourColumns(hour, types, values, ids, sums, sample_keys, records)
            for hour, (types, values, ids, sums), (sample_keys, records) in zip(hours, grouped, sampled, strict=True)]


GroupPart = tuple[list[tuple[str, int, tuple[str, ...]]], list[list[str | None]], npt.NDArray[np.int32], Floats]


def _group_parts(columns: list[Sequence[Any]], at: Ints, hours: list[int]) -> list[GroupPart]:
    """Each hour's (types, values, ids, sums) of :class:`HourColumns`, from the fetched ``columns``.

    ``at``: the hour of each row, as its position in ``hours``.

    Every group is sorted once (``lexsort``, stable) by hour, type and the identifiers' codes
    (codes in :func:`_rank` order), so that groups with the same identifiers keep the order in
    which they were fetched, as the two stable sorts of ``fetch_aggregates`` and ``of_rows``
    keep it. A sum is a group's measure when it is non-zero (``if value``: NULL, 0 and -0.0
    are not; NaN is).
    """
    size, count = len(at), len(hours)
    types, type_codes = _factorize(columns[0])
    identifiers = [_factorize(column, key_text if position >= K1 else None, _rank)
                   for position, column in enumerate(columns[2:9])]
    sequence = np.lexsort((np.arange(size), *(codes for _, codes in reversed(identifiers)), type_codes, at))
    hour, type_of = at[sequence], type_codes[sequence]
    local = [_per_hour(hour, codes[sequence], count) for _, codes in identifiers]
    ids = np.array([codes for codes, _ in local], dtype=ID_DTYPE).reshape(len(_IDS), size)
    # the sums: each type's rows × the measures some row of the type carries in the hour, row after row
    sums = np.array([[value or 0.0 for value in column] for column in columns[9:]], dtype=np.float64)
    sums = sums.reshape(len(MEASURES), size).T[sequence]
    starts = (np.flatnonzero(np.r_[True, (np.diff(hour) != 0) | (np.diff(type_of) != 0)]) if size
              else np.zeros(0, dtype=np.int64))
    rows = np.diff(np.r_[starts, size])
    carried = np.logical_or.reduceat(sums != 0, starts, axis=0) if size else np.zeros((0, len(MEASURES)), dtype=bool)
    kept = np.repeat(carried, rows, axis=0)
    flat = sums[kept]
    names: dict[bytes, tuple[str, ...]] = {}
    segments = []
    for type_, length, mask in zip(type_of[starts].tolist(), rows.tolist(), carried, strict=True):
        bits = mask.tobytes()
        if bits not in names:
            names[bits] = tuple(name for name, given in zip(MEASURES, mask.tolist(), strict=True) if given)
        segments.append((types[type_], length, names[bits]))
    row_start = np.searchsorted(hour, np.arange(count + 1))
    sum_start = np.r_[0, np.cumsum(kept.sum(axis=1))][row_start]
    segment_start = np.searchsorted(hour[starts], np.arange(count + 1))
    return [
        (segments[segment_start[h] : segment_start[h + 1]],
         [[values[code] for code in codes[h].tolist()]
          for (values, _), (_, codes) in zip(identifiers, local, strict=True)],
         ids[:, row_start[h] : row_start[h + 1]], flat[sum_start[h] : sum_start[h + 1]])
        for h in range(count)
    ]


def _sample_parts(
    samples: _SampleColumns, at: Ints, hours: list[int]
) -> list[tuple[list[SampleKey], npt.NDArray[np.void]]]:
    """Each hour's (sample keys, records) of :class:`HourColumns` (``at``: each sample's hour, its index in ``hours``).

    The records are sorted by key, value and count; an hour with a NaN value is left to
    :meth:`HourColumns.of_rows` (tuples with a NaN have no order, only that sort's outcome).
    """
    automations, processes = len(samples.automations), len(samples.processes)
    keys = (samples.distribution * automations + samples.automation) * processes + samples.process
    order = np.lexsort((np.arange(len(keys)), samples.counts, samples.values, keys, at))
    hour = at[order]
    codes, distinct = _per_hour(hour, keys[order], len(hours))
    records = np.zeros(len(keys), dtype=SAMPLE_DTYPE)
    records["key"], records["value"], records["count"] = codes, samples.values[order], samples.counts[order]
    starts = np.searchsorted(hour, np.arange(len(hours) + 1))
    unordered = set(at[np.isnan(samples.values)].tolist())
    out: list[tuple[list[SampleKey], npt.NDArray[np.void]]] = []
    for h, index in enumerate(hours):
        if h in unordered:
            alone = HourColumns.of_rows(index, (), [
                (samples.distributions[d], index, samples.automations[a], samples.processes[p], value, count)
                for d, a, p, value, count, where in zip(
                    samples.distribution.tolist(), samples.automation.tolist(), samples.process.tolist(),
                    samples.values.tolist(), samples.counts.tolist(), at.tolist(), strict=True)
                if where == h])
            out.append((list(alone.sample_keys), alone.samples))
            continue
        out.append(([(samples.distributions[code // (automations * processes)],
                      samples.automations[code // processes % automations], samples.processes[code % processes])
                     for code in distinct[h].tolist()], records[starts[h] : starts[h + 1]]))
    return out


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
    """The hour groups of a range as columns; :meth:`fold` adds those of some hours to a :class:`Facts`.

    Built from the :class:`HourColumns` of its hours (each already in ``order``): the hours
    are put one after the other, the identifier codes of each hour mapped to codes over the
    whole range, and the rows stably sorted by event type (type, hour, identifiers).
    ``types``: only the groups of these event types.
    """

    def __init__(self, hours: Iterable[HourColumns] = (), types: frozenset[str] | None = None) -> None:
        pieces = sorted((piece for piece in hours if piece.size), key=lambda piece: piece.hour)
        if len({piece.hour for piece in pieces}) != len(pieces):
            raise ValueError("HourGroups: two column sets of the same hour")
        sizes = np.array([piece.size for piece in pieces], dtype=np.int64)
        count = int(sizes.sum())
        names = sorted({type_ for piece in pieces for type_, _, _ in piece.types})
        type_index = {type_: code for code, type_ in enumerate(names)}
        type_codes = np.repeat(
            np.array([type_index[type_] for piece in pieces for type_, _, _ in piece.types], dtype=np.int64),
            np.array([rows for piece in pieces for _, rows, _ in piece.types], dtype=np.int64),
        )
        hours_column = np.repeat(np.array([piece.hour for piece in pieces], dtype=np.int64), sizes)
        local = (np.concatenate([piece.ids for piece in pieces], axis=1) if pieces
                 else np.zeros((len(_IDS), 0), dtype=ID_DTYPE))
        codes: list[Ints] = []
        #: the distinct values of each identifier column, indexed by code
        self.values: list[list[str | None]] = []
        for position in range(len(_IDS)):
            concatenated = [value for piece in pieces for value in piece.values[position]]
            distinct = sorted(set(concatenated), key=_rank)
            rank = {value: code for code, value in enumerate(distinct)}
            lookup = np.fromiter(map(rank.__getitem__, concatenated), dtype=np.int64, count=len(concatenated))
            offsets = np.cumsum([0, *(len(piece.values[position]) for piece in pieces)], dtype=np.int64)[:-1]
            codes.append(lookup[local[position].astype(np.int64) + np.repeat(offsets, sizes)])
            self.values.append(distinct)
        # each type's sums: its rows of every hour one after the other, the measures some row of the type carries
        carried: dict[str, set[str]] = {}
        totals: dict[str, int] = {}
        for piece in pieces:
            for type_, rows, measures in piece.types:
                carried.setdefault(type_, set()).update(measures)
                totals[type_] = totals.get(type_, 0) + rows
        widths = {type_: tuple(name for name in MEASURES if name in names) for type_, names in carried.items()}
        tables = {type_: np.zeros((totals[type_], len(widths[type_])), dtype=np.float64)
                  for type_ in carried if types is None or type_ in types}
        columns: dict[tuple[str, tuple[str, ...]], list[int]] = {}
        filled = dict.fromkeys(tables, 0)
        for piece in pieces:
            for type_, rows, measures, part in piece.segments():
                if type_ not in tables:
                    continue
                at = filled[type_]
                if measures == widths[type_]:
                    tables[type_][at : at + rows] = part
                else:
                    where = columns.get((type_, measures))
                    if where is None:
                        where = columns[(type_, measures)] = [widths[type_].index(name) for name in measures]
                    tables[type_][at : at + rows, where] = part
                filled[type_] = at + rows
        # the hours are in order and each hour's rows in order: a stable sort by type gives (type, hour, identifiers)
        sequence = np.argsort(type_codes, kind="stable")
        type_codes, hours_column = type_codes[sequence], hours_column[sequence]
        codes = [column[sequence] for column in codes]
        self.blocks: dict[str, _Block] = {}
        bounds = np.flatnonzero(np.diff(type_codes)) + 1
        for lo, hi in zip([0, *bounds.tolist()], [*bounds.tolist(), count], strict=True):
            if lo == hi:
                continue
            type_ = names[int(type_codes[lo])]
            if types is not None and type_ not in types:
                continue
            measures = widths[type_]
            block = tables[type_]
            ids = [column[lo:hi] for column in codes]
            keys: list[Hashable] = []
            key = np.zeros(hi - lo, dtype=np.int64)
            if type_ in _SUMS:
                keys, key = self._sums_keys(_SUMS[type_][1], ids)
            self.blocks[type_] = _Block(hours_column[lo:hi], ids, measures, block.reshape(hi - lo, len(measures)), keys,
                                        key)

        self._index = [{value: code for code, value in enumerate(values)} for values in self.values]
        #: the code of None in each identifier column (-1: no row has None)
        self._none = [index.get(None, -1) for index in self._index]

    def _sums_keys(self, make: Callable[[Sequence[str | None]], Hashable], ids: list[Ints]) -> tuple[list[Hashable], Ints]:
        """The facts key of each row (``make`` of its identifiers), numbered in the order the keys first occur."""
        stacked = np.stack(ids, axis=1)
        distinct, first, inverse = np.unique(stacked, axis=0, return_index=True, return_inverse=True)
        index: dict[Hashable, int] = {}
        code_of = np.zeros(len(distinct), dtype=np.int64)
        # the distinct identifier tuples by their first row: each key is numbered where it first occurs
        for number in np.argsort(first, kind="stable").tolist():
            decoded = [self.values[position][code] for position, code in enumerate(distinct[number].tolist())]
            code_of[number] = index.setdefault(make(decoded), len(index))
        return list(index), code_of[inverse.reshape(-1)]

    @classmethod
    def of(cls, aggregates: Iterable[Aggregate]) -> HourGroups:
        """The groups of ``aggregates``."""
        return cls(by_hour(as_row(item) for item in aggregates))

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
        return cls(read_samples(conn, lo, hi, distributions))

    @classmethod
    def of_hours(cls, hours: Iterable[HourColumns], distributions: Iterable[str]) -> HourSamples:
        """The samples of ``distributions`` in the :class:`HourColumns` of some hours (one each)."""
        wanted = set(distributions)
        pieces = sorted((piece for piece in hours if len(piece.samples)), key=lambda piece: piece.hour)
        index: dict[SampleKey, int] = {}
        lookup = np.fromiter((index.setdefault(key, len(index)) if key[0] in wanted else -1
                              for piece in pieces for key in piece.sample_keys), dtype=np.int64)
        offsets = np.cumsum([0, *(len(piece.sample_keys) for piece in pieces)], dtype=np.int64)[:-1]
        sizes = np.array([len(piece.samples) for piece in pieces], dtype=np.int64)
        records = np.concatenate([piece.samples for piece in pieces]) if pieces else np.zeros(0, dtype=SAMPLE_DTYPE)
        key = lookup[records["key"].astype(np.int64) + np.repeat(offsets, sizes)] if pieces else np.zeros(0, np.int64)
        kept = key >= 0
        out = cls.__new__(cls)
        # the hours in order: no sort
        out.hours = np.repeat(np.array([piece.hour for piece in pieces], dtype=np.int64), sizes)[kept]
        out.values = records["value"].astype(np.float64)[kept]
        out.counts = records["count"].astype(np.int64)[kept]
        out.key = key[kept]
        out.keys = list(index)
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
