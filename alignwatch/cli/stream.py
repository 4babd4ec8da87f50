"""Ingestion commands: ``consume``, ``ingest``, ``simulate`` and ``quarantine list|show|replay``.

Each command imports the modules it runs (the Kafka client, the store's drivers, the event
models, the exporter) when it is called, deliberately: ``alignwatch --help`` loads every
command module to list the commands, and would otherwise pay for all of them.
"""

from __future__ import annotations

import datetime as dt
import gc
import logging
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from alignwatch.cli.options import (
    business_option,
    guard_business,
    kafka_options,
    settings_from,
    store_option,
    strategy_option,
)
from alignwatch.cli.output import literal, printable
from alignwatch.errors import ConfigError

__all__ = ["claim_for_strategy", "consume", "ingest", "quarantine_group", "simulate"]


@contextmanager
def _engine(store_url: str | None) -> Iterator[Any]:
    """An engine on a store migrated to this version, disposed afterwards."""
    from alignwatch.store.engine import connect_existing, require_current

    settings = settings_from(store_url=store_url)
    engine = connect_existing(settings.store_url)
    try:
        require_current(engine)
        yield engine
    finally:
        engine.dispose()


def claim_for_strategy(engine: Any, settings: Any, command: str) -> None:
    """With a strategy given (``--strategy`` or ``ALIGNWATCH_STRATEGY_FILE``), claim the store for
    its business or refuse a store that serves another one; without one, nothing is checked.

    Events carry no business: a command that only stores them knows which business they
    belong to only when told its strategy.
    """
    from alignwatch.metrics.strategy import load_strategy

    if "strategy_file" not in settings.model_fields_set:
        return
    strategy = load_strategy(settings.strategy_file, max_bytes=settings.max_strategy_bytes)
    guard_business(engine, strategy.business.name, settings, claim_by=command)


def _reasons() -> tuple[str, ...]:
    from alignwatch.stream.contract import RejectReason

    return tuple(str(reason) for reason in RejectReason)


@click.command()
@kafka_options
@store_option
@click.option("--strategy", "strategy_file", metavar="FILE", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="The business's strategy: the store must serve its business (claimed if new) "
              "[env ALIGNWATCH_STRATEGY_FILE; without either, not checked].")
@business_option
@click.option("--group", default=None, metavar="NAME", help="Consumer group [env ALIGNWATCH_CONSUMER_GROUP].")
@click.option("--topic-pattern", default=None, metavar="REGEX", help="Subscribe to topics matching REGEX instead of --topic.")
@click.option("--batch-size", type=int, default=None, help="Messages per store transaction, at most [env ALIGNWATCH_BATCH_SIZE].")
@click.option("--max-events", type=int, default=None, help="Stop (exit 0) after this many messages.")
@click.option("--idle-timeout", type=float, default=None, metavar="SECONDS", help="Stop (exit 0) after this long without a message.")
@click.option("--partitions", type=int, default=1, show_default=True, help="Partitions of topics created because missing.")
@click.option("--metrics-port", type=int, default=None, help="Serve the pipeline-health metrics on this port (on ALIGNWATCH_EXPORTER_HOST, loopback by default; TLS and basic auth as in ALIGNWATCH_EXPORTER_WEB_CONFIG).")
@click.option(
    "--web-config",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Prometheus-style web config for --metrics-port: TLS and basic auth [env ALIGNWATCH_EXPORTER_WEB_CONFIG].",
)
@click.option("--quiet", is_flag=True, help="No progress lines.")
def consume(
    bootstrap_servers: str | None,
    topics: tuple[str, ...],
    store_url: str | None,
    strategy_file: Path | None,
    allow_business_mismatch: bool | None,
    group: str | None,
    topic_pattern: str | None,
    batch_size: int | None,
    max_events: int | None,
    idle_timeout: float | None,
    partitions: int,
    metrics_port: int | None,
    web_config: Path | None,
    quiet: bool,
) -> None:
    """Consume CloudEvents from Kafka into the store, exactly once in effect.

    Runs until SIGTERM/SIGINT (the pending batch is written and committed first), or until
    --max-events / --idle-timeout. Bad messages go to <topic>.dlq and the quarantine table.
    """
    settings = settings_from(
        bootstrap_servers=bootstrap_servers,
        topics=topics,
        store_url=store_url,
        consumer_group=group,
        topic_pattern=topic_pattern,
        batch_size=batch_size,
        exporter_web_config=web_config,
        strategy_file=strategy_file,
        allow_business_mismatch=allow_business_mismatch,
    )
    with _engine(settings.store_url) as engine:
        claim_for_strategy(engine, settings, "alignwatch consume")
        _consume(settings, engine, partitions, max_events, idle_timeout, metrics_port, quiet)


