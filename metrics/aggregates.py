"""The engine's only read of the events: one grouped query per time range.

Every metric of the catalogue is assembled in Python from small aggregates: for each event
type, hour bucket and identifier (automation, process, touchpoint, dataset, employee or
user, plus one or two bounded payload fields such as ``handled_by`` or ``kind``), the
counts and sums the formulas need. They come from **one** statement over the range's rows
(read through the ``(type, time)`` index), with conditional aggregates (``CASE``) rather
than one query per metric, so the cost follows the number of events in the range and not
the number of metrics or the history before it (on SQLite one select per event type,
joined by ``UNION ALL``: :func:`aggregate_query`).

The payload is parsed once per row: on PostgreSQL with ``json_to_record`` in a lateral
join (one parse yields every typed field), on SQLite with ``json_extract``.

Two kinds of rows are folded beyond the payload sums: ``kpi.observed`` (externally measured
KPI values) is grouped by its ``kpi_id`` and sums its ``value``, read with a typed path for
that type only; and the products of ``customer.order`` (its optional ``product_ids`` list)
are read by a second statement over the orders of the range, one group per hour, customer
and product (:data:`ORDER_PRODUCTS`), so that the share of customers who bought a new
product can be counted whatever the strategy declares new.

Rare event types whose exact values matter (``strategy.initiative``,
``automation.reconfigured``: lead times) are read as rows by :func:`fetch_reconfigurations`.

Percentiles cannot be folded from sums: the values of the :data:`DISTRIBUTIONS` (cycle
time, run duration, order amount) are read by :func:`fetch_samples`, each distinct value
of an hour and group once with how often it occurred, so that a window's percentile is
taken over exactly the stored values.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from alignwatch.store.schema import events

__all__ = [
    "AGGREGATED_TYPES",
    "DISTRIBUTIONS",
    "MEASURES",
    "ORDER_PRODUCTS",
    "Aggregate",
    "Reconfiguration",
    "Sample",
    "aggregate_query",
    "fetch_aggregates",
    "fetch_group_rows",
    "fetch_reconfigurations",
    "fetch_rows",
    "fetch_samples",
    "guarded_query",
    "hour_bucket",
    "hour_index",
    "hour_of",
    "in_hours",
    "key_text",
    "of_type",
    "order",
    "payload_is_jsonb",
    "products_query",
    "sample_values_query",
    "samples_query",
]

HOUR_S = 3600
WORK_MEM = "128MB"

#: payload fields read by the aggregate query, with their SQL type
FIELDS: dict[str, sa.types.TypeEngine[Any]] = {
    "status": sa.Text(),
    "manual_intervention": sa.Boolean(),
    "cost": sa.Float(),
    "automated": sa.Boolean(),
    "cycle_time_s": sa.Float(),
    "errors": sa.Float(),
    "rework": sa.Float(),
    "units_out": sa.Float(),
    "channel": sa.Text(),
    "handled_by": sa.Text(),
    "resolved": sa.Boolean(),
    "escalation_requested": sa.Boolean(),
    "escalation_fulfilled_s": sa.Float(),
    "csat": sa.Float(),
    "nps": sa.Float(),
    "amount": sa.Float(),
    "repeat": sa.Boolean(),
    "units": sa.Float(),
    "kind": sa.Text(),
    "feature": sa.Text(),
    "records": sa.Float(),
    "used_for": sa.Text(),
    "strategic": sa.Boolean(),
    "augmented": sa.Boolean(),
    "minutes_saved": sa.Float(),
    "satisfaction": sa.Float(),
}

#: event types whose rows the aggregate query folds (the others are read as rows or unused)
AGGREGATED_TYPES: tuple[str, ...] = (
    "automation.run",
    "process.execution",
    "customer.touchpoint",
    "customer.feedback",
    "customer.order",
    "finance.entry",
    "feature.usage",
    "integration.issue",
    "data.produced",
    "data.used",
    "workforce.task",
    "workforce.skill",
    "workforce.survey",
    "kpi.observed",
)

#: the aggregate type of the order products: one group per hour, customer (``actor``) and product (``k2``)
ORDER_PRODUCTS = "customer.order.product"

# which identifier columns each type is grouped by (the others are NULL for that type)
_ACTOR_TYPES = ("feature.usage", "workforce.task", "workforce.skill", "workforce.survey")
_DATASET_TYPES = ("data.produced", "data.used")
# bounded payload fields each type is grouped by (k1, k2)
_KEY_FIELDS: dict[str, tuple[str, ...]] = {
    "process.execution": ("automated",),
    "customer.touchpoint": ("channel", "handled_by"),
    "customer.order": ("repeat",),
    "finance.entry": ("kind",),
    "feature.usage": ("feature",),
    "integration.issue": ("kind",),
    "data.used": ("used_for", "strategic"),
    "workforce.task": ("augmented",),
    "kpi.observed": ("kpi_id",),
}

#: the sums every group carries (name -> which type and what it counts)
MEASURES: dict[str, str] = {
    "n": "events in the group",
    "succeeded": "automation.run with status succeeded",
    "failed": "automation.run with status failed",
    "manual": "automation.run with manual_intervention",
    "cost": "sum of automation.run cost",
    "cycle": "sum of process.execution cycle_time_s",
    "with_errors": "process.execution with errors > 0",
    "with_rework": "process.execution with rework > 0",
    "units_out": "sum of process.execution units_out",
    "resolved": "customer.touchpoint resolved",
    "clean": "customer.touchpoint resolved without an escalation request",
    "escalations": "customer.touchpoint with escalation_requested",
    "within_sla": "escalations fulfilled within the SLA",
    "csat_n": "customer.feedback with a CSAT answer",
    "csat_sum": "sum of CSAT answers",
    "nps_n": "customer.feedback with an NPS answer",
    "promoters": "NPS answers 9 or 10",
    "detractors": "NPS answers 0 to 6",
    "amount": "sum of amount (customer.order, finance.entry)",
    "units": "sum of customer.order units",
    "records": "sum of integration.issue records",
    "minutes": "sum of workforce.task minutes_saved",
    "satisfaction": "sum of workforce.survey satisfaction",
    "observed": "sum of kpi.observed value",
}


@dataclass(frozen=True)
class Aggregate:
    """One group: event type, hour bucket (hours since the epoch), identifiers and sums."""

    type: str
    hour: int
    automation_id: str | None
    process_id: str | None
    touchpoint_id: str | None
    actor: str | None
    dataset: str | None
    k1: str | None
    k2: str | None
    sums: dict[str, float] = field(default_factory=dict)

    def __getitem__(self, name: str) -> float:
        return self.sums.get(name, 0.0)


#: distributions whose percentiles are measured: name -> (event type, payload field)
DISTRIBUTIONS: dict[str, tuple[str, str]] = {
    "cycle_time": ("process.execution", "cycle_time_s"),
    "run_duration": ("automation.run", "duration_s"),
    "order_amount": ("customer.order", "amount"),
}


@dataclass(frozen=True)
class Sample:
    """One distinct value of a distribution in one hour bucket and group, and how many events had it."""

    distribution: str
    hour: int
    automation_id: str | None
    process_id: str | None
    value: float
    count: int


@dataclass(frozen=True)
class Reconfiguration:
    """An ``automation.reconfigured`` event with the start of its initiative (if known)."""

    automation_id: str | None
    initiative_id: str | None
    time: dt.datetime
    deployed_at: dt.datetime
    initiative_started_at: dt.datetime | None


def hour_index(moment: dt.datetime) -> int:
    """Hours since the epoch of an aware datetime (its UTC hour bucket)."""
    return int(moment.timestamp() // HOUR_S)


def _as_text(expr: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
    return sa.cast(expr, sa.Text())


# measure -> (event types it applies to, how: "count" | ("when", field, op, value) | ("sum", field))
_RUN, _EXEC, _TOUCH, _FEEDBACK = ("automation.run",), ("process.execution",), ("customer.touchpoint",), ("customer.feedback",)


def _measures(
    t: sa.ColumnElement[Any], f: dict[str, sa.ColumnElement[Any]], sla_s: float, only: str | None = None
) -> dict[str, Any]:
    """The sums of :data:`MEASURES`; each reads its payload fields only for its own event types.

    ``only``: the statement reads the rows of that one type, so a measure of another type is
    NULL and a measure of this one needs no guard.
    """

    def guard(types: tuple[str, ...], expr: sa.ColumnElement[Any]) -> sa.ColumnElement[Any] | None:
        if only is not None:
            return expr if only in types else None
        return sa.case((t == types[0] if len(types) == 1 else t.in_(types), expr), else_=sa.null())

    def when(types: tuple[str, ...], cond: sa.ColumnElement[bool]) -> Any:
        expr = guard(types, sa.case((cond, 1), else_=0))
        return sa.cast(sa.null(), sa.Float) if expr is None else sa.func.sum(expr)

    def total(types: tuple[str, ...], expr: sa.ColumnElement[Any]) -> Any:
        guarded = guard(types, expr)
        return sa.cast(sa.null(), sa.Float) if guarded is None else sa.func.sum(guarded)

    def count(types: tuple[str, ...], expr: sa.ColumnElement[Any]) -> Any:
        guarded = guard(types, expr)
        return sa.cast(sa.null(), sa.Float) if guarded is None else sa.func.count(guarded)

    true = sa.true()
    requested = f["escalation_requested"] == true
    return {
        "n": sa.func.count(),
        "succeeded": when(_RUN, f["status"] == "succeeded"),
        "failed": when(_RUN, f["status"] == "failed"),
        "manual": when(_RUN, f["manual_intervention"] == true),
        "cost": total(_RUN, f["cost"]),
        "cycle": total(_EXEC, f["cycle_time_s"]),
        "with_errors": when(_EXEC, f["errors"] > 0),
        "with_rework": when(_EXEC, f["rework"] > 0),
        "units_out": total(_EXEC, f["units_out"]),
        "resolved": when(_TOUCH, f["resolved"] == true),
        "clean": when(_TOUCH, sa.and_(f["resolved"] == true, sa.not_(requested))),
        "escalations": when(_TOUCH, requested),
        "within_sla": when(_TOUCH, sa.and_(requested, f["escalation_fulfilled_s"] <= sla_s)),
        "csat_n": count(_FEEDBACK, f["csat"]),
        "csat_sum": total(_FEEDBACK, f["csat"]),
        "nps_n": count(_FEEDBACK, f["nps"]),
        "promoters": when(_FEEDBACK, f["nps"] >= 9),
        "detractors": when(_FEEDBACK, f["nps"] <= 6),
        "amount": total(("customer.order", "finance.entry"), f["amount"]),
        "units": total(("customer.order",), f["units"]),
        "records": total(("integration.issue",), f["records"]),
        "minutes": total(("workforce.task",), f["minutes_saved"]),
        "satisfaction": total(("workforce.survey",), f["satisfaction"]),
        "observed": total(("kpi.observed",), f["observed_value"]),
    }


def _field_paths(data: Any) -> dict[str, sa.ColumnElement[Any]]:
    """Each payload field as a typed ``->>`` extraction (SQLite json_extract, PostgreSQL jsonb)."""
    out: dict[str, sa.ColumnElement[Any]] = {}
    for name, type_ in FIELDS.items():
        item = data[name]
        if isinstance(type_, sa.Boolean):
            out[name] = item.as_boolean()
        elif isinstance(type_, sa.Float):
            out[name] = item.as_float()
        else:
            out[name] = item.as_string()
    return out


def _observed_paths(data: Any) -> dict[str, sa.ColumnElement[Any]]:
    """``kpi.observed``'s fields, read with typed paths and used only under a guard on that type.

    Not in :data:`FIELDS`: ``json_to_record`` types its columns for every row, and a
    ``value`` or ``kpi_id`` field is a likely unknown field of another type (kept with its
    payload, of any JSON type), which a typed column would refuse.
    """
    return {"kpi_id": data["kpi_id"].as_string(), "observed_value": data["value"].as_float()}


def hour_bucket(dialect: str) -> sa.ColumnElement[Any]:
    """The hour bucket of ``events.time`` in SQL; :func:`hour_of` turns a fetched one into an hour index.

    PostgreSQL: hours since the epoch (``date_part`` is double precision; the numeric
    ``extract`` is several times slower to divide and group). SQLite: the text ``YYYY-MM-DD HH``.
    """
    if dialect == "postgresql":
        return sa.cast(sa.func.floor(sa.func.date_part("epoch", events.c.time) / float(HOUR_S)), sa.BigInteger)
    return sa.func.substr(events.c.time, 1, 13)


def aggregate_query(
    dialect: str, lo: dt.datetime, hi: dt.datetime, sla_s: float, *, jsonb: bool = False
) -> sa.Select[Any] | sa.CompoundSelect[Any]:
    """The grouped statement over the events of ``[lo, hi)`` for ``dialect``.

    PostgreSQL: :func:`guarded_query`, a single pass over the range's rows (parallel over a
    large range). SQLite: one grouped select per event type (:func:`_type_query`), put
    together with ``UNION ALL``, about a third cheaper than the guarded statement (SQLite
    sorts the rows to group them and evaluates every guard of every measure for each row).
    The groups, their sums and their order within a type are the guarded statement's: a
    type's rows are read through the ``(type, time)`` index in the same order, SQLite's
    sort keeps the rows of a group in the order read and emits the groups in key order.
    """
    if dialect == "sqlite":
        return _union_by_type(sla_s).params(lo=lo, hi=hi)
    return guarded_query(dialect, lo, hi, sla_s, jsonb=jsonb)


def guarded_query(
    dialect: str, lo: dt.datetime, hi: dt.datetime, sla_s: float, *, jsonb: bool = False
) -> sa.Select[Any]:
    """One grouped statement for every event type over the events of ``[lo, hi)``.

    Each measure and grouping field is guarded by its event type, so a row only pays for
    its own type's formulas. On PostgreSQL a ``json`` payload column is parsed once per row
    with ``json_to_record``; a ``jsonb`` one (``jsonb=True``) is read field by field, which
    needs no parsing.
    """
    e = events.c
    source: Any = events
    if dialect == "postgresql":
        if jsonb:
            f = _field_paths(e.data)
        else:
            record = (
                sa.func.json_to_record(e.data)
                .table_valued(*(sa.column(name, type_) for name, type_ in FIELDS.items()))
                .render_derived(name="r", with_types=True)
                .lateral()
            )
            f = {name: record.c[name] for name in FIELDS}
            source = events.join(record, sa.true())
    else:
        f = _field_paths(e.data)
    f = {**f, **_observed_paths(e.data)}
    hour = hour_bucket(dialect)
    t = e.type

    def key(position: int) -> sa.ColumnElement[Any]:
        whens = [
            (t == type_name, _as_text(f[names[position]]))
            for type_name, names in _KEY_FIELDS.items()
            if len(names) > position
        ]
        return sa.case(*whens, else_=sa.null())

    sums = _measures(t, f, sla_s)
    keys = [
        t.label("type"),
        hour.label("hour"),
        e.automation_id.label("automation_id"),
        e.process_id.label("process_id"),
        e.touchpoint_id.label("touchpoint_id"),
        sa.case((t.in_(_ACTOR_TYPES), e.actor_id), else_=sa.null()).label("actor"),
        sa.case((t.in_(_DATASET_TYPES), e.case_id), else_=sa.null()).label("dataset"),
        key(0).label("k1"),
        key(1).label("k2"),
    ]
    return (
        sa.select(*keys, *(expr.label(name) for name, expr in sums.items()))
        .select_from(source)
        .where(t.in_(AGGREGATED_TYPES), e.time >= lo, e.time < hi)
        .group_by(*(sa.literal_column(str(position)) for position in range(1, len(keys) + 1)))
    )


@functools.lru_cache(maxsize=8)
def _union_by_type(sla_s: float) -> sa.CompoundSelect[Any]:
    """SQLite's :func:`aggregate_query` with the range as the parameters ``lo`` and ``hi``.

    Built once per SLA: building its fourteen selects takes ~10 ms, longer than reading a few hours.
    """
    lo, hi = sa.bindparam("lo", type_=events.c.time.type), sa.bindparam("hi", type_=events.c.time.type)
    return sa.union_all(*(_type_query(type_, lo, hi, sla_s) for type_ in sorted(AGGREGATED_TYPES)))


def _type_query(type_: str, lo: Any, hi: Any, sla_s: float) -> sa.Select[Any]:
    """SQLite's grouped select of the events of one type in ``[lo, hi)``: :func:`aggregate_query`'s columns.

    The identifiers and measures of other types are NULL (a NULL sum or count is no measure,
    as a sum or count of nothing is none).
    """
    e = events.c
    f = {**_field_paths(e.data), **_observed_paths(e.data)}
    names = _KEY_FIELDS.get(type_, ())
    null = sa.cast(sa.null(), sa.Text())

    def key(position: int) -> sa.ColumnElement[Any]:
        return _as_text(f[names[position]]) if len(names) > position else null

    keys = [
        e.type.label("type"),
        hour_bucket("sqlite").label("hour"),
        e.automation_id.label("automation_id"),
        e.process_id.label("process_id"),
        e.touchpoint_id.label("touchpoint_id"),
        (e.actor_id if type_ in _ACTOR_TYPES else null).label("actor"),
        (e.case_id if type_ in _DATASET_TYPES else null).label("dataset"),
        key(0).label("k1"),
        key(1).label("k2"),
    ]
    sums = _measures(e.type, f, sla_s, only=type_)
    return (
        sa.select(*keys, *(expr.label(name) for name, expr in sums.items()))
        .where(e.type == type_, e.time >= lo, e.time < hi)
        .group_by(*(sa.literal_column(str(position)) for position in range(1, len(keys) + 1)))
    )


def products_query(dialect: str, lo: dt.datetime, hi: dt.datetime, *, jsonb: bool = False) -> sa.Select[Any]:
    """The products of the ``customer.order`` events of ``[lo, hi)``, grouped by hour, customer and product.

    Columns as :func:`aggregate_query`'s (type :data:`ORDER_PRODUCTS`, the customer in
    ``actor``, the product in ``k2``, ``n`` the order lines): a second statement, over the
    orders only (the ``(type, time)`` index), each order's ``product_ids`` array expanded into
    one row per product. An order without the list (absent or null) has no product rows.
    """
    e = events.c
    products = e.data["product_ids"]
    if dialect == "postgresql":
        typeof, elements = (
            (sa.func.jsonb_typeof, sa.func.jsonb_array_elements_text)
            if jsonb
            else (sa.func.json_typeof, sa.func.json_array_elements_text)
        )
        # only an array is expanded (a JSON null would make the set-returning function fail)
        listed = sa.case((typeof(products) == "array", products), else_=sa.null())
        item = elements(listed).table_valued("value").render_derived(name="p").lateral()
        source = events.join(item, sa.true())
        condition: sa.ColumnElement[bool] = sa.true()
    else:
        item = sa.func.json_each(e.data, "$.product_ids").table_valued("value").alias("p")
        source = events.join(item, sa.true())
        condition = sa.func.json_type(e.data, "$.product_ids") == "array"
    product = sa.cast(item.c.value, sa.Text())
    null = sa.null()
    keys = [
        sa.literal(ORDER_PRODUCTS, sa.Text()).label("type"),
        hour_bucket(dialect).label("hour"),
        sa.cast(null, sa.Text()).label("automation_id"),
        sa.cast(null, sa.Text()).label("process_id"),
        sa.cast(null, sa.Text()).label("touchpoint_id"),
        e.actor_id.label("actor"),
        sa.cast(null, sa.Text()).label("dataset"),
        sa.cast(null, sa.Text()).label("k1"),
        product.label("k2"),
    ]
    sums = [sa.func.count().label("n"), *(sa.cast(null, sa.Float).label(name) for name in MEASURES if name != "n")]
    return (
        sa.select(*keys, *sums)
        .select_from(source)
        .where(e.type == "customer.order", e.time >= lo, e.time < hi, condition)
        .group_by(*(sa.literal_column(str(position)) for position in (2, 6, 9)))
    )


_JSONB: dict[str, bool] = {}


def payload_is_jsonb(conn: sa.Connection) -> bool:
    """Whether the store's ``events.data`` column is ``jsonb`` (PostgreSQL; looked up once per store)."""
    if conn.dialect.name != "postgresql":
        return False
    url = conn.engine.url.render_as_string(hide_password=True)
    if url not in _JSONB:
        kind = conn.execute(
            sa.text(
                "SELECT data_type FROM information_schema.columns "
                "WHERE table_name = 'events' AND column_name = 'data' AND table_schema = current_schema()"
            )
        ).scalar()
        _JSONB[url] = kind == "jsonb"
    return _JSONB[url]


