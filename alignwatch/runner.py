"""The supervisor behind ``alignwatch run``: the whole pipeline on one machine.

Components, each started by :class:`Supervisor` and stopped by it, in reverse order:

- **broker**: an embedded Tansu broker (in memory, free loopback port) unless external
  bootstrap servers are configured;
- **store**: migrated on start (SQLite under ``./var/`` by default, PostgreSQL in production)
  and claimed for the strategy's business, or refused when it serves another one
  (``alignwatch.store.business``; ``allow_business_mismatch`` in the settings lets it through);
- **consumer**: the ingestion consume loop (``alignwatch.stream.consumer.IngestConsumer``) in a
  thread, in the settings' consumer group (the CLI gives each demo run a group of its own);
  when the group assigns it no partition in time, the live view and the log say so;
- **aggregation**: every ``interval_s`` the continuous task of the Airflow DAG
  (``alignwatch.pipeline.continuous_task``), the same function the DAG calls, so what the
  embedded schedule publishes is what Airflow would publish; or, with ``airflow=True``,
  Airflow's scheduler, DAG processor, triggerer and API server running the project's DAGs
  instead, on loopback (``alignwatch.airflow_launch``);
- **exporter**: ``/metrics`` on 127.0.0.1 (``alignwatch.metrics.exporter``, served by
  ``alignwatch.metrics.server``) with the ingestion instruments on the same registry;
- **simulator** (demo only): replays a scenario's days over a compressed timeline; the
  aggregation then follows the simulated clock: it cycles at least once per simulated day
  (as the hourly DAG publishes many times a day), and its runs are stamped on that clock,
  so the checklist's ``continuous_monitoring``, which counts the runs published in the two
  days up to a window's end, sees them as production's would be seen.

After every published cycle the live view shows the alerts Prometheus would fire from the
same rules (``alignwatch.metrics.rules.alert_specs``) on the newest published values, evaluated
in-process (:func:`alignwatch.summary.firing_lines`), pages first.

A duration stops the run by itself; SIGINT/SIGTERM stop it cleanly (signal handlers set a
stop event; ``atexit`` stops any child process still alive; the broker and Airflow run in
sessions of their own, the broker is ended by PID, Airflow with every process of its
session: ``alignwatch.processes``).
At the end a last aggregation cycle runs, the owner's report is written, and the exit status
is non-zero if any component failed.
"""

from __future__ import annotations

import atexit
import datetime as dt
import logging
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from prometheus_client import CollectorRegistry

from alignwatch.airflow_launch import AIRFLOW_LOG, launch_airflow
from alignwatch.config import Settings
from alignwatch.errors import AlignwatchError, ConfigError
from alignwatch.expectations.runner import gx_context
from alignwatch.live import Cycle, Status
from alignwatch.metrics import exporter, server
from alignwatch.metrics.report import latest_window_end, write_report
from alignwatch.metrics.rules import alert_specs, firing_alerts, inputs_from_strategy, metric_names, samples_from_values
from alignwatch.metrics.runs import latest_snapshot
from alignwatch.metrics.scorecard import build_scorecard
from alignwatch.metrics.strategy import Strategy
from alignwatch.pipeline import continuous_task
from alignwatch.processes import stop_session
from alignwatch.store import connect, upgrade
from alignwatch.store.business import claim_business
from alignwatch.store.schema import events, pipeline_runs
from alignwatch.stream.broker import TansuBroker, ensure_topics
from alignwatch.stream.consumer import build_consumer, kafka_producer
from alignwatch.stream.contract import RejectReason
from alignwatch.stream.health import INSTRUMENTS, PipelineMetrics
from alignwatch.stream.simulator import messages
from alignwatch.summary import firing_lines, summarise_scorecard

__all__ = ["RunOptions", "RunResult", "Supervisor", "floor_time"]

log = logging.getLogger(__name__)


