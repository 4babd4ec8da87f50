"""The metric engine: compute every catalogue metric for the windows of a range, store them.

``compute(engine, strategy, start=, end=, granularity=)`` yields, for every hour (or
local day) window inside ``[start, end)`` and for the rolling 7- and 28-day windows ending
at ``end``, one :class:`~alignwatch.metrics.values.MetricValue` per catalogue metric and label set.

Cost: **one** grouped read of the events of ``[min(start, end − 28 d), end)`` (see
:mod:`alignwatch.metrics.aggregates`; hour buckets, so every hour-aligned window is folded from the
same small result), one read of the reconfiguration events and one of the published
pipeline runs (when they finished: a window sees the run history as it stood at its end,
see :func:`monitored_at`). With ``cache=True`` (the default) the groups and distribution samples of closed hours
come from the hour-aggregate cache (:mod:`alignwatch.metrics.hourcache`): only the hours never
aggregated or that received events since are read from the events, and the cache is filled as a side effect,
so the continuous runs leave the nightly recomputation little to read. Windows that are not hour-aligned (``compute_window`` of a 5-minute window)
read exactly their own rows. The groups and distribution samples read are kept as columns
(:mod:`alignwatch.metrics.groups`) and a window's facts folded from the rows of its hours, each
sum in the order :meth:`~alignwatch.metrics.facts.Facts.build` takes it. The windows before
the range that the ROI-realisation series of a 28-day window looks at read only the runs and
finance entries it needs (:data:`~alignwatch.metrics.formulas.ROI_TYPES`): through the cache,
from one read of those groups over the :data:`PREFIX` before the range; the ethics measures'
inputs are read once for the range and sliced per window (:class:`~alignwatch.metrics.ethics.InputSource`).
Without the cache (``cache=False``, the reference) every such window reads its own. Results are rounded
to 9 decimals, so that floating-point sums taken in another row order give the same values.

``write_values(conn, run_id, values)`` upserts them into ``metric_values`` keyed on
(metric, labels, window kind, window end): the same values twice give the same rows.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from alignwatch.errors import ConfigError
from alignwatch.metrics.aggregates import (
    Reconfiguration,
    fetch_aggregates,
    fetch_reconfigurations,
    fetch_samples,
)
from alignwatch.metrics.ethics import EthicsInputs, InputSource, fetch_inputs
from alignwatch.metrics.facts import Facts
from alignwatch.metrics.formulas import ROI_MAX_WINDOWS, ROI_TYPES, Evaluation, distributions_needed, evaluate
from alignwatch.metrics.groups import HourColumns, HourGroups, HourSamples, fold_facts, project
from alignwatch.metrics.hourcache import cached_columns, cached_hours
from alignwatch.metrics.strategy import Strategy
from alignwatch.metrics.values import MetricValue, WindowKind
from alignwatch.metrics.writer import write_values
from alignwatch.store.schema import events, pipeline_runs
from alignwatch.vocabulary import utc

__all__ = [
    "GRANULARITIES",
    "ROLLING",
    "Reader",
    "Recomputation",
    "Window",
    "compute",
    "compute_window",
    "evaluate_window",
    "monitored_at",
    "to_values",
    "windows",
    "write_values",
]

HOUR = dt.timedelta(hours=1)
DAY = dt.timedelta(days=1)
WEEK = dt.timedelta(days=7)
ROLLING: dict[WindowKind, dt.timedelta] = {"7d": dt.timedelta(days=7), "28d": dt.timedelta(days=28)}
GRANULARITIES = ("hour", "day")
LOOKBACK = dt.timedelta(days=28)
MONITORING_LOOKBACK = dt.timedelta(days=2)
#: how far before a window the evaluation of a rolling window looks: the ROI-realisation series
#: of a 28-day window folds up to ROI_MAX_WINDOWS 28-day windows ending at its end
REACH = ROLLING["28d"] * ROI_MAX_WINDOWS
#: the steps a :class:`Recomputation` computes from one read of the events
BLOCK = dt.timedelta(days=28)
#: how far before its range a reader reads the groups of the ROI types: the series of its
#: first 28-day window reaches the three 28-day windows before that window's start
PREFIX = REACH - ROLLING["28d"]
_NO_SAMPLES = HourSamples.of_hours((), ())
DIGITS = 9


@dataclass(frozen=True)
class Window:
    """One window: its kind and its bounds ``[start, end)`` (UTC)."""

    kind: WindowKind
    start: dt.datetime
    end: dt.datetime


def _zone(strategy: Strategy) -> ZoneInfo:
    return ZoneInfo(str(getattr(getattr(strategy, "business", None), "timezone", None) or "UTC"))


def windows(strategy: Strategy, start: dt.datetime, end: dt.datetime, granularity: str = "hour") -> list[Window]:
    """The windows ``compute`` produces: whole hours (or local days) in ``[start, end)``, then 7d and 28d."""
    start, end = utc(start, "start"), utc(end, "end")
    if granularity not in GRANULARITIES:
        raise ConfigError(f"granularity {granularity!r}: expected one of {', '.join(GRANULARITIES)}")
    if end <= start:
        raise ConfigError(f"empty range [{start.isoformat()}, {end.isoformat()})")
    out: list[Window] = []
    if granularity == "hour":
        cursor = start.replace(minute=0, second=0, microsecond=0)
        if cursor < start:
            cursor += HOUR
        while cursor + HOUR <= end:
            out.append(Window("hour", cursor, cursor + HOUR))
            cursor += HOUR
    else:
        zone = _zone(strategy)
        day = start.astimezone(zone).date()
        while True:
            lo = dt.datetime.combine(day, dt.time(), zone).astimezone(dt.UTC)
            hi = dt.datetime.combine(day + DAY, dt.time(), zone).astimezone(dt.UTC)
            if lo >= end:
                break
            if lo >= start and hi <= end:
                out.append(Window("day", lo, hi))
            day += DAY
    out += [Window(kind, end - length, end) for kind, length in ROLLING.items()]
    return out


def _aligned(moment: dt.datetime) -> bool:
    return moment.timestamp() % 3600 == 0


#: a window's folded facts: (start, end, the event types folded or None for all)
Key = tuple[dt.datetime, dt.datetime, frozenset[str] | None]


class Reader:
    """The events of one range, read once and folded into the facts of any window inside it.

    ``clock``: read the hour groups through the hour-aggregate cache, with this clock for
    its marks (commits ``conn``: give it a connection of its own); None reads the events.
    """

    def __init__(
        self,
        conn: sa.Connection,
        strategy: Strategy,
        lo: dt.datetime,
        hi: dt.datetime,
        *,
        clock: Callable[[], dt.datetime] | None = None,
    ) -> None:
        self.conn = conn
        self.strategy = strategy
        self.sla_s = float(strategy.thresholds.escalation_sla_s)
        self.lo = lo.replace(minute=0, second=0, microsecond=0)
        self.hi = hi
        self._clock = clock
        # the values of the distributions the catalogue's metrics and the strategy's percentile KPIs read
        self._distributions = distributions_needed(strategy)
        #: the groups of the ROI types from PREFIX before the range to its end (cached reads only)
        self._roi: HourGroups | None = None
        self._prefix_lo = self.lo
        self._prefix_reconfigurations: list[Reconfiguration] = []
        if clock is None:
            self._groups, self._samples = self._read(self.lo, hi, None, self._distributions)
        else:
            self._groups, self._samples = self._read_with_prefix(hi)
        self.reconfigurations: list[Reconfiguration] = fetch_reconfigurations(conn, self.lo, hi)
        self._published = _published_finishes(conn, self.lo - MONITORING_LOOKBACK, hi)
        self._cache: dict[Key, Facts] = {}
        self._evaluations: dict[tuple[str, dt.datetime, dt.datetime], Evaluation] = {}
        self._inputs: InputSource | None = None

    def _read(
        self, lo: dt.datetime, hi: dt.datetime, types: frozenset[str] | None, distributions: tuple[str, ...]
    ) -> tuple[HourGroups, HourSamples]:
        """The groups of ``[lo, hi)`` (of ``types``) and the samples of ``distributions``: through the
        hour-aggregate cache when the reader has a clock."""
        if self._clock is None:
            aggregates = fetch_aggregates(self.conn, lo, hi, sla_s=self.sla_s)
            groups = HourGroups.of(item for item in aggregates if types is None or item.type in types)
            return groups, HourSamples.read(self.conn, lo, hi, distributions)
        return cached_columns(self.conn, lo, hi, sla_s=self.sla_s, now=self._clock, types=types,
                              distributions=distributions)

    def _read_with_prefix(self, hi: dt.datetime) -> tuple[HourGroups, HourSamples]:
        """The range's groups and samples through the cache, and the groups of the ROI types from
        :data:`PREFIX` before it on, which the ROI-realisation series of its rolling windows
        fold: one read instead of one per window of the series."""
        assert self._clock is not None
        sla, now = self.sla_s, self._clock
        pieces = cached_hours(self.conn, self.lo, hi, sla_s=sla, now=now, distributions=self._distributions)
        self._prefix_lo = self.lo - PREFIX
        t = events.c.time
        first = self.conn.execute(sa.select(sa.func.min(t)).where(t >= self._prefix_lo, t < self.lo)).scalar_one()
        before: list[HourColumns] = []
        if first is not None:  # (no hour before the first event is read: it has no group)
            first = utc(first, "time").replace(minute=0, second=0, microsecond=0)
            # a week at a time, each hour cut to the ROI types as it comes: 84 days of whole hours are ~150 MB
            for week in range(0, math.ceil((self.lo - first) / WEEK)):
                lo, hi = first + week * WEEK, min(first + (week + 1) * WEEK, self.lo)
                before += [piece.only(ROI_TYPES) for piece in cached_hours(self.conn, lo, hi, sla_s=sla, now=now)]
            self._prefix_reconfigurations = fetch_reconfigurations(self.conn, first, self.lo)
        self._roi = HourGroups([*before, *pieces], ROI_TYPES)
        del before
        return HourGroups(pieces), HourSamples.of_hours(pieces, self._distributions)

    def _fold_roi(self, start: dt.datetime, end: dt.datetime, types: frozenset[str]) -> Facts | None:
        """The facts of ``types`` (ROI types) of an hour-aligned window that starts before the
        range, folded from the prefix read (None: no prefix read covers it)."""
        if self._roi is None or not types <= ROI_TYPES or start < self._prefix_lo or end > self.hi:
            return None
        reconfigurations = [*self._prefix_reconfigurations, *self.reconfigurations]
        facts = fold_facts(start, end, self._roi, _NO_SAMPLES, reconfigurations)
        return facts if types == ROI_TYPES else project(facts, types)

    def covers(self, start: dt.datetime, end: dt.datetime) -> bool:
        return self.lo <= start and end <= self.hi and _aligned(start) and (_aligned(end) or end == self.hi)

    def facts(self, start: dt.datetime, end: dt.datetime, types: frozenset[str] | None = None) -> Facts | None:
        """The facts of ``[start, end)`` when the range read covers it, else None (a :class:`~alignwatch.metrics.formulas.Fold`).

        An hour-aligned window that starts before the range read is read on its own (once, and
        through the hour-aggregate cache when the reader uses it): the ROI-realisation series
        of a 28-day window looks at the 28-day windows before it. ``types``: only the groups
        of these event types are needed (no samples), which is all such a window reads; a
        window inside the range is folded whole either way.
        """
        if not self.covers(start, end):
            whole = self._cache.get((start, end, None))
            if whole is not None or types is None:
                key: Key = (start, end, None)
            else:
                key = (start, end, types)
            if key not in self._cache and start < self.lo and end <= self.hi and _aligned(start) and _aligned(end):
                folded = None if types is None else self._fold_roi(start, end, types)
                if folded is None:
                    groups, samples = self._read(start, end, types, self._distributions if types is None else ())
                    folded = fold_facts(start, end, groups, samples, fetch_reconfigurations(self.conn, start, end))
                self._cache[key] = folded
            return self._cache.get(key)
        key = (start, end, None)
        if key not in self._cache:
            self._cache[key] = fold_facts(start, end, self._groups, self._samples, self.reconfigurations)
        return self._cache[key]

    def ethics_inputs(self, start: dt.datetime, end: dt.datetime) -> EthicsInputs:
        """The ethics inputs of ``[start, end)``: sliced from one read of the range's when the
        reader uses the hour-aggregate cache and the range covers the window, else read for the window."""
        if self._clock is None or not (self.lo <= start and end <= self.hi):
            return fetch_inputs(self.conn, self.strategy, start, end)
        if self._inputs is None:
            self._inputs = InputSource(self.conn, self.strategy, self.lo, self.hi)
        return self._inputs.inputs(start, end)

    def refresh_published(self) -> None:
        """Read the published runs again (runs published since the reader was made count)."""
        published = _published_finishes(self.conn, self.lo - MONITORING_LOOKBACK, self.hi)
        if published != self._published:
            self._published = published
            self._evaluations.clear()

    def evaluation(self, window: Window) -> Evaluation:
        """:func:`evaluate_window` of ``window``, evaluated once per reader."""
        key = (window.kind, window.start, window.end)
        if key not in self._evaluations:
            self._evaluations[key] = evaluate_window(self, window)
        return self._evaluations[key]

    def forget(self, before: dt.datetime, shorter: dt.timedelta) -> None:
        """Forget the windows ending before ``before``: their evaluations, and the folded facts of those shorter than ``shorter``.

        Of a longer (rolling) window only what the ROI-realisation series of a later window
        reads is kept (:data:`~alignwatch.metrics.formulas.ROI_TYPES`: its runs and finance
        entries, not its samples and sets): a window inside the range is folded again from
        the groups when asked for whole, one before it is read again.
        """
        kept: dict[Key, Facts] = {}
        for key, facts in self._cache.items():
            start, end, types = key
            if end >= before:
                kept[key] = facts
            elif end - start >= shorter:
                kept[(start, end, ROI_TYPES)] = facts if types == ROI_TYPES else project(facts, ROI_TYPES)
        self._cache = kept
        self._evaluations = {key: evaluation for key, evaluation in self._evaluations.items() if key[2] >= before}

    def monitored(self, end: dt.datetime) -> bool:
        """Whether a pipeline run was published in the two days up to ``end`` (see :func:`monitored_at`)."""
        return monitored_at(self._published, end)


def monitored_at(finishes: Iterable[dt.datetime], end: dt.datetime) -> bool:
    """Whether one of the published runs' ``finishes`` lies in ``(end − 2 days, end]``.

    The run history of a window is the history as it stood at the window's end: only runs
    that had finished by then count, so a window's value does not depend on when, or by
    which path (continuous, nightly, backfill, manual), it is computed.
    """
    return any(end - MONITORING_LOOKBACK < moment <= end for moment in finishes)


def _published_finishes(conn: sa.Connection, lo: dt.datetime, hi: dt.datetime) -> list[dt.datetime]:
    """When the runs published in ``[lo, hi]`` finished."""
    runs = pipeline_runs.c
    return list(
        conn.execute(
            sa.select(runs.finished_at).where(runs.status == "published", runs.finished_at >= lo, runs.finished_at <= hi)
        ).scalars()
    )


def evaluate_window(reader: Reader, window: Window) -> Evaluation:
    """Evaluate one window whose facts the reader covers."""
    facts = reader.facts(window.start, window.end)
    if facts is None:
        raise ValueError(f"window [{window.start}, {window.end}) is outside the range read")
    return evaluate(
        reader.strategy,
        facts,
        fold=reader.facts,
        monitored=reader.monitored(window.end),
        rolling_7d=window.kind == "7d",
        detect_pitfalls=window.kind in ROLLING,
        ethics_inputs=reader.ethics_inputs,
    )


def _round(value: float | None) -> float | None:
    if value is None:
        return None
    # round() gives NaN and the infinities back as they are
    rounded = round(float(value), DIGITS)
    return 0.0 if rounded == 0 else rounded


def _clean(data: Any) -> Any:
    """Inputs as plain JSON with rounded numbers (sets sorted, tuples as lists)."""
    kind = type(data)  # the common exact types first: a run cleans hundreds of thousands of inputs
    if kind is float:
        return _round(data)
    if kind is str or kind is int or kind is bool or data is None:
        return data
    if kind is dict:
        # an input is a dict of numbers and names: those are taken as they are, without a call each
        cleaned = {}
        for key, item in data.items():
            item_kind = type(item)
            if item_kind is float:
                rounded = round(item, DIGITS)
                item = 0.0 if rounded == 0 else rounded
            elif not (item_kind is str or item_kind is int or item_kind is bool or item is None):
                item = _clean(item)
            cleaned[key if type(key) is str else str(key)] = item
        return cleaned
    if kind is list:
        return [_clean(v) for v in data]
    if isinstance(data, dict):
        return {str(k): _clean(v) for k, v in data.items()}
    if isinstance(data, list | tuple):
        return [_clean(v) for v in data]
    if isinstance(data, set | frozenset):
        return sorted(_clean(v) for v in data)
    if isinstance(data, bool) or data is None or isinstance(data, str):
        return data
    if isinstance(data, int | float):
        return _round(float(data)) if isinstance(data, float) else data
    return str(data)


def to_values(evaluation: Evaluation, kind: WindowKind) -> list[MetricValue]:
    """The evaluation's values as :class:`MetricValue` of window kind ``kind``."""
    return [
        MetricValue(
            metric_id=metric_id,
            labels=dict(labels),
            window=kind,
            window_start=evaluation.start,
            window_end=evaluation.end,
            value=_round(value),
            inputs=_clean(inputs),
        )
        for metric_id, labels, value, inputs in evaluation.values
    ]