@functools.lru_cache(maxsize=4096)
def _hour_of_text(value: str) -> int:
    moment = dt.datetime(int(value[0:4]), int(value[5:7]), int(value[8:10]), int(value[11:13]), tzinfo=dt.UTC)
    return hour_index(moment)


def hour_of(value: Any) -> int:
    """The hour index of a fetched :func:`hour_bucket` value."""
    if isinstance(value, str):  # SQLite: 'YYYY-MM-DD HH'
        return _hour_of_text(value[:13])
    return int(value)


def key_text(value: Any) -> str | None:
    """A fetched ``k1`` or ``k2`` as text: ``'1'`` and ``'0'`` (SQLite's booleans) as ``'true'`` and ``'false'``."""
    if value is None:
        return None
    text = str(value)
    return {"1": "true", "0": "false"}.get(text, text)


def fetch_rows(conn: sa.Connection, statement: sa.Executable) -> list[Sequence[Any]]:
    """The rows of ``statement`` whole, as the driver's cursor gives them (no ``Row`` object each).

    For the statements of this module, whose columns have no result processor: the values
    are those of the ``Row`` objects, and a cold read of the hours spends a fifth of its time
    less (a week of the benchmark data on PostgreSQL: 0.04 s instead of 0.10 s in this process).
    """
    result = conn.execute(statement)
    try:
        return list(result.cursor.fetchall())
    finally:
        result.close()


