"""``alignwatch import``: bring history in from process-mining event logs and robot logs.

    alignwatch import xes LOG.xes[.gz] --mapping MAPPING.yaml [--output FILE.jsonl | --store URL |
                                                              --bootstrap-servers HOST:PORT --topic NAME]
    alignwatch import uipath-log ROBOT.log[.gz] --mapping MAPPING.yaml [same outputs]

Without ``--output`` or Kafka options the events go to the store (``--store`` or
ALIGNWATCH_STORE_URL). A broken log stops the import with one line naming where it broke,
and nothing of it is left behind unless ``--keep-partial``. Into a store, ``--strategy`` also
claims the store for the strategy's business, or refuses a store that serves another one
(``--allow-business-mismatch`` lets it through).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from alignwatch.cli.options import business_option, guard_business, kafka_options, settings_from, store_option
from alignwatch.errors import ConfigError
from alignwatch.metrics.strategy import load_strategy
from alignwatch.store.engine import connect_existing, require_current
from alignwatch.stream.broker import ensure_topics
from alignwatch.stream.consumer import kafka_producer
from alignwatch.stream.importers.mapping import load_mapping, load_robot_mapping
from alignwatch.stream.importers.output import JsonlOutput, KafkaOutput, StoreOutput, write_all
from alignwatch.stream.importers.uipath import RobotLogImport
from alignwatch.stream.importers.xes import XesImport

__all__ = ["import_group", "strategy_misfits"]


@click.group("import")
def import_group() -> None:
    """Import real history (XES event logs, UiPath robot logs) as alignwatch events."""


def _common(func: Callable[..., Any]) -> Callable[..., Any]:
    func = click.option("--quiet", is_flag=True, help="No progress bar.")(func)
    func = business_option(func)
    func = click.option(
        "--keep-partial", is_flag=True, help="On a broken log, keep what was imported before the break."
    )(func)
    func = click.option(
        "--strategy",
        "strategy_file",
        metavar="FILE",
        type=click.Path(path_type=Path, dir_okay=False),
        default=None,
        help="Check first that the strategy declares every process, automation and touchpoint "
        "the mapping emits (and, into a store, that the store serves its business).",
    )(func)
    func = kafka_options(func)
    func = store_option(func)
    func = click.option(
        "--output",
        type=click.Path(path_type=Path, dir_okay=False),
        default=None,
        help="Write the events as JSON lines (for `alignwatch ingest`) instead of storing them.",
    )(func)
    func = click.option(
        "--mapping",
        "mapping_file",
        required=True,
        type=click.Path(path_type=Path, dir_okay=False),
        help="Mapping file: how the log maps onto the strategy (see examples/mappings/).",
    )(func)
    func = click.argument("log", type=click.Path(path_type=Path, dir_okay=False))(func)
    return func


@import_group.command("xes")
@_common
def xes(
    log: Path,
    mapping_file: Path,
    output: Path | None,
    store_url: str | None,
    bootstrap_servers: str | None,
    topics: tuple[str, ...],
    strategy_file: Path | None,
    keep_partial: bool,
    allow_business_mismatch: bool | None,
    quiet: bool,
) -> None:
    """Import an XES event log (IEEE 1849; gzip or plain), streamed in constant memory."""

    mapping = load_mapping(mapping_file)
    if strategy_file is not None:
        _check_against_strategy(
            strategy_file,
            processes=set(mapping.processes),
            automations={rule.automation_id for rule in mapping.automated},
            touchpoints={tp.touchpoint_id for tp in mapping.touchpoints.values()},
        )
    _run(
        lambda on_read: XesImport(log, mapping, on_read=on_read),
        log,
        mapping.event_source,
        output=output,
        store_url=store_url,
        bootstrap_servers=bootstrap_servers,
        topics=topics,
        keep_partial=keep_partial,
        quiet=quiet,
        strategy_file=strategy_file,
        allow_business_mismatch=allow_business_mismatch,
    )


@import_group.command("uipath-log")
@_common
def uipath_log(
    log: Path,
    mapping_file: Path,
    output: Path | None,
    store_url: str | None,
    bootstrap_servers: str | None,
    topics: tuple[str, ...],
    strategy_file: Path | None,
    keep_partial: bool,
    allow_business_mismatch: bool | None,
    quiet: bool,
) -> None:
    """Import a UiPath robot log (JSON per line) as automation.run events, one per job and case."""

    mapping = load_robot_mapping(mapping_file)
    if strategy_file is not None:
        _check_against_strategy(
            strategy_file,
            processes=set(mapping.processes.values()),
            automations=set(mapping.automations.values()),
            touchpoints=set(),
        )
    _run(
        lambda on_read: RobotLogImport(log, mapping, on_read=on_read),
        log,
        mapping.event_source,
        output=output,
        store_url=store_url,
        bootstrap_servers=bootstrap_servers,
        topics=topics,
        keep_partial=keep_partial,
        quiet=quiet,
        strategy_file=strategy_file,
        allow_business_mismatch=allow_business_mismatch,
    )


def _check_against_strategy(
    strategy_file: Path, *, processes: set[str], automations: set[str], touchpoints: set[str]
) -> None:
    """The ids the mapping emits must be declared in the strategy, or metrics would not see them."""
    problems = strategy_misfits(strategy_file, processes=processes, automations=automations, touchpoints=touchpoints)
    if problems:
        raise ConfigError(f"mapping does not fit strategy {strategy_file}: {'; '.join(problems)}")


def strategy_misfits(
    strategy_file: Path, *, processes: set[str], automations: set[str], touchpoints: set[str]
) -> list[str]:
    """What the mapping emits that the strategy does not declare (empty when it fits)."""

    strategy = load_strategy(strategy_file)
    declared = {
        "processes": {p.id for p in strategy.processes},
        "automations": {a.id for a in strategy.automations},
        "journey touchpoints": {t.id for t in strategy.journey},
    }
    wanted = {"processes": processes, "automations": automations, "journey touchpoints": touchpoints}
    return [
        f"{kind} {', '.join(sorted(wanted[kind] - declared[kind]))} not declared"
        for kind in wanted
        if wanted[kind] - declared[kind]
    ]


def _run(
    make: Callable[[Callable[[int], None] | None], Any],
    log: Path,
    source: str,
    *,
    output: Path | None,
    store_url: str | None,
    bootstrap_servers: str | None,
    topics: tuple[str, ...],
    keep_partial: bool,
    quiet: bool,
    strategy_file: Path | None = None,
    allow_business_mismatch: bool | None = None,
) -> None:

    if not log.is_file():
        raise ConfigError(f"{log}: no such file")
    kafka = bool(bootstrap_servers or topics)
    if output is not None and (kafka or store_url):
        raise ConfigError("give one destination: --output, --store, or --bootstrap-servers/--topic")
    size = log.stat().st_size
    engine = None
    if output is not None:
        target: Any = JsonlOutput(output, source)
    elif kafka:
        # sent messages cannot be taken back: read the whole log once to check it first
        with _progress(size, quiet, f"checking {log.name}") as on_read:
            for _ in make(on_read):
                pass
        target = _kafka_output(bootstrap_servers, topics, source)
    else:

        settings = settings_from(store_url=store_url, allow_business_mismatch=allow_business_mismatch)
        engine = connect_existing(settings.store_url)
        require_current(engine)
        if strategy_file is not None:
            business = load_strategy(strategy_file).business.name
            guard_business(engine, business, settings, claim_by="alignwatch import")
        target = StoreOutput(engine, source)
    try:
        with _progress(size, quiet, f"importing {log.name}") as on_read:
            run = make(on_read)
            summary = write_all(run, target, keep_partial=keep_partial)
    finally:
        if engine is not None:
            engine.dispose()
    click.echo(json.dumps({**run.stats.summary(), "output": summary.as_dict()}, indent=2))


def _kafka_output(bootstrap_servers: str | None, topics: tuple[str, ...], source: str) -> Any:

    settings = settings_from(bootstrap_servers=bootstrap_servers, topics=topics)
    if len(settings.topics) != 1:
        raise ConfigError("import produces to exactly one --topic")
    topic = settings.topics[0]
    ensure_topics(settings.bootstrap_servers, [topic], **settings.kafka_security())
    return KafkaOutput(kafka_producer(settings), topic, source)


@contextmanager
def _progress(total: int, quiet: bool, label: str) -> Iterator[Callable[[int], None] | None]:
    """A rich progress bar over the bytes of the file read (on stderr, only on a terminal)."""
    if quiet or not sys.stderr.isatty():
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn

    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=True,
    ) as progress:
        task = progress.add_task(label, total=total)
        yield lambda n: progress.advance(task, n)