def compute(
    engine: sa.Engine,
    strategy: Strategy,
    *,
    start: dt.datetime,
    end: dt.datetime,
    granularity: str = "hour",
    progress: Any = None,
    cache: bool = True,
    clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
) -> list[MetricValue]:
    """Every metric for every window of ``granularity`` in ``[start, end)`` plus 7d and 28d ending at ``end``.

    ``progress``, when given, is called with (windows done, windows in all) after each window.
    ``cache``: read (and fill) the hour-aggregate cache, whose marks take their time from
    ``clock``; the values are the same either way.
    """
    planned = windows(strategy, start, end, granularity)
    lo = min(w.start for w in planned)
    hi = max(w.end for w in planned)
    with engine.connect() as conn:
        return _values(conn, strategy, Reader(conn, strategy, lo, hi, clock=clock if cache else None), planned, progress)


def _values(
    conn: sa.Connection, strategy: Strategy, reader: Reader, planned: Sequence[Window], progress: Any
) -> list[MetricValue]:
    """The values of the ``planned`` windows: from the reader's range, or each read on its own when outside it."""
    values: list[MetricValue] = []
    for done, window in enumerate(planned, 1):
        if reader.covers(window.start, window.end):
            evaluation = reader.evaluation(window)
        else:
            evaluation = _evaluate_exact(conn, strategy, window)
        values += to_values(evaluation, window.kind)
        if progress is not None:
            progress(done, len(planned))
    return values