# how long a stopping component may take before it is said to be awaited, and before it is a failure
# (on a loaded two-core machine an aggregation cycle, or importing Great Expectations, took more than 30 s)
STOP_NOTICE_S = 5.0
STOP_TIMEOUT_S = 120.0


@dataclass(frozen=True)
class RunOptions:
    """How ``alignwatch run`` runs; built by the CLI from its options."""

    scenario: str | None = "bakery"  # None: no simulator (production)
    duration_s: float | None = None  # None: until stopped
    interval_s: float = 15.0  # seconds between aggregation cycles
    story_s: float = 60.0  # real seconds over which the simulated days are replayed
    days: int = 28  # simulated days
    events: int = 12000  # simulated events in total
    seed: int = 7
    embedded_broker: bool = True
    airflow: bool = False
    var_dir: Path = Path("var")
    report_path: Path | None = None
    window: str = "7d"  # window of the scorecard shown live and in the report


@dataclass
class RunResult:
    """What a run did: its final status and the failures that make the exit status non-zero."""

    status: Status
    failures: list[str] = field(default_factory=list)
    report: Path | None = None
    #: with the simulator: the simulated days, [start, end) (UTC midnights), whether or not all were replayed
    story: tuple[dt.datetime, dt.datetime] | None = None

    @property
    def exit_code(self) -> int:
        return 1 if self.failures else 0