def fetch_group_rows(conn: sa.Connection, lo: dt.datetime, hi: dt.datetime, *, sla_s: float) -> list[Sequence[Any]]:
    """The rows of :func:`aggregate_query` and then :func:`products_query` over ``[lo, hi)``, as the driver gives them.

    Each row: type, hour bucket (:func:`hour_of`), the seven identifiers (``k1`` and ``k2`` before
    :func:`key_text`), then the sums of :data:`MEASURES` (NULL where a group has none). Fetched whole
    (:func:`fetch_rows`): a row at a time costs more than the statement on SQLite.
    """
    jsonb = payload_is_jsonb(conn)
    if conn.dialect.name == "postgresql":
        # hash the groups in memory (a parallel scan with partial hash aggregates): the planner
        # overestimates their number (a product of the keys' distinct values) and would sort
        # every row instead; JIT compilation costs more than it saves
        conn.exec_driver_sql(f"SET LOCAL work_mem = '{WORK_MEM}'")
        conn.exec_driver_sql("SET LOCAL enable_sort = off")
        conn.exec_driver_sql("SET LOCAL enable_incremental_sort = off")
        conn.exec_driver_sql("SET LOCAL jit = off")
    groups = fetch_rows(conn, aggregate_query(conn.dialect.name, lo, hi, sla_s, jsonb=jsonb))
    return groups + fetch_rows(conn, products_query(conn.dialect.name, lo, hi, jsonb=jsonb))