def _evaluate_exact(conn: sa.Connection, strategy: Strategy, window: Window) -> Evaluation:
    sla = float(strategy.thresholds.escalation_sla_s)
    facts = Facts.build(
        window.start,
        window.end,
        fetch_aggregates(conn, window.start, window.end, sla_s=sla),
        fetch_reconfigurations(conn, window.start, window.end),
        fetch_samples(conn, window.start, window.end, distributions_needed(strategy)),
    )
    published = _published_finishes(conn, window.end - MONITORING_LOOKBACK, window.end)
    return evaluate(strategy, facts, monitored=monitored_at(published, window.end), detect_pitfalls=window.kind in ROLLING,
                    ethics_inputs=partial(fetch_inputs, conn, strategy))


class Recomputation:
    """Many steps (the days of a nightly run or of a backfill) computed from shared reads.

    ``compute`` has the signature of :func:`compute` and gives the same values; the events
    of a block of :data:`BLOCK` of steps are read once with their 28-day lookback, instead of
    once per step and granularity with the lookback each time. The facts of a window are
    folded once, whatever step or granularity asks for them (the rolling windows of a day's
    hour and day steps are the same), and the runs and finance entries of the rolling windows are kept from one
    block to the next for as long as later windows look back at them (:data:`REACH`: the
    ROI-realisation series of a 28-day window folds the 28-day windows before it). ``until`` bounds the blocks read (the end of the run's range). The published runs
    are read anew on every call (a window sees the runs finished by its end, including the
    ones a backfill publishes as it goes); the events of a block are read when the block is
    first reached, as one computation reads them once. Each call uses a connection of its
    own, for the time of the call.
    """

    def __init__(
        self,
        engine: sa.Engine,
        strategy: Strategy,
        *,
        until: dt.datetime | None = None,
        cache: bool = True,
        clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    ) -> None:
        self.engine = engine
        self.strategy = strategy
        self.until = None if until is None else utc(until, "until")
        self._clock = clock if cache else None
        self._reader: Reader | None = None

    def _reader_for(self, conn: sa.Connection, lo: dt.datetime, hi: dt.datetime) -> Reader:
        reader = self._reader
        if reader is not None and reader.lo <= lo and hi <= reader.hi:
            reader.conn = conn
            reader.refresh_published()
            return reader
        # the facts of the previous block's rolling windows that later windows still look back at
        # (the ROI-realisation series); the rest goes before the next block is read
        kept = {} if reader is None else {
            key: facts for key, facts in reader._cache.items()
            if key[1] - key[0] >= ROLLING["7d"] and key[1] >= lo - REACH
        }
        self._reader = reader = None
        stop = hi if self.until is None or self.until <= hi else min(self.until, hi + BLOCK)
        self._reader = Reader(conn, self.strategy, lo, stop, clock=self._clock)
        self._reader._cache.update(kept)
        return self._reader

    def compute(
        self,
        engine: sa.Engine,
        strategy: Strategy,
        *,
        start: dt.datetime,
        end: dt.datetime,
        granularity: str = "hour",
        progress: Any = None,
    ) -> list[MetricValue]:
        """The values :func:`compute` gives for the same arguments."""
        if engine is not self.engine or strategy is not self.strategy:
            return compute(engine, strategy, start=start, end=end, granularity=granularity, progress=progress,
                           cache=self._clock is not None, clock=self._clock or (lambda: dt.datetime.now(dt.UTC)))
        planned = windows(strategy, start, end, granularity)
        lo = min(w.start for w in planned)
        hi = max(w.end for w in planned)
        with engine.connect() as conn:
            reader = self._reader_for(conn, lo, hi)
            values = _values(conn, strategy, reader, planned, progress)
        # the windows of earlier steps go (a later window reads them again from the groups; of
        # the rolling ones the ROI series keep what they read); this step's stay for its other
        # granularity (kept for four days, the whole facts of their windows, samples and sets
        # included, held 40 MB more through a 28-day backfill)
        reader.forget(utc(start, "start"), ROLLING["7d"])
        return values

    def close(self) -> None:
        """Release the block read (its folded facts)."""
        self._reader = None

    def __enter__(self) -> Recomputation:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def compute_window(
    engine: sa.Engine, strategy: Strategy, *, start: dt.datetime, end: dt.datetime, kind: WindowKind = "hour"
) -> list[MetricValue]:
    """The metrics of exactly ``[start, end)`` (any length, e.g. five minutes), reading only its rows."""
    start, end = utc(start, "start"), utc(end, "end")
    if end <= start:
        raise ConfigError(f"empty window [{start.isoformat()}, {end.isoformat()})")
    with engine.connect() as conn:
        return to_values(_evaluate_exact(conn, strategy, Window(kind, start, end)), kind)
