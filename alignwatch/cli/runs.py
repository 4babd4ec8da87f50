"""``alignwatch runs``: the pipeline's computations and, for a failed one, which expectation failed.

Before listing, runs left ``running`` by a process that died (or running for longer than
ALIGNWATCH_RUN_TIMEOUT_S) are marked ``abandoned``, as every pipeline run does.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import click
import sqlalchemy as sa

from alignwatch.cli.options import settings_from, store_option
from alignwatch.errors import AlignwatchError
from alignwatch.liveness import close_abandoned_runs
from alignwatch.store import pipeline_runs
from alignwatch.store.engine import connect_existing, require_current

__all__ = ["runs"]

STATUSES = ("running", "published", "failed_validation", "error", "abandoned")


@click.command("runs")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(min=1), help="Newest runs to list.")
@click.option("--status", type=click.Choice(STATUSES), default=None, help="Only runs with this status.")
@click.option("--id", "run_id", type=int, default=None, help="Show one run whole: every expectation and what it observed.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@store_option
def runs(limit: int, status: str | None, run_id: int | None, as_json: bool, store_url: str | None) -> None:
    """List the pipeline's runs (newest first) with their status and failing expectations.

    Runs whose process is gone, or that run longer than ALIGNWATCH_RUN_TIMEOUT_S, are first
    marked abandoned.
    """
    settings = settings_from(store_url=store_url)
    engine = connect_existing(settings.store_url)
    try:
        require_current(engine)
        close_abandoned_runs(engine, timeout=dt.timedelta(seconds=settings.run_timeout_s))
        query = sa.select(pipeline_runs).order_by(pipeline_runs.c.id.desc())
        if run_id is not None:
            query = query.where(pipeline_runs.c.id == run_id)
        else:
            if status is not None:
                query = query.where(pipeline_runs.c.status == status)
            query = query.limit(limit)
        with engine.connect() as conn:
            rows = [dict(row._mapping) for row in conn.execute(query)]
    finally:
        engine.dispose()
    if run_id is not None and not rows:
        raise AlignwatchError(f"no pipeline run with id {run_id}")
    if as_json:
        click.echo(json.dumps([_json_row(row, whole=run_id is not None) for row in rows], indent=2))
    elif run_id is not None:
        click.echo(_render_run(rows[0]))
    elif not rows:
        click.echo("no runs yet")
    else:
        for row in rows:
            click.echo(_render_line(row))


def _failed(row: dict[str, Any]) -> list[str]:
    validation = row.get("validation")
    return list(validation.get("failed", [])) if isinstance(validation, dict) else []


def _render_line(row: dict[str, Any]) -> str:
    failed = _failed(row)
    line = (
        f"{row['id']:>6}  {row['kind']:<10} {row['status']:<17} "
        f"[{row['interval_start']:%Y-%m-%d %H:%M}, {row['interval_end']:%Y-%m-%d %H:%M}) "
        f"values {row['value_count'] if row['value_count'] is not None else '—'}"
    )
    if failed:
        line += "  failed: " + ", ".join(failed)
    if row["status"] in ("error", "abandoned") and isinstance(row.get("details"), dict):
        line += f"  error: {row['details'].get('error', '')}"
    return line


def _render_run(row: dict[str, Any]) -> str:
    owner = row["details"].get("owner") if isinstance(row.get("details"), dict) else None
    by = f" by pid {owner.get('pid')} on {owner.get('host')}" if isinstance(owner, dict) else ""
    lines = [_render_line(row), f"  started {row['started_at']:%Y-%m-%d %H:%M:%S} UTC{by}, trigger {row['trigger'] or '—'}"]
    validation = row.get("validation")
    if not isinstance(validation, dict):
        validation = {}
    for suite in validation.get("suites", []):
        lines.append(f"  suite {suite['suite']}: {'passed' if suite['success'] else 'FAILED'} ({suite['rows']} rows)")
        for item in suite.get("expectations", []):
            mark = "ok  " if item["success"] else "FAIL"
            lines.append(f"    {mark} {item['expectation']}: {item['description']}")
            if not item["success"]:
                lines.append(f"         observed {json.dumps(item['observed'], sort_keys=True)}")
    return "\n".join(lines)


def _json_row(row: dict[str, Any], *, whole: bool) -> dict[str, Any]:
    out = {key: value.isoformat() if hasattr(value, "isoformat") else value for key, value in row.items()}
    out["failed"] = _failed(row)
    if not whole:
        out.pop("validation", None)
        out.pop("details", None)
    return out