def _consume(
    settings: Any,
    engine: Any,
    partitions: int,
    max_events: int | None,
    idle_timeout: float | None,
    metrics_port: int | None,
    quiet: bool,
) -> None:
    from prometheus_client import REGISTRY

    from alignwatch.metrics.server import load_web_config, serve
    from alignwatch.stream.broker import ensure_topics
    from alignwatch.stream.health import PipelineMetrics

    # a bad web config fails before anything else starts
    web = load_web_config(settings.exporter_web_config) if settings.exporter_web_config else None
    if not settings.topic_pattern:
        wanted = list(settings.topics) + [t + settings.dlq_suffix for t in settings.topics]
        ensure_topics(settings.bootstrap_servers, wanted, partitions=partitions, **settings.kafka_security())
    metrics = PipelineMetrics(REGISTRY, reasons=_reasons())
    server = None
    if metrics_port is not None:
        # the exporter's endpoint: loopback unless told otherwise, TLS and basic auth from the web config
        server = serve(REGISTRY, host=settings.exporter_host, port=metrics_port, web_config=web)
    try:
        _consume_loop(settings, engine, partitions, max_events, idle_timeout, quiet, metrics)
    finally:
        if server is not None:
            server.stop()


def _consume_loop(
    settings: Any,
    engine: Any,
    partitions: int,
    max_events: int | None,
    idle_timeout: float | None,
    quiet: bool,
    metrics: Any,
) -> None:
    from alignwatch.stream.consumer import SWITCH_INTERVAL_S, ConsumerOptions, build_consumer

    if not quiet:
        logging.basicConfig(level=logging.WARNING, format="%(message)s", stream=sys.stderr)
        logging.getLogger("alignwatch.stream").setLevel(logging.INFO)

    def progress(report: Any) -> None:
        if not quiet:
            click.echo(report.line(), err=True)

    loop = build_consumer(
        settings,
        engine,
        metrics,
        live=True,
        options=ConsumerOptions.from_settings(settings, max_events=max_events, idle_timeout_s=idle_timeout),
        on_progress=progress,
        partitions=partitions,
    )
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: loop.stop())
    # a long-running loop allocating millions of short-lived objects: keep the collector off
    # the objects of start-up (modules, settings, clients), it only has to find young cycles
    gc.freeze()
    sys.setswitchinterval(SWITCH_INTERVAL_S)  # this process is the consume loop's alone
    report = loop.run()
    click.echo(f"done: {report.line()}")


@click.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path, dir_okay=False))
@store_option
@click.option("--strategy", "strategy_file", metavar="FILE", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="The business's strategy: the store must serve its business (claimed if new) "
              "[env ALIGNWATCH_STRATEGY_FILE; without either, not checked].")
@business_option
@click.option("--live", is_flag=True, help="Apply the live maximum event age (off: historical import).")
def ingest(files: tuple[Path, ...], store_url: str | None, strategy_file: Path | None,
           allow_business_mismatch: bool | None, live: bool) -> None:
    """Ingest CloudEvents from JSON-lines FILES (one structured event per line) into the store."""
    from alignwatch.stream.contract import DecodeLimits
    from alignwatch.stream.ingest import ingest_files

    settings = settings_from(store_url=store_url, strategy_file=strategy_file, allow_business_mismatch=allow_business_mismatch)
    for path in files:
        if not path.is_file():
            raise ConfigError(f"{path}: no such file")
    with _engine(settings.store_url) as engine:
        claim_for_strategy(engine, settings, "alignwatch ingest")
        report = ingest_files(engine, files, DecodeLimits.from_settings(settings, live=live))
    click.echo(f"stored {report.stored}, duplicates {report.duplicates}, quarantined {report.quarantined}")