def fetch_aggregates(conn: sa.Connection, lo: dt.datetime, hi: dt.datetime, *, sla_s: float) -> list[Aggregate]:
    """The aggregates of the events in ``[lo, hi)`` (with the order products), in a deterministic order."""
    names = list(MEASURES)
    out = [
        Aggregate(
            type=type_,
            hour=hour_of(hour),
            automation_id=automation_id,
            process_id=process_id,
            touchpoint_id=touchpoint_id,
            actor=actor,
            dataset=dataset,
            k1=key_text(k1),
            k2=key_text(k2),
            sums={name: float(value) for name, value in zip(names, sums, strict=True) if value},
        )
        for type_, hour, automation_id, process_id, touchpoint_id, actor, dataset, k1, k2, *sums
        in fetch_group_rows(conn, lo, hi, sla_s=sla_s)
    ]
    out.sort(key=order)
    return out


def order(item: Aggregate) -> tuple[Any, ...]:
    """The deterministic order of aggregates (type, hour, then the identifiers)."""
    return (
        item.type,
        item.hour,
        *(str(v) for v in (item.automation_id, item.process_id, item.touchpoint_id, item.actor, item.dataset, item.k1, item.k2)),
    )


def _sample_value(distributions: Iterable[str]) -> tuple[sa.ColumnElement[Any], list[str]]:
    """The value of an event of ``distributions`` (its field by its type) and those types."""
    e = events.c
    chosen = {name: DISTRIBUTIONS[name] for name in distributions}
    whens = [(e.type == type_, e.data[field_].as_float()) for type_, field_ in chosen.values()]
    return sa.case(*whens, else_=sa.null()), [type_ for type_, _ in chosen.values()]


