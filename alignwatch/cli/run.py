"""``alignwatch run``: the whole pipeline on this machine, with a live view, then the report.

Embedded default (``make run``): an in-memory Tansu broker, a fresh SQLite store under
``./var/``, the consumer, the continuous aggregation every ``--interval`` seconds, the
exporter on 127.0.0.1 and the simulator replaying ``--scenario`` over about a minute.

Production (``--no-simulator`` with ``--bootstrap-servers``, ``--store`` or their
``ALIGNWATCH_*`` variables): the same supervisor against your Kafka and PostgreSQL.

The consumer group is ``--group`` or ``ALIGNWATCH_CONSUMER_GROUP``; without either, a run
with the simulator takes a group of its own (:func:`demo_group`): a second demo on the same
broker under the first one's group would wait for a partition the first one holds and
store nothing.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import click

from alignwatch.cli.options import business_option, kafka_options, settings_from, store_option, strategy_option
from alignwatch.errors import AlignwatchError, FileAccessError
from alignwatch.live import render, status_line
from alignwatch.metrics.strategy import load_strategy
from alignwatch.runner import RunOptions, Supervisor
from alignwatch.stream.broker import broker_binary
from alignwatch.stream.simulator.generate import default_strategy_path

__all__ = ["demo_group", "next_commands", "run"]

SCENARIOS = ("bakery", "ecommerce", "retail", "control")


def demo_group(now: dt.datetime | None = None, pid: int | None = None) -> str:
    """The consumer group of one demo run: ``alignwatch-demo-<UTC time>-<pid>``, never the same twice."""
    now = now or dt.datetime.now(dt.UTC)
    return f"alignwatch-demo-{now:%Y%m%dT%H%M%S}-{pid if pid is not None else os.getpid()}"


def next_commands(store_url: str, strategy_file: Path | None, story: tuple[dt.datetime, dt.datetime]) -> list[str]:
    """What to try after a demo, on its store: the commands of the README's "Measuring alignment".

    The demo keeps its store apart (``var/demo-<scenario>.db``), so every command names it
    with ``--store``; the scorecard and the explanation read the newest published window by
    default, so only the recomputation needs dates: the story's last seven days.
    """
    store = f"--store {store_url}"
    strategy = f" --strategy {strategy_file}" if strategy_file is not None else ""
    end = story[1].date()
    start = max(story[0].date(), end - dt.timedelta(days=7))
    return [
        f"alignwatch metrics compute {store}{strategy} --from {start} --to {end} --granularity day",
        f"alignwatch scorecard {store}{strategy} --window 7d",
        f"alignwatch explain sai {store}{strategy}",
        f"alignwatch runs {store}",
        f"alignwatch report {store}{strategy} --out report.html",
    ]


@click.command("run")
@click.option("--scenario", type=click.Choice(SCENARIOS), default="bakery", show_default=True,
              help="Example business the simulator replays (its strategy is examples/<scenario>.yaml).")
@click.option("--no-simulator", is_flag=True, help="Do not simulate: consume what your systems send.")
@click.option("--duration", "duration_s", type=click.FloatRange(min=1), default=None, metavar="S",
              help="Stop by itself after S seconds [default: run until Ctrl-C].")
@click.option("--interval", "interval_s", type=click.FloatRange(min=1), default=15.0, show_default=True, metavar="S",
              help="Seconds between aggregation cycles (with the simulator, at most a simulated day).")
@click.option("--story", "story_s", type=click.FloatRange(min=1), default=None, metavar="S",
              help="Real seconds over which the simulated days are replayed [default: 60, or 60% of --duration].")
@click.option("--days", type=click.IntRange(min=1), default=28, show_default=True, help="Simulated days.")
@click.option("--events", type=click.IntRange(min=1), default=12000, show_default=True, help="Simulated events in total.")
@click.option("--seed", type=int, default=7, show_default=True, help="Seed of the simulator.")
@click.option("--airflow", is_flag=True,
              help="Run the project's DAGs in Airflow, on loopback (about 1.1 GB of memory) instead of the in-process schedule.")
@click.option("--report", "report_path", type=click.Path(path_type=Path, dir_okay=False), default=None, metavar="FILE.html",
              help="Where to write the report at the end [default: var/report-<scenario>.html].")
@click.option("--var", "var_dir", type=click.Path(path_type=Path, file_okay=False), default=Path("var"), show_default=True,
              help="Directory of the embedded store, broker log and report.")
@click.option("--group", default=None, metavar="NAME",
              help="Kafka consumer group [env ALIGNWATCH_CONSUMER_GROUP; with the simulator: a new group per run].")
@store_option
@strategy_option
@business_option
@kafka_options
def run(
    scenario: str,
    no_simulator: bool,
    duration_s: float | None,
    interval_s: float,
    story_s: float | None,
    days: int,
    events: int,
    seed: int,
    airflow: bool,
    report_path: Path | None,
    var_dir: Path,
    group: str | None,
    store_url: str | None,
    strategy_file: Path | None,
    allow_business_mismatch: bool | None,
    bootstrap_servers: str | None,
    topics: tuple[str, ...],
) -> None:
    """Run the whole pipeline: broker, store, consumer, aggregation, exporter (and the simulator)."""
    from rich.console import Console
    from rich.live import Live

    simulate = not no_simulator
    external_broker = bootstrap_servers is not None or "ALIGNWATCH_BOOTSTRAP_SERVERS" in os.environ
    if not external_broker:
        broker_binary()  # without the demo extra: one line and exit 2, before anything starts
    try:
        var_dir.mkdir(parents=True, exist_ok=True)  # before anything starts: a bad --var is one line
    except OSError as exc:
        raise FileAccessError.of("create the --var directory", exc, var_dir) from None
    demo_store: Path | None = None
    if simulate and store_url is None and "ALIGNWATCH_STORE_URL" not in os.environ:
        # the demo replays a fresh story: its own store, recreated on every run
        demo_db = demo_store = var_dir / f"demo-{scenario}.db"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{demo_db}{suffix}").unlink(missing_ok=True)
        store_url = f"sqlite:///{demo_db}"
    if simulate and strategy_file is None and "ALIGNWATCH_STRATEGY_FILE" not in os.environ:
        strategy_file = default_strategy_path(scenario)
    settings = settings_from(store_url=store_url, strategy_file=strategy_file, bootstrap_servers=bootstrap_servers,
                             topics=topics, consumer_group=group, allow_business_mismatch=allow_business_mismatch)
    if simulate and "consumer_group" not in settings.model_fields_set:
        settings = settings.model_copy(update={"consumer_group": demo_group()})
    strategy = load_strategy(settings.strategy_file, max_bytes=settings.max_strategy_bytes)
    if story_s is None:
        story_s = 60.0 if duration_s is None else min(60.0, 0.6 * duration_s)
    options = RunOptions(
        scenario=scenario if simulate else None, duration_s=duration_s, interval_s=interval_s, story_s=story_s,
        days=days, events=events, seed=seed, embedded_broker=not external_broker, airflow=airflow,
        var_dir=var_dir, report_path=report_path,
    )
    console = Console()
    if console.is_terminal:
        with Live(console=console, refresh_per_second=4, transient=False) as live:
            supervisor = Supervisor(settings, strategy, options, emit=lambda line: live.console.log(line),
                                    on_status=lambda status: live.update(render(status)))
            result = supervisor.run()
    else:
        last = [0.0]

        def progress(status) -> None:  # type: ignore[no-untyped-def]
            import time

            if status.message != "stopping" and time.monotonic() - last[0] >= 5:
                last[0] = time.monotonic()
                click.echo(status_line(status))

        supervisor = Supervisor(settings, strategy, options, emit=lambda line: click.echo(line, nl=True),
                                on_status=progress)
        result = supervisor.run()
    click.echo(status_line(result.status))
    if result.report is not None:
        click.echo(f"report written to {result.report.resolve()}")
    if demo_store is not None and result.story is not None and not result.failures:
        # the strategy is named unless it is the default one, the bakery's
        named = None if scenario == "bakery" and "ALIGNWATCH_STRATEGY_FILE" not in os.environ else strategy_file
        click.echo(f"next, on the demo's store (its events span {result.story[0]:%Y-%m-%d} to {result.story[1]:%Y-%m-%d}):")
        for command in next_commands(store_url or settings.store_url, _shown(named), result.story):
            click.echo(f"  {command}")
    if result.failures:
        raise AlignwatchError("run failed: " + "; ".join(result.failures))


def _shown(path: Path | None) -> Path | None:
    """``path`` relative to the working directory when it is under it (shorter to copy)."""
    if path is None:
        return None
    try:
        return path.resolve().relative_to(Path.cwd())
    except ValueError:
        return path