def floor_time(when: dt.datetime, step: dt.timedelta) -> dt.datetime:
    """``when`` rounded down to a multiple of ``step`` since the epoch (UTC)."""
    epoch = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    return epoch + ((when - epoch) // step) * step


class _Clock:
    """The pipeline's notion of "now": real time, or the simulator's compressed timeline."""

    def __init__(self, start: dt.datetime | None = None, days: int = 0, story_s: float = 1.0) -> None:
        self.start = start
        self.days = days
        self.story_s = story_s
        self._t0 = time.monotonic()

    def reset(self) -> None:
        self._t0 = time.monotonic()

    @property
    def simulated(self) -> bool:
        return self.start is not None

    @property
    def end(self) -> dt.datetime | None:
        return None if self.start is None else self.start + dt.timedelta(days=self.days)

    def now(self) -> dt.datetime:
        if self.start is None:
            return dt.datetime.now(dt.UTC)
        progress = min(1.0, (time.monotonic() - self._t0) / self.story_s)
        return self.start + dt.timedelta(days=self.days) * progress


class Supervisor:
    """Starts, watches and stops every component of a run. Dependencies come in as arguments.

    ``settings`` carry the broker, store, topics and exporter address; ``strategy`` is the
    loaded strategy; ``emit`` receives plain progress lines (the CLI prints them when the
    output is not a terminal), ``on_status`` every status update (the CLI's live view).
    """

    def __init__(
        self,
        settings: Settings,
        strategy: Strategy,
        options: RunOptions,
        *,
        emit: Callable[[str], None] = print,
        on_status: Callable[[Status], None] | None = None,
    ) -> None:
        self.settings = settings
        self.strategy = strategy
        self.options = options
        self.emit = emit
        self.on_status = on_status
        self.status = Status(
            business=str(getattr(getattr(strategy, "business", None), "name", "business")),
            scenario=options.scenario,
            started=dt.datetime.now(dt.UTC),
        )
        self.failures: list[str] = []
        self.stop_event = threading.Event()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._children: list[subprocess.Popen[bytes]] = []
        self._broker: Any = None
        self._consumer: Any = None
        self._exporter: Any = None
        self._engine: Any = None
        self._registry: Any = None
        self._pipeline_metrics: Any = None
        self._clock = _Clock()
        self._last_end: dt.datetime | None = None
        self._started = False  # every component started
        self._stored_at_cycle = 0  # events stored when the last published cycle started
        self._cycle_lock = threading.Lock()
        self._rate_mark: tuple[float, int] = (time.monotonic(), 0)
        self._alert_specs: list[Any] | None = None

    # ------------------------------------------------------------------ lifecycle

    def run(self) -> RunResult:
        """Start everything, wait for the duration or a stop signal, stop everything."""
        deadline = None if self.options.duration_s is None else time.monotonic() + self.options.duration_s
        previous = self._install_signal_handlers()
        atexit.register(self._kill_children)
        report: Path | None = None
        try:
            self._start()
            self._started = True
            while not self.stop_event.is_set():
                if deadline is not None and time.monotonic() >= deadline:
                    break
                self._refresh()
                self.stop_event.wait(0.5 if deadline is None else max(0.0, min(0.5, deadline - time.monotonic())))
            self.status.message = "stopping"
        except AlignwatchError as exc:
            self._fail("startup", str(exc))
        except Exception as exc:  # noqa: BLE001 - any crash of a component is reported and ends the run
            log.debug("run failed", exc_info=True)
            self._fail("supervisor", f"{type(exc).__name__}: {exc}")
        finally:
            self.stop_event.set()
            report = self._shutdown()
            self._restore_signal_handlers(previous)
            atexit.unregister(self._kill_children)
        story = (self._clock.start, self._clock.end) if self._clock.start is not None and self._clock.end is not None else None
        return RunResult(self.status, list(self.failures), report, story)

    def _start(self) -> None:
        options, settings = self.options, self.settings
        options.var_dir.mkdir(parents=True, exist_ok=True)
        # the store
        self._engine = connect(settings.store_url)
        upgrade(self._engine)
        claim_business(
            self._engine, self.strategy.business.name, by="alignwatch run", allow_mismatch=settings.allow_business_mismatch
        )
        self.status.store_url = self._engine.url.render_as_string(hide_password=True)
        self._component("store", "running")
        # the broker
        if options.embedded_broker:
            self._broker = TansuBroker(log_dir=options.var_dir / "tansu").start()
            self.settings = settings = settings.model_copy(update={"bootstrap_servers": [self._broker.bootstrap]})
            self.emit(f"broker: Tansu pid {self._broker.pid} at {self._broker.bootstrap}")
        self.status.bootstrap = ",".join(settings.bootstrap_servers)
        self._ensure_topics()
        self._component("broker", "running")
        # the exporter (with the ingestion instruments on its registry)
        self._start_exporter()
        # the consumer
        self._start_consumer()
        # the aggregation
        if options.airflow:
            self._start_airflow()
        else:
            self._thread("aggregation", self._aggregation_loop)
        # the simulator
        if options.scenario:
            self._start_simulator()
        self.status.report_path = str(self._report_path().resolve())
        self.emit(f"report: will be written to {self.status.report_path}")

    def _shutdown(self) -> Path | None:
        """Stop the components in reverse order; run a last cycle; write the report."""
        self.status.message = "stopping"
        if self._consumer is not None:
            self._consumer.stop()
        for thread in self._threads:
            thread.join(timeout=STOP_NOTICE_S)
            if thread.is_alive():
                # a cycle in progress, or the first import of the validation library, which
                # cannot be interrupted: say what is awaited, then wait for it
                self.emit(f"stopping: waiting for the {thread.name} to finish what it is doing")
                thread.join(timeout=STOP_TIMEOUT_S - STOP_NOTICE_S)
            if thread.is_alive():
                self._fail(thread.name, f"did not stop within {STOP_TIMEOUT_S:.0f} s")
        for name, state in list(self.status.components.items()):
            if state == "running" and name in ("consumer", "aggregation", "simulator", "scorecard", "airflow-watch"):
                self._component(name, "stopped")
        report = None
        if self._engine is not None and not self.options.airflow and self._new_events():
            try:
                self._cycle(final=True)
            except Exception as exc:  # noqa: BLE001 - reported, the run still ends cleanly
                self._fail("aggregation", f"last cycle: {type(exc).__name__}: {exc}")
        if self._engine is not None and self._started:
            try:
                report = self._write_report()
            except Exception as exc:  # noqa: BLE001 - reported as a failure of the report
                self._fail("report", f"{type(exc).__name__}: {exc}")
        if self._exporter is not None:
            self._exporter.stop()
            self._component("exporter", "stopped")
        self._stop_children()
        if self._broker is not None:
            # Tansu waits ~5 s on SIGTERM once clients have connected; in memory, nothing is lost by killing it
            self._broker.stop(timeout_s=1.0)
            self._component("broker", "stopped")
        if self._engine is not None:
            self._engine.dispose()
            self._component("store", "closed")
        self._publish_status()
        return report

    # ------------------------------------------------------------------ components

    def _component(self, name: str, state: str) -> None:
        with self._lock:
            self.status.components[name] = state

    def _fail(self, name: str, reason: str) -> None:
        reason = reason.strip().splitlines()[0] if reason.strip() else "failed"
        with self._lock:
            self.failures.append(f"{name}: {reason}")
            self.status.components[name] = f"failed: {reason}"
        self.emit(f"error: {name} failed: {reason}")
        self.stop_event.set()

    def _thread(self, name: str, target: Callable[[], None]) -> None:
        def guarded() -> None:
            try:
                target()
            except AlignwatchError as exc:
                self._fail(name, str(exc))
            except Exception as exc:  # noqa: BLE001 - a crashed component fails the run, with its reason
                log.debug("%s crashed", name, exc_info=True)
                self._fail(name, f"{type(exc).__name__}: {exc}")

        thread = threading.Thread(target=guarded, name=name, daemon=True)
        self._threads.append(thread)
        self._component(name, "running")
        thread.start()

    def _ensure_topics(self) -> None:
        if self.settings.topic_pattern:
            return
        topics = list(self.settings.topics)
        ensure_topics(
            self.settings.bootstrap_servers,
            [*topics, *(f"{topic}{self.settings.dlq_suffix}" for topic in topics)],
            partitions=1,
            **self.settings.kafka_security(),
        )

    def _start_exporter(self) -> None:
        self._registry = registry = CollectorRegistry()
        self._pipeline_metrics = PipelineMetrics(registry, reasons=tuple(str(reason) for reason in RejectReason))
        registry.register(exporter.build_collector(self._engine, self.strategy, ttl_s=min(15.0, self.options.interval_s)))
        web_config = server.load_web_config(self.settings.exporter_web_config) if self.settings.exporter_web_config else None
        try:
            self._exporter = server.serve(
                registry, host=self.settings.exporter_host, port=self.settings.exporter_port, web_config=web_config
            )
        except ConfigError:
            if not self.options.scenario:
                raise
            # the demo must not fail because the usual port is taken: take a free one
            self._exporter = server.serve(registry, host=self.settings.exporter_host, port=0, web_config=web_config)
        self.status.metrics_url = self._exporter.url
        self._component("exporter", "running")
        self.emit(f"exporter: {self._exporter.url}")

    def _start_consumer(self) -> None:
        self._consumer = build_consumer(
            self.settings, self._engine, self._pipeline_metrics, live=not self.options.scenario
        )
        self.status.group = self.settings.consumer_group
        self.emit(f"consumer: group {self.settings.consumer_group} on {self.status.bootstrap}")
        self._thread("consumer", self._consume)

    def _consume(self) -> None:
        try:
            report = self._consumer.run()
        finally:
            self._consumer.producer.close(timeout=5)
        if not self.stop_event.is_set():
            raise AlignwatchError(f"the consume loop ended unexpectedly ({report.line()})")

    def _start_simulator(self) -> None:
        options = self.options
        start = floor_time(dt.datetime.now(dt.UTC), dt.timedelta(days=1)) - dt.timedelta(days=options.days)
        self._clock = _Clock(start, options.days, options.story_s)
        self.status.planned = options.events
        self._thread("simulator", lambda: self._simulate(start))

    def _simulate(self, start: dt.datetime) -> None:
        """Send the scenario's messages (valid, duplicate and malformed) as the simulated clock reaches them."""
        options = self.options
        assert options.scenario is not None
        planned = list(messages(options.scenario, options.seed, start, options.days, options.events, strategy=self.strategy))
        self.status.planned = len(planned)
        producer = kafka_producer(self.settings)
        topic = self.settings.topics[0]
        self._clock.reset()
        sent = 0
        try:
            while sent < len(planned) and not self.stop_event.is_set():
                now = self._clock.now()
                while sent < len(planned):
                    message = planned[sent]
                    if message.event is not None and _event_time(message.event["time"]) > now:
                        break
                    producer.send(topic, value=message.value, key=message.key, headers=message.headers or None)
                    sent += 1
                self.status.produced = sent
                producer.flush(timeout=10)
                self.stop_event.wait(0.2)
            producer.flush(timeout=10)
        finally:
            producer.close(timeout=5)
        self.status.produced = sent
        self._component("simulator", "finished" if sent == len(planned) else "stopped")

    def _start_airflow(self) -> None:
        airflow = launch_airflow(self.settings, self.options.var_dir)
        self._children.append(airflow.process)
        self._component("airflow", "running")
        self.emit(f"airflow: pid {airflow.process.pid}, {airflow.url} (log {self.options.var_dir / AIRFLOW_LOG}; "
                  f"user admin, password in {airflow.passwords_file})")
        self._thread("airflow-watch", lambda: self._watch_child("airflow", airflow.process))
        self._thread("scorecard", self._scorecard_loop)

    def _watch_child(self, name: str, process: subprocess.Popen[bytes]) -> None:
        while not self.stop_event.is_set():
            if process.poll() is not None:
                raise AlignwatchError(f"exited with status {process.returncode}")
            self.stop_event.wait(1.0)

    def _scorecard_loop(self) -> None:
        """With Airflow: show the runs its DAGs record and the scorecard, every ``interval_s``."""
        while not self.stop_event.wait(self.options.interval_s):
            self._poll_runs()
            published = latest_window_end(self._engine)
            if published is not None:
                self._update_scorecard(published, validated=True)
                self._update_alerts()
            else:
                # nothing published yet: the numbers are computed from the events, and say so
                self._update_scorecard(self._clock.now(), validated=False)

    def _poll_runs(self) -> None:
        """The finished runs recorded in the store since this run started (Airflow's cycles)."""
        query = (
            sa.select(pipeline_runs.c.id, pipeline_runs.c.status, pipeline_runs.c.interval_end,
                      pipeline_runs.c.started_at, pipeline_runs.c.finished_at, pipeline_runs.c.kind)
            .where(pipeline_runs.c.started_at >= self.status.started, pipeline_runs.c.finished_at.is_not(None))
            .order_by(pipeline_runs.c.id)
        )
        with self._engine.connect() as conn:
            rows = conn.execute(query).all()
        cycles = [
            Cycle(row.id, row.status, row.interval_end, (row.finished_at - row.started_at).total_seconds(), row.kind)
            for row in rows
        ]
        with self._lock:
            self.status.cycles = cycles

    # ------------------------------------------------------------------ aggregation

    def _aggregation_loop(self) -> None:
        """Run the continuous task every ``interval_s`` seconds until stopped."""
        # load the validation context (Great Expectations) now, while the consumer joins its
        # group, so that the first cycle takes as long as the others
        gx_context()
        began = time.monotonic()
        # cycles start every period (a cycle longer than the period is followed by the next at once)
        while not self.stop_event.wait(max(0.0, began + self._cycle_period() - time.monotonic())):
            began = time.monotonic()
            self._cycle()

    def _cycle_period(self) -> float:
        """Seconds between cycle starts: ``interval_s``, and on the simulated clock at most a simulated day.

        The demo's 28 days pass in about a minute: cycles 15 real seconds apart would be a
        week apart on the simulated timeline, and every window would find no run published
        in the two days before it, a failed ``continuous_monitoring`` that production, with
        its hourly DAG, never shows.
        """
        if not self._clock.simulated:
            return self.options.interval_s
        return min(self.options.interval_s, self._clock.story_s / self._clock.days)

    def _cycle(self, *, final: bool = False) -> None:
        """One aggregation cycle: the continuous task over the hours closed since the last one.

        On the real clock that is the DAG's data interval. On the simulator's compressed
        clock (a simulated day every couple of seconds) a cycle covers only the hour that
        closed last, which the task extends to the last 24 hours, and the rolling 7-day and
        28-day windows ending there: hour windows between two cycles are skipped, the
        rolling windows (what the scorecard and the SAI read) are exact at every cycle.
        """
        with self._cycle_lock:
            end = self._clock.now()
            story_told = final and self._clock.simulated and self.status.produced >= self.status.planned
            if story_told:
                end = self._clock.end or end  # the consumer has stopped: the store holds all it will
            elif self._clock.simulated:
                # a second of consumer lag is most of a simulated day: aggregate only the hours
                # the store already holds, never the ones still on their way
                end = min(end, self._newest_event_time() or end)
            end = floor_time(end, dt.timedelta(hours=1))
            if self._last_end is not None and end <= self._last_end:
                if not final:
                    return
                end = self._last_end  # recompute the last hour: late events are folded in
            start = self._last_end if self._last_end is not None and self._last_end < end else end - dt.timedelta(hours=1)
            if self._clock.simulated:
                start = max(start, end - dt.timedelta(hours=1))
            began = time.monotonic()
            stored = self._consumer.report.stored if self._consumer is not None else 0
            # on the simulator's clock the runs are stamped on the simulated timeline (as
            # their windows are), so the runs a window counts are the ones before its end
            allow = self.settings.allow_business_mismatch
            if self._clock.simulated:
                outcome = continuous_task(
                    self._engine, self.strategy, start=start, end=end, trigger="alignwatch run", clock=self._clock.now,
                    allow_business_mismatch=allow,
                )  # fmt: skip
            else:
                outcome = continuous_task(self._engine, self.strategy, start=start, end=end, trigger="alignwatch run",
                                          allow_business_mismatch=allow)  # fmt: skip
            seconds = time.monotonic() - began
            status = str(outcome.status)
            with self._lock:
                self.status.cycles.append(Cycle(outcome.run_id, status, end, seconds, outcome.detail))
            failed = ", ".join(outcome.validation.get("failed", [])) if status == "failed_validation" else ""
            self.emit(
                f"cycle: run {outcome.run_id} {status} up to {end:%Y-%m-%d %H:%M} in {seconds:.1f}s"
                + (f" (failed expectations: {failed})" if failed else "")
            )
            if status == "published":
                self._last_end = end
                self._stored_at_cycle = stored
                self._update_scorecard(end, validated=True)
                self._update_alerts()

    def _newest_event_time(self) -> dt.datetime | None:
        with self._engine.connect() as conn:
            newest: dt.datetime | None = conn.execute(sa.select(sa.func.max(events.c.time))).scalar()
        return newest

    def _new_events(self) -> bool:
        """True when events were stored since the last published cycle (a last cycle is then worth it)."""
        stored = self._consumer.report.stored if self._consumer is not None else 0
        return stored > self._stored_at_cycle

    def _update_scorecard(self, at: dt.datetime, *, validated: bool) -> None:
        """The scorecard at ``at``; ``validated``: a published run wrote the windows ending there."""
        scorecard = build_scorecard(self._engine, self.strategy, at, window=self.options.window)
        summary = summarise_scorecard(scorecard)
        with self._lock:
            changed = summary.pitfalls != self.status.pitfalls
            self.status.values_at = at
            self.status.validated = validated
            self.status.sai = summary.sai
            self.status.indices = summary.indices
            self.status.perspectives = summary.perspectives
            self.status.pitfalls = summary.pitfalls
            self.status.alerts = summary.alerts
        if changed:
            self.emit("pitfalls: " + (", ".join(summary.pitfalls) or "none"))

    def _update_alerts(self) -> None:
        """The rule alerts firing on the newest published values (what the exporter serves)."""
        if self._alert_specs is None:
            self._alert_specs = alert_specs(inputs_from_strategy(self.strategy, metric_names()))
        business = exporter.business_label(self.strategy.business.name)
        values = latest_snapshot(self._engine).values
        lines = firing_lines(firing_alerts(self._alert_specs, samples_from_values(values, business), business))
        with self._lock:
            changed = lines != self.status.firing
            self.status.firing = lines
        if changed:
            self.emit("alerts: " + (", ".join(lines) or "none"))

    # ------------------------------------------------------------------ status, report, children

    def _refresh(self) -> None:
        consumer = self._consumer
        if consumer is not None:
            report = consumer.report
            mark_t, mark_n = self._rate_mark
            now = time.monotonic()
            if now - mark_t >= 1.0:
                self.status.events_per_s = (report.consumed - mark_n) / (now - mark_t)
                self._rate_mark = (now, report.consumed)
            self.status.consumed = report.consumed
            self.status.stored = report.stored
            self.status.duplicates = report.duplicates
            self.status.rejected = report.rejected
            if report.waiting != self.status.consumer_waiting:
                self.status.consumer_waiting = report.waiting
                if report.waiting:
                    self.emit(f"warning: {report.waiting}")
        self.status.lag = _total_lag(self._registry)
        if self._clock.simulated:
            self.status.simulated_now = self._clock.now()
        self._publish_status()

    def _publish_status(self) -> None:
        if self.on_status is not None:
            self.on_status(self.status)

    def _report_path(self) -> Path:
        if self.options.report_path is not None:
            return self.options.report_path
        name = f"report-{self.options.scenario}.html" if self.options.scenario else "report.html"
        return self.options.var_dir / name

    def _write_report(self) -> Path:
        at = self._last_end
        path = write_report(
            self._engine, self.strategy, out=self._report_path(), at=at, window=self.options.window,
            runs_since=self.status.started if not self._clock.simulated else None,
        )  # fmt: skip
        self.emit(f"report: {path.resolve()}")
        return path

    def _stop_children(self) -> None:
        for process in self._children:
            stop_session(process)
        if self._children and self.status.components.get("airflow") == "running":
            self._component("airflow", "stopped")

    def _kill_children(self) -> None:
        """``atexit``: nothing this run started may outlive it."""
        self._stop_children()
        if self._broker is not None:
            self._broker.stop()

    def _install_signal_handlers(self) -> dict[int, Any]:
        if threading.current_thread() is not threading.main_thread():
            return {}
        previous: dict[int, Any] = {}

        def handler(signum: int, _frame: Any) -> None:
            if self.stop_event.is_set():
                # a second Ctrl-C: stop the children now; the shutdown continues
                self._kill_children()
            self.stop_event.set()

        for signum in (signal.SIGINT, signal.SIGTERM):
            previous[signum] = signal.signal(signum, handler)
        return previous

    @staticmethod
    def _restore_signal_handlers(previous: dict[int, Any]) -> None:
        for signum, old in previous.items():
            signal.signal(signum, old)


def _event_time(value: Any) -> dt.datetime:
    """An event's ``time`` as an aware UTC datetime."""
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC)
    return dt.datetime.fromisoformat(str(value).replace("Z", "+00:00")).astimezone(dt.UTC)


def _total_lag(registry: Any) -> int | None:
    """Sum of the consumer-lag gauge over the assigned partitions, None before the first reading."""
    if registry is None:
        return None
    name = next(i.exposed_name for i in INSTRUMENTS if i.attribute == "lag")
    total, seen = 0.0, False
    for family in registry.collect():
        for sample in family.samples:
            if sample.name == name:
                total += sample.value
                seen = True
    return int(total) if seen else None