def samples_query(dialect: str, lo: dt.datetime, hi: dt.datetime, distributions: Iterable[str]) -> sa.Select[Any]:
    """The values of ``distributions`` in ``[lo, hi)``, grouped by hour, automation, process and value, counted.

    One statement over the rows of the distributions' event types (the ``(type, time)``
    index); an event without the field (null) has no value and is left out (the event
    contract makes the field a number wherever it is present).
    """
    e = events.c
    value, types = _sample_value(distributions)
    hour = hour_bucket(dialect)
    grouped = (
        sa.select(e.type.label("type"), hour.label("hour"), e.automation_id.label("automation_id"),
                  e.process_id.label("process_id"), value.label("value"), sa.func.count().label("n"))
        .where(e.type.in_(types), e.time >= lo, e.time < hi)
        .group_by(*(sa.literal_column(str(position)) for position in range(1, 6)))
        .subquery("samples")
    )
    return sa.select(grouped).where(grouped.c.value.is_not(None))


def sample_values_query(dialect: str, lo: dt.datetime, hi: dt.datetime, distributions: Iterable[str]) -> sa.Select[Any]:
    """The value of each event of ``distributions`` in ``[lo, hi)``: the rows :func:`samples_query` groups and counts.

    Columns: type, hour bucket, automation, process and value (not null), one row per event.
    """
    e = events.c
    value, types = _sample_value(distributions)
    return (
        sa.select(e.type.label("type"), hour_bucket(dialect).label("hour"), e.automation_id.label("automation_id"),
                  e.process_id.label("process_id"), value.label("value"))
        .where(e.type.in_(types), e.time >= lo, e.time < hi, value.is_not(None))
    )


