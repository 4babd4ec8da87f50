"""``alignwatch strategy``: check a strategy file and show what it declares.

    alignwatch strategy validate examples/bakery.yaml
    alignwatch strategy validate --strategy examples/bakery.yaml --json

Exit 0 and a one-screen summary when the file is valid; exit 1 and every problem, each
with its path (``automations[1].processes[0]: unknown process 'bakng'``), when it is not.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from alignwatch.cli.options import settings_from, strategy_option
from alignwatch.errors import ConfigError, StrategyError
from alignwatch.metrics.strategy import CRITICALITIES, load_strategy

__all__ = ["strategy", "summary_data", "validate"]


@click.group()
def strategy() -> None:
    """Strategy as code: validate and summarise the business's strategy file."""


@strategy.command()
@click.argument("file", required=False, type=click.Path(path_type=Path, dir_okay=False))
@strategy_option
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON (problems or summary).")
def validate(file: Path | None, strategy_file: Path | None, as_json: bool) -> None:
    """Validate FILE (or --strategy FILE, or ALIGNWATCH_STRATEGY_FILE) and summarise it.

    Exit 0 with a summary when it is valid; exit 1 listing every problem with its path.
    """

    if file is not None and strategy_file is not None and file != strategy_file:
        raise ConfigError(f"two strategy files given: {file} and --strategy {strategy_file}; give one")
    settings = settings_from()
    path = file or strategy_file or settings.strategy_file
    try:
        loaded = load_strategy(path, max_bytes=settings.max_strategy_bytes)
    except StrategyError as exc:
        if not as_json:
            raise
        click.echo(
            json.dumps(
                {
                    "valid": False,
                    "source": exc.source,
                    "problems": [{"path": p.path, "message": p.message} for p in exc.problems],
                },
                indent=2,
            )
        )
        # click returns (not raises) an Exit's code outside standalone mode, so leave here
        sys.exit(exc.exit_code)
    if as_json:
        click.echo(json.dumps({"valid": True, "source": str(path), **summary_data(loaded)}, indent=2))
        return
    _print_summary(loaded, path)


def summary_data(loaded: Any) -> dict[str, Any]:
    """The summary as plain data: business, goals, KPIs by perspective, processes, automations."""

    shares = loaded.goal_weights()
    return {
        "business": loaded.business.model_dump(mode="json"),
        "goals": [
            {
                "id": g.id,
                "name": g.name,
                "perspective": g.perspective,
                "weight": g.weight,
                "share": round(shares[g.id], 4),
                "kpis": list(g.kpis),
            }
            for g in loaded.goals
        ],
        "kpis": {
            perspective: [
                {
                    "id": k.id,
                    "name": k.name,
                    "measure": k.measure,
                    "direction": k.direction,
                    "target": k.target,
                    "unit": k.unit,
                }
                for k in kpis
            ]
            for perspective, kpis in loaded.kpis_by_perspective().items()
        },
        "processes": {
            level: [p.id for p in loaded.processes if p.criticality == level] for level in CRITICALITIES
        },
        "journey": [
            {"id": t.id, "stage": t.stage, "strategic": t.strategic, "human_fallback": t.human_fallback}
            for t in loaded.journey
        ],
        "automations": [
            {
                "id": a.id,
                "system": a.system,
                "monthly_cost": a.monthly_cost,
                "projected_roi": a.projected_roi,
                "projected_monthly_savings": a.projected_monthly_savings,
                "features_licensed": len(a.features_licensed),
                "seats": a.seats,
                "go_live": a.go_live.isoformat(),
                "pilot_end": a.pilot_end.isoformat() if a.pilot and a.pilot_end else None,
                "priority": a.priority,
            }
            for a in loaded.automations
        ],
        "advice": loaded.advice(),
    }


def _number(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:g}"


def _print_summary(loaded: Any, path: Path) -> None:
    from rich import box
    from rich.console import Console
    from rich.table import Table

    console = Console(highlight=False)
    business = loaded.business
    console.print(
        f"[bold green]valid[/] {path}: [bold]{business.name}[/] ({business.timezone}, {business.currency}) "
        f"{len(loaded.goals)} goals, {len(loaded.kpis)} KPIs, {len(loaded.processes)} processes, "
        f"{len(loaded.journey)} touchpoints, {len(loaded.automations)} automations"
    )

    goals = Table(box=box.SIMPLE_HEAD, pad_edge=False, padding=(0, 1))
    for column in ("goal", "perspective", "weight", "KPIs"):
        goals.add_column(column, justify="right" if column in {"weight", "KPIs"} else "left")
    shares = loaded.goal_weights()
    for g in loaded.goals:
        goals.add_row(f"[bold]{g.id}[/] {g.name}", g.perspective, f"{shares[g.id]:.0%}", str(len(g.kpis)))
    console.print(goals)

    console.print("[bold]KPIs by perspective[/] (target)")
    for perspective, items in loaded.kpis_by_perspective().items():
        targets = [f"{k.id} {'>=' if k.direction == 'up' else '<='} {_number(k.target)} {k.unit}" for k in items]
        console.print(f"  [cyan]{perspective}[/]: {'; '.join(targets) or '[yellow]none[/]'}")

    console.print("[bold]Processes by criticality[/] (* = automation candidate)")
    for level in CRITICALITIES:
        ids = [p.id + ("*" if p.candidate else "") for p in loaded.processes if p.criticality == level]
        console.print(f"  [cyan]{level}[/]: {', '.join(ids) or '-'}")
    journey = [
        t.id + ("" if t.strategic else " (not strategic)") + (" +human" if t.human_fallback else "")
        for t in loaded.journey
    ]
    console.print(f"[bold]Journey[/] (+human = human fallback): {', '.join(journey) or '-'}")

    autos = Table(box=box.SIMPLE_HEAD, pad_edge=False, padding=(0, 1))
    cost = f"{business.currency}/mo"
    numeric = {"#", cost, "ROI", "feat.", "seats"}
    for column in ("#", "automation", cost, "ROI", "feat.", "seats", "go-live", "pilot end"):
        autos.add_column(column, justify="right" if column in numeric else "left", no_wrap=column != "automation")
    for a in sorted(loaded.automations, key=lambda a: a.priority):
        autos.add_row(
            str(a.priority),
            f"[bold]{a.id}[/] ({a.system})",
            _number(a.monthly_cost),
            f"{a.projected_roi:.0%}",
            str(len(a.features_licensed)),
            str(a.seats),
            a.go_live.isoformat(),
            a.pilot_end.isoformat() if a.pilot and a.pilot_end else "-",
        )
    console.print(autos)
    for note in loaded.advice():
        console.print(f"[yellow]note:[/] {note}")