def _parse_start(value: str | None, days: int) -> dt.datetime:
    if value is None:
        today = dt.datetime.now(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        return today - dt.timedelta(days=days)
    try:
        start = dt.datetime.fromisoformat(value)
    except ValueError:
        raise ConfigError(f"--start {value!r}: expected a date or datetime like 2026-03-01") from None
    return start if start.tzinfo else start.replace(tzinfo=dt.UTC)


@click.command()
@click.option("--scenario", type=click.Choice(["bakery", "ecommerce", "retail", "control"]), required=True)
@click.option("--events", "count", type=int, default=10000, show_default=True, help="Messages to produce.")
@click.option("--rate", type=float, default=None, help="Messages per second (default: as fast as possible).")
@click.option("--seed", type=int, default=1, show_default=True)
@click.option("--start", default=None, help="First day (UTC), e.g. 2026-03-01 [default: DAYS days ago].")
@click.option("--days", type=int, default=28, show_default=True)
@click.option("--malformed-share", type=float, default=0.01, show_default=True)
@click.option("--duplicate-share", type=float, default=0.01, show_default=True)
@click.option("--output", type=click.Path(path_type=Path, dir_okay=False), default=None, help="Write JSON lines here instead of producing.")
@strategy_option
@kafka_options
def simulate(
    scenario: str,
    count: int,
    rate: float | None,
    seed: int,
    start: str | None,
    days: int,
    malformed_share: float,
    duplicate_share: float,
    output: Path | None,
    strategy_file: Path | None,
    bootstrap_servers: str | None,
    topics: tuple[str, ...],
) -> None:
    """Simulate a business's systems: CloudEvents of every type for an example strategy."""
    from alignwatch.stream.simulator import messages, produce, write_jsonl
    from alignwatch.stream.simulator.generate import load_scenario_strategy

    if count < 1 or days < 1:
        raise ConfigError("--events and --days must be at least 1")
    if not 0 <= malformed_share < 0.5 or not 0 <= duplicate_share < 0.5:
        raise ConfigError("--malformed-share and --duplicate-share must be in [0, 0.5)")
    strategy = load_scenario_strategy(scenario, strategy_file)
    stream = messages(
        scenario, seed, _parse_start(start, days), days, count,
        strategy=strategy, malformed_share=malformed_share, duplicate_share=duplicate_share,
    )
    if output is not None:
        written = write_jsonl(output, stream)
        click.echo(f"wrote {written} messages to {output}")
        return
    from alignwatch.stream.broker import ensure_topics
    from alignwatch.stream.consumer import kafka_producer

    settings = settings_from(bootstrap_servers=bootstrap_servers, topics=topics)
    if len(settings.topics) != 1:
        raise ConfigError("simulate produces to exactly one --topic")
    topic = settings.topics[0]
    ensure_topics(settings.bootstrap_servers, [topic], **settings.kafka_security())
    producer = kafka_producer(settings, acks=1, compression_type=None)
    try:
        sent = produce(producer, topic, stream, rate=rate).sent
    finally:
        producer.close()
    click.echo(f"produced {sent} messages to {topic}")


@click.group("quarantine")
def quarantine_group() -> None:
    """Inspect and replay rejected messages."""


@quarantine_group.command("list")
@store_option
@click.option("--reason", default=None, help="Only this reason code.")
@click.option("--status", type=click.Choice(["quarantined", "replayed", "rejected_again"]), default=None)
@click.option("--limit", type=int, default=100, show_default=True)
def quarantine_list(store_url: str | None, reason: str | None, status: str | None, limit: int) -> None:
    """List quarantined messages, oldest first.

    Producer-controlled text is printed literally: no markup, control characters escaped.
    """
    from rich.console import Console
    from rich.table import Table

    from alignwatch.stream.quarantine import list_entries

    with _engine(store_url) as engine:
        rows = list_entries(engine, reason=reason, status=status, limit=limit)
    entries = []
    for row in rows:
        if row["origin_topic"] is not None:
            origin = f"{row['origin_topic']}[{row['origin_partition']}]@{row['origin_offset']}"
        else:
            origin = f"{row['origin_file']}:{row['origin_line']}"
        cells = (row["id"], row["reason_code"], origin, row["status"], row["seen_count"], row["message"][:80])
        entries.append(tuple(literal(cell) for cell in cells))
    # an origin is printed whole on one line, however long its path, so it can be copied
    origin_width = max((len(entry[2]) for entry in entries), default=6)
    table = Table()
    for name in ("id", "reason", "origin", "status", "seen", "message"):
        if name == "origin":
            table.add_column(name, no_wrap=True, min_width=origin_width)
        else:
            table.add_column(name)
    for entry in entries:
        table.add_row(*entry)
    Console(width=max(200, origin_width + 140), highlight=False, emoji=False, markup=False).print(table)
    click.echo(f"{len(rows)} entr{'y' if len(rows) == 1 else 'ies'}")


@quarantine_group.command("show")
@click.argument("entry_id", type=int)
@store_option
def quarantine_show(entry_id: int, store_url: str | None) -> None:
    """Show one quarantined message: reason, origin and raw content.

    Printed literally, one line per field: control characters are escaped (``\\x1b``),
    bytes that are not UTF-8 shown as ``\\xNN``.
    """
    from alignwatch.stream.process import headers_from_json
    from alignwatch.stream.quarantine import get_entry

    with _engine(store_url) as engine:
        row = get_entry(engine, entry_id)
    for name in ("id", "reason_code", "message", "status", "origin_topic", "origin_partition", "origin_offset",
                 "origin_file", "origin_line", "source", "event_id", "first_seen", "last_seen", "seen_count", "replayed_at"):
        if row.get(name) is not None:
            click.echo(f"{name}: {printable(row[name])}")
    for key, value in headers_from_json(row["headers"]):
        click.echo(f"header {printable(key)}: {printable(value.decode('utf-8', 'backslashreplace'))}")
    click.echo("raw: " + printable(bytes(row["raw"]).decode("utf-8", "backslashreplace")))


@quarantine_group.command("replay")
@store_option
@click.option("--id", "entry_id", type=int, default=None, help="Replay only this entry.")
@click.option("--reason", default=None, help="Replay only entries with this reason code.")
def quarantine_replay(store_url: str | None, entry_id: int | None, reason: str | None) -> None:
    """Re-decode quarantined messages with the current code; store those that pass, exactly once."""
    from alignwatch.stream.contract import DecodeLimits
    from alignwatch.stream.quarantine import replay

    settings = settings_from(store_url=store_url)
    with _engine(settings.store_url) as engine:
        report = replay(engine, DecodeLimits.from_settings(settings, live=False), entry_id=entry_id, reason=reason)
    click.echo(
        f"replayed {report.replayed}, already stored {report.already_stored}, still rejected {report.still_rejected}"
    )
    if report.still_rejected and not (report.replayed or report.already_stored):
        sys.exit(1)
