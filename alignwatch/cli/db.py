"""``alignwatch db``: store migrations."""

from __future__ import annotations

import click

from alignwatch.cli.options import settings_from, store_option
from alignwatch.store import upgrade
from alignwatch.store.engine import connect, connect_existing, current_revision, head_revision

__all__ = ["db"]


@click.group()
def db() -> None:
    """Create and migrate the store (SQLite or PostgreSQL)."""


@db.command("upgrade")
@store_option
def upgrade_command(store_url: str | None) -> None:
    """Apply every pending migration; safe to run again."""

    settings = settings_from(store_url=store_url)
    before, after = upgrade(connect(settings.store_url))
    if before == after:
        click.echo(f"store already at revision {after}")
    else:
        click.echo(f"store migrated from {before or 'empty'} to revision {after}")


@db.command("current")
@store_option
def current_command(store_url: str | None) -> None:
    """Print the store's migration revision, the newest one this version knows, and the business it serves."""
    from sqlalchemy import inspect

    from alignwatch.store.business import served_business

    settings = settings_from(store_url=store_url)
    engine = connect_existing(settings.store_url)
    try:
        click.echo(f"current: {current_revision(engine) or 'empty'}")
        click.echo(f"head:    {head_revision()}")
        if inspect(engine).has_table("store_business"):
            claim = served_business(engine)
            served = "not claimed yet (the next command that writes with a strategy claims it)" if claim is None else (
                f"{claim.business} (claimed {claim.claimed_at:%Y-%m-%d %H:%M} UTC by {claim.claimed_by or 'unknown'})"
            )
            click.echo(f"business: {served}")
    finally:
        engine.dispose()
