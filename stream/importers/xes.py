"""Import an XES event log (IEEE 1849) as alignwatch events.

The log is streamed with lxml's ``iterparse``: one ``<trace>`` at a time is built, turned
into events and cleared, so memory stays flat whatever the size of the log. Per trace:

- ``automation.run`` for every step the mapping calls automated (id ``<case>/<position>/run``,
  subject = the activity, status ``failed`` when the mapping's outcome rule says so);
- ``customer.touchpoint`` for every step whose activity the mapping lists as a touchpoint
  (id ``<case>/<position>/touchpoint``);
- ``finance.entry`` for every step whose activity the mapping says books money (id
  ``<case>/<position>/finance/<n>``; the amount from an event or trace attribute);
- ``customer.order`` for every step whose activity the mapping calls an order (id
  ``<case>/<position>/order/<n>``; the amount from an event or trace attribute);
- ``automation.decision`` once per case and decision mapping: the first step of the
  mapping's automation whose activity is one of its outcomes (id ``<case>/<position>/decision/<n>``),
  with the case's segments (event or trace attributes, numbers banded as declared);
- ``process.execution`` once per case and process (id ``<case>/<process>/execution``,
  time = the case's last step in that process): cycle time from first to last step,
  automated per the mapping's rule, the share of automated steps, errors (failed steps and
  error activities) and rework (an activity repeated within the case).

Beyond the contract's fields (extra payload fields are kept), ``automation.run`` and
``customer.touchpoint`` carry the ``activity`` and ``process.execution`` its ``steps`` and
``automated_steps``, so shares can be re-derived from the store.

Ids derive from the case id and the step's position in its trace, and the source from the
log name, so importing the same log twice yields the same events (the store keeps one).
A malformed file raises ``ImportFormatError`` naming the line and element where it broke.
"""

from __future__ import annotations

import datetime as dt
import gzip
import math
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from lxml import etree

from alignwatch.errors import ImportFormatError
from alignwatch.stream.importers.base import Emitted, ImportStats, event_id, open_log, parse_timestamp
from alignwatch.stream.importers.mapping import DecisionMap, LogMapping

__all__ = ["XesImport", "read_xes"]

# XES attribute elements carrying a single key/value (containers such as <list> are skipped)
_SCALARS = frozenset({"string", "date", "int", "float", "boolean", "id"})


_LOCAL_NAMES: dict[Any, str] = {}


def _local(tag: Any) -> str:
    """The tag without its namespace (``{http://www.xes-standard.org/}event`` -> ``event``)."""
    name = _LOCAL_NAMES.get(tag)
    if name is None:
        text = tag if isinstance(tag, str) else ""
        name = _LOCAL_NAMES[tag] = text[text.rfind("}") + 1 :]
    return name


@dataclass(frozen=True)
class _Step:
    position: int
    line: int | None
    activity: str
    lifecycle: str | None
    time: dt.datetime
    automation: str | None
    failed: bool
    process: str
    customer: str | None
    cost: float | None
    attrs: dict[str, str]


