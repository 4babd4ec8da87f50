"""``alignwatch export``: serve the latest validated snapshot to Prometheus."""

from __future__ import annotations

import logging
import signal
import sys
import threading
from pathlib import Path

import click
import sqlalchemy as sa
from prometheus_client import CollectorRegistry

from alignwatch.cli.options import business_option, guard_business, settings_from, store_option, strategy_option
from alignwatch.errors import BusinessMismatchError
from alignwatch.metrics.exporter import BackgroundRefresher, SnapshotCache, build_collector
from alignwatch.metrics.runs import latest_snapshot
from alignwatch.metrics.server import load_web_config, serve
from alignwatch.metrics.strategy import load_strategy
from alignwatch.store import connect

__all__ = ["export"]


@click.command()
@store_option
@strategy_option
@click.option("--host", default=None, metavar="ADDRESS", help="Address to bind [env ALIGNWATCH_EXPORTER_HOST; default 127.0.0.1].")
@click.option("--port", type=int, default=None, help="Port to listen on [env ALIGNWATCH_EXPORTER_PORT; default 9464].")
@click.option(
    "--web-config",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Prometheus-style web config: TLS (tls_server_config) and basic auth (basic_auth_users, bcrypt) "
    "[env ALIGNWATCH_EXPORTER_WEB_CONFIG].",
)
@click.option("--refresh", type=float, default=15.0, show_default=True, metavar="SECONDS",
              help="Re-read the store this often, in the background; scrapes serve the prepared snapshot.")
@business_option
def export(
    store_url: str | None,
    strategy_file: Path | None,
    host: str | None,
    port: int | None,
    web_config: Path | None,
    refresh: float,
    allow_business_mismatch: bool | None,
) -> None:
    """Serve /metrics: every catalogue metric of the latest validated snapshot, KPI targets,
    pipeline health. Binds 127.0.0.1 unless told otherwise; runs until SIGTERM/SIGINT.

    A store that cannot be read is logged in one line (and again when it answers) and shows
    as alignwatch_exporter_store_up 0; the newest snapshot read before is served meanwhile.
    A store that serves another business than the strategy's is refused at the start."""
    settings = settings_from(
        store_url=store_url,
        strategy_file=strategy_file,
        exporter_host=host,
        exporter_port=port,
        exporter_web_config=web_config,
        allow_business_mismatch=allow_business_mismatch,
    )
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(message)s", stream=sys.stderr)
    strategy = load_strategy(settings.strategy_file, max_bytes=settings.max_strategy_bytes)
    config = load_web_config(settings.exporter_web_config) if settings.exporter_web_config else None
    engine = connect(settings.store_url, create=False)  # waits for a store, never creates one
    try:
        guard_business(engine, strategy.business.name, settings)
    except sa.exc.SQLAlchemyError:
        pass  # no store (or no table) yet: nothing to check; the exporter waits for it
    except BusinessMismatchError:
        engine.dispose()  # the refusal leaves no connection open
        raise
    # the stop signals are handled before anything is announced: a SIGTERM right after the
    # "serving" line stops the exporter cleanly instead of killing it
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    # scrapes never reload nor serialise: the refresher re-reads the store every --refresh
    # seconds and prepares the exposition of each new snapshot
    cache = SnapshotCache(lambda: latest_snapshot(engine), ttl_s=float("inf"))
    collector = build_collector(engine, strategy, cache=cache)
    refresher = BackgroundRefresher(cache, collector, interval_s=refresh).start()
    server = serve(CollectorRegistry(), host=settings.exporter_host, port=settings.exporter_port, web_config=config,
                   snapshot=collector)
    click.echo(f"serving {server.url} for {strategy.business.name}")
    stop.wait()
    server.stop()
    refresher.stop()
    engine.dispose()
    click.echo("exporter stopped")
