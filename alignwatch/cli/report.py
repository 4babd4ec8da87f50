"""``alignwatch report``: the owner's HTML report, one self-contained page."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import click

from alignwatch.cli.options import business_option, guard_business, settings_from, store_option, strategy_option
from alignwatch.errors import ConfigError, FileAccessError
from alignwatch.metrics.report import write_report
from alignwatch.metrics.strategy import load_strategy
from alignwatch.store.engine import connect_existing, require_current

__all__ = ["parse_at", "report"]


def parse_at(text: str | None) -> dt.datetime | None:
    """``--at``: an ISO date (midnight UTC) or an ISO date-time (UTC when it carries no offset)."""
    if text is None:
        return None
    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError:
        raise ConfigError(f"--at {text!r}: expected a date like 2026-03-01 or 2026-03-01T12:00:00+00:00") from None
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


@click.command("report")
@click.option("--at", "at_text", metavar="DATE", default=None,
              help="End of the reported window (ISO date or date-time, UTC) [default: newest published window].")
@click.option("--window", type=click.Choice(["1d", "7d", "28d"]), default="7d", show_default=True,
              help="Length of the window the scorecard covers.")
@click.option("--out", "out", required=True, type=click.Path(path_type=Path, dir_okay=False), metavar="FILE.html",
              help="Where to write the page.")
@store_option
@strategy_option
@business_option
def report(at_text: str | None, window: str, out: Path, store_url: str | None, strategy_file: Path | None,
           allow_business_mismatch: bool | None) -> None:
    """Write the owner's report: SAI and trend, indices, scorecard, KPIs, pitfalls and what to do."""

    at = parse_at(at_text)
    settings = settings_from(store_url=store_url, strategy_file=strategy_file, allow_business_mismatch=allow_business_mismatch)
    strategy = load_strategy(settings.strategy_file, max_bytes=settings.max_strategy_bytes)
    engine = connect_existing(settings.store_url)
    try:
        require_current(engine)
        guard_business(engine, strategy.business.name, settings)
        try:
            path = write_report(engine, strategy, out=out, at=at, window=window)
        except OSError as exc:
            raise FileAccessError.of("write the report to", exc, out) from None
    finally:
        engine.dispose()
    click.echo(f"report written to {path.resolve()}")