def fetch_samples(
    conn: sa.Connection, lo: dt.datetime, hi: dt.datetime, distributions: Iterable[str] = tuple(DISTRIBUTIONS)
) -> list[Sample]:
    """The samples of ``distributions`` in ``[lo, hi)``, in a deterministic order (none asked: none read).

    Read from the events; the hour-aggregate cache keeps the same rows per closed hour
    (:func:`alignwatch.metrics.hourcache.cached_columns`).
    """
    wanted = sorted(set(distributions))
    if not wanted:
        return []
    by_type = {DISTRIBUTIONS[name][0]: name for name in wanted}
    out = [
        Sample(by_type[row.type], hour_of(row.hour), row.automation_id, row.process_id, float(row.value), int(row.n))
        for row in conn.execute(samples_query(conn.dialect.name, lo, hi, wanted))
    ]
    out.sort(key=lambda s: (s.distribution, s.hour, str(s.automation_id), str(s.process_id), s.value))
    return out


def _parse_time(value: Any, fallback: dt.datetime) -> dt.datetime:
    if isinstance(value, str):
        try:
            parsed = dt.datetime.fromisoformat(value)
        except ValueError:
            return fallback
        return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=dt.UTC)
    return fallback


def fetch_reconfigurations(conn: sa.Connection, lo: dt.datetime, hi: dt.datetime) -> list[Reconfiguration]:
    """``automation.reconfigured`` events of ``[lo, hi)``, each with its initiative's start.

    The initiatives are looked up by id among ``strategy.initiative`` events of any time
    (a rare type: the ``(type, time)`` index yields them directly).
    """
    e = events.c
    rows = conn.execute(
        sa.select(e.automation_id, e.case_id, e.time, e.data)
        .where(e.type == "automation.reconfigured", e.time >= lo, e.time < hi)
        .order_by(e.time, e.source, e.event_id)
    ).all()
    wanted = sorted({row.case_id for row in rows if row.case_id is not None})
    started: dict[str, dt.datetime] = {}
    if wanted:
        for row in conn.execute(
            sa.select(e.case_id, e.time, e.data)
            .where(e.type == "strategy.initiative", e.case_id.in_(wanted))
            .order_by(e.time, e.source, e.event_id)
        ):
            started.setdefault(row.case_id, _parse_time((row.data or {}).get("started_at"), row.time))
    return [
        Reconfiguration(
            automation_id=row.automation_id,
            initiative_id=row.case_id,
            time=row.time,
            deployed_at=_parse_time((row.data or {}).get("deployed_at"), row.time),
            initiative_started_at=started.get(row.case_id) if row.case_id else None,
        )
        for row in rows
    ]


def in_hours(aggregates: Iterable[Aggregate], lo: int, hi: int) -> list[Aggregate]:
    """The aggregates whose hour bucket lies in ``[lo, hi)``."""
    return [a for a in aggregates if lo <= a.hour < hi]


def of_type(aggregates: Sequence[Aggregate], type_name: str) -> list[Aggregate]:
    """The aggregates of one event type."""
    return [a for a in aggregates if a.type == type_name]