class XesImport:
    """One streaming pass over an XES log; iterate it for the events, then read ``stats``."""

    def __init__(self, path: Path | str, mapping: LogMapping, *, on_read: Callable[[int], None] | None = None) -> None:
        self.path = Path(path)
        self.mapping = mapping
        self.on_read = on_read
        self.stats = ImportStats(log=mapping.log, source=mapping.event_source)
        self._zone = ZoneInfo(mapping.assume_timezone) if mapping.assume_timezone else None
        self._event_keys: set[str] = set()
        self._process_of: dict[str, str | None] = {}
        self._trace_keys: set[str] = set()

    def __iter__(self) -> Iterator[Emitted]:
        handle = open_log(self.path, self.on_read)
        last_line = 0
        try:
            # huge_tree: real logs hold long attribute values; entities and DTDs are never
            # resolved and nothing is fetched, whatever the file asks for
            context = etree.iterparse(
                handle,
                events=("end",),
                tag="{*}trace",
                remove_comments=True,
                huge_tree=True,
                resolve_entities=False,
                load_dtd=False,
                no_network=True,
            )
            for _, trace in context:
                last_line = trace.sourceline or last_line
                yield from self._trace(trace)
                parent = trace.getparent()
                trace.clear(keep_tail=False)
                if parent is not None:
                    while trace.getprevious() is not None:
                        del parent[0]
            root = context.root
        except etree.XMLSyntaxError as exc:
            column = exc.position[1] if exc.position else 0
            raise ImportFormatError(
                f"{self.path}: malformed XES at line {exc.lineno}, column {column}: {exc.msg}"
            ) from None
        except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
            raise ImportFormatError(
                f"{self.path}: the file breaks off after the last complete <trace> (it starts at line "
                f"{last_line}): {exc}"
            ) from None
        finally:
            handle.close()
        if root is None or _local(root.tag) != "log":
            found = _local(root.tag) if root is not None else "nothing"
            raise ImportFormatError(f"{self.path}: not an XES log: root element is <{found}>, expected <log>")
        self._check_mapping_seen()

    # -- one trace ---------------------------------------------------------------------

    def _trace(self, trace: Any) -> Iterator[Emitted]:
        mapping, names = self.mapping, self.mapping.attributes
        case_attrs: dict[str, str] = {}
        raw_steps: list[tuple[int | None, dict[str, str]]] = []
        for child in trace:
            local = _local(child.tag)
            if local == "event":
                attrs = {
                    a.get("key"): a.get("value", "")
                    for a in child
                    if _local(a.tag) in _SCALARS and a.get("key") is not None
                }
                raw_steps.append((child.sourceline, attrs))
            elif local in _SCALARS and child.get("key") is not None:
                case_attrs[child.get("key")] = child.get("value", "")
        self._trace_keys.update(case_attrs)
        case_id = case_attrs.get(names.case)
        if not case_id:
            raise ImportFormatError(
                f"{self.path}: line {trace.sourceline}: <trace> has no attribute {names.case!r} "
                f"(mapping attributes.case); trace attributes seen: {_listed(case_attrs)}"
            )
        self.stats.cases += 1
        steps: list[_Step] = []
        for position, (line, attrs) in enumerate(raw_steps):
            self._event_keys.update(attrs)
            steps.append(self._step(case_id, case_attrs, position, line, attrs))
        resolved = (
            any(step.activity in mapping.resolved_activities for step in steps)
            if mapping.resolved_activities
            else True
        )
        by_process: dict[str, list[_Step]] = {}
        for step in steps:
            by_process.setdefault(step.process, []).append(step)
            if step.automation is not None and mapping.automation_runs:
                yield self._emit(
                    "automation.run",
                    event_id(case_id, step.position, "run"),
                    step.time,
                    {
                        "automation_id": step.automation,
                        "process_id": step.process,
                        "case_id": case_id,
                        "status": "failed" if step.failed else "succeeded",
                        "duration_s": 0.0,
                        "manual_intervention": False,
                        "activity": step.activity,
                        **({"cost": step.cost} if step.cost is not None else {}),
                    },
                    subject=step.activity,
                )
            for index, booking in enumerate(mapping.finance):
                if booking.activity != step.activity:
                    continue
                raw = step.attrs.get(booking.amount, case_attrs.get(booking.amount))
                if raw in (None, ""):
                    continue
                where = f"{self.path}: line {step.line}: attribute {booking.amount!r} (mapping finance[{index}].amount)"
                data: dict[str, Any] = {"kind": booking.kind, "amount": _amount(raw, where), "case_id": case_id}
                if booking.automation_id:
                    data["automation_id"] = booking.automation_id
                yield self._emit(
                    "finance.entry",
                    event_id(case_id, step.position, "finance", index),
                    step.time,
                    data,
                    subject=step.activity,
                )
            for index, order in enumerate(mapping.orders):
                if order.activity != step.activity:
                    continue
                raw = step.attrs.get(order.amount, case_attrs.get(order.amount))
                if raw in (None, ""):
                    continue
                where = f"{self.path}: line {step.line}: attribute {order.amount!r} (mapping orders[{index}].amount)"
                yield self._emit(
                    "customer.order",
                    event_id(case_id, step.position, "order", index),
                    step.time,
                    {
                        "customer_id": step.customer or case_id,
                        "order_id": event_id(case_id, step.position),
                        "amount": _amount(raw, where),
                        "repeat": False,
                        "case_id": case_id,
                    },
                    subject=step.activity,
                )
            touchpoint = mapping.touchpoints.get(step.activity)
            if touchpoint is not None:
                yield self._emit(
                    "customer.touchpoint",
                    event_id(case_id, step.position, "touchpoint"),
                    step.time,
                    {
                        "touchpoint_id": touchpoint.touchpoint_id,
                        "customer_id": step.customer or case_id,
                        "channel": touchpoint.channel,
                        "handled_by": "automation" if step.automation else "human",
                        "resolved": resolved and not step.failed,
                        "escalation_requested": False,
                        "case_id": case_id,
                        "activity": step.activity,
                    },
                    subject=step.activity,
                )
        for index, decision in enumerate(mapping.decisions):
            emitted = self._decision(case_id, case_attrs, steps, index, decision)
            if emitted is not None:
                yield emitted
        for process_id, process_steps in by_process.items():
            yield self._execution(case_id, process_id, process_steps)

    def _decision(
        self, case_id: str, case_attrs: dict[str, str], steps: list[_Step], index: int, decision: DecisionMap
    ) -> Emitted | None:
        """The automation's decision on the case: its first step that is an outcome (None: it did not decide)."""
        step = next((s for s in steps if s.automation == decision.automation_id and s.activity in decision.outcomes), None)
        if step is None:
            return None
        segments: dict[str, str] = {}
        for name, segment in decision.segments.items():
            raw = step.attrs.get(segment.attribute, case_attrs.get(segment.attribute))
            if raw in (None, ""):
                continue  # the case is left out of that dimension's comparison
            where = f"{self.path}: line {step.line}: attribute {segment.attribute!r} (mapping decisions[{index}].segments.{name})"
            segments[name] = segment.band(_amount(raw, where)) if segment.bands else raw
        return self._emit(
            "automation.decision",
            event_id(case_id, step.position, "decision", index),
            step.time,
            {
                "automation_id": decision.automation_id,
                "process_id": step.process,
                "case_id": case_id,
                "outcome": decision.outcomes[step.activity],
                "segments": segments,
                "activity": step.activity,
            },
            subject=step.activity,
        )

    def _step(
        self, case_id: str, case_attrs: dict[str, str], position: int, line: int | None, attrs: dict[str, str]
    ) -> _Step:
        mapping, names = self.mapping, self.mapping.attributes
        for path, key in names.required().items():
            if key not in attrs:
                raise ImportFormatError(
                    f"{self.path}: line {line}: <event> {position} of case {case_id!r} has no attribute "
                    f"{key!r} (mapping {path}); event attributes seen: {_listed(attrs)}"
                )
        activity = attrs[names.activity]
        where = f"{self.path}: line {line}: <event> {position} of case {case_id!r}"
        moment = parse_timestamp(attrs[names.timestamp], self._zone, where)
        try:
            process = self._process_of[activity]
        except KeyError:
            process = self._process_of[activity] = mapping.process_of(activity)
        if process is None:
            raise ImportFormatError(
                f"{where}: activity {activity!r} belongs to no process of the mapping; "
                "list it under processes or set default_process"
            )
        resource = attrs.get(names.resource) if names.resource else None
        automation = mapping.automation_of(activity, resource, attrs)
        failed = mapping.failed(attrs)
        customer = None
        if names.customer:
            customer = attrs.get(names.customer) or case_attrs.get(names.customer)
        stats = self.stats
        stats.events += 1
        stats.saw_time(moment)
        stats.steps_by_activity[activity] += 1
        if automation is not None:
            stats.automated_steps += 1
            stats.automated_by_activity[activity] += 1
        if failed:
            stats.failed_steps += 1
        lifecycle = attrs.get(names.lifecycle) if names.lifecycle else None
        cost = None
        if names.cost and attrs.get(names.cost) not in (None, ""):
            cost = _amount(attrs[names.cost], f"{where}: attribute {names.cost!r} (mapping attributes.cost)")
        return _Step(position, line, activity, lifecycle, moment, automation, failed, process, customer, cost, attrs)

    def _execution(self, case_id: str, process_id: str, steps: list[_Step]) -> Emitted:
        times = [step.time for step in steps]
        automated = sum(1 for step in steps if step.automation is not None)
        rule = self.mapping.process_automated
        if rule == "all":
            is_automated = automated == len(steps)
        elif rule == "majority":
            is_automated = automated * 2 > len(steps)
        else:
            is_automated = automated > 0
        seen: set[tuple[str, str | None]] = set()
        rework = 0
        for step in steps:
            key = (step.activity, step.lifecycle)
            rework += key in seen
            seen.add(key)
        errors = sum(1 for step in steps if step.failed or step.activity in self.mapping.error_activities)
        return self._emit(
            "process.execution",
            event_id(case_id, process_id, "execution"),
            max(times),
            {
                "process_id": process_id,
                "case_id": case_id,
                "automated": is_automated,
                "cycle_time_s": max(0.0, (max(times) - min(times)).total_seconds()),
                "errors": errors,
                "rework": rework,
                "automated_share": automated / len(steps),
                "steps": len(steps),
                "automated_steps": automated,
            },
        )

    def _emit(
        self, type_: str, id_: str, time: dt.datetime, data: dict[str, Any], subject: str | None = None
    ) -> Emitted:
        self.stats.emitted[type_] += 1
        return Emitted(type=type_, id=id_, time=time, data=data, subject=subject)

    def _check_mapping_seen(self) -> None:
        """Attributes the mapping names must occur in the log: a typo is an error, not zeros."""
        if self.stats.events == 0:
            raise ImportFormatError(f"{self.path}: the log has no events (no <trace> with <event>s)")
        named = dict(self.mapping.attributes.optional())
        for index, rule in enumerate(self.mapping.automated):
            if rule.attribute:
                named[f"automated[{index}].attribute"] = rule.attribute
        if self.mapping.outcome is not None:
            named["outcome.attribute"] = self.mapping.outcome.attribute
        for path, key in named.items():
            if key not in self._event_keys and not (
                path == "attributes.customer" and key in self._trace_keys
            ):
                raise ImportFormatError(
                    f"{self.path}: mapping {path} names attribute {key!r}, which no event in the log "
                    f"has; event attributes seen: {_listed(self._event_keys)}"
                )
        amounts = [(f"finance[{i}].amount", b.amount) for i, b in enumerate(self.mapping.finance)]
        amounts += [(f"orders[{i}].amount", o.amount) for i, o in enumerate(self.mapping.orders)]
        for path, key in amounts:
            if key not in self._event_keys and key not in self._trace_keys:
                raise ImportFormatError(
                    f"{self.path}: mapping {path} names attribute {key!r}, which neither events nor traces "
                    f"have; trace attributes seen: {_listed(self._trace_keys)}"
                )
        activities = set(self.stats.steps_by_activity)
        booked = [b.activity for b in self.mapping.finance] + [o.activity for o in self.mapping.orders]
        decided = [activity for d in self.mapping.decisions for activity in d.outcomes]
        for activity in list(self.mapping.touchpoints) + booked + decided:
            if activity not in activities:
                raise ImportFormatError(
                    f"{self.path}: mapping names activity {activity!r} (touchpoints, finance, orders or decisions), which the log never "
                    f"has; activities seen: {_listed(activities)}"
                )


def _amount(raw: str, where: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise ImportFormatError(f"{where}: {raw!r} is not a number") from None
    if not math.isfinite(value) or value < 0:
        raise ImportFormatError(f"{where}: {raw!r} must be a finite number >= 0")
    return value


def read_xes(path: Path | str, mapping: LogMapping) -> tuple[list[Emitted], ImportStats]:
    """All events of a (small) log at once, with its statistics; for tests and tools."""
    run = XesImport(path, mapping)
    emitted = list(run)
    return emitted, run.stats


def _listed(keys: Any) -> str:
    names = sorted(keys)
    shown = ", ".join(names[:30])
    return shown + (f", ... ({len(names)} in all)" if len(names) > 30 else "") if names else "(none)"
