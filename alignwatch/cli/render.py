"""``alignwatch render rules|dashboards|all [--check]``: generated deployment artefacts.

Alert and recording rules go to ``deploy/prometheus/rules/``, dashboards and Grafana
provisioning to ``deploy/grafana/``. ``--check`` writes nothing and fails (exit 1) when a
committed file differs from what would be rendered: CI runs it.
"""

from __future__ import annotations

from pathlib import Path

import click

from alignwatch.errors import AlignwatchError
from alignwatch.metrics.dashboards import dashboard_files, dashboard_names
from alignwatch.metrics.rules import render_rule_files
from alignwatch.metrics.strategy import load_strategy
from alignwatch.stream.simulator.generate import default_strategy_path

__all__ = ["render"]

DEFAULT_DEPLOY = Path("deploy")
#: the example businesses whose strategies (shipped in the package) are rendered by default
DEFAULT_SCENARIOS = ("bakery", "ecommerce", "retail", "control")


class RenderDiffError(AlignwatchError):
    """Committed generated files differ from a fresh render."""


def _strategies(paths: tuple[Path, ...]) -> list[Path]:
    """The given strategy files, or the example strategies (what CI renders and diffs)."""
    return list(paths) if paths else [default_strategy_path(name) for name in DEFAULT_SCENARIOS]


def _rules(strategies: list[Path], runbook_base: str) -> dict[str, str]:

    rendered = render_rule_files([load_strategy(p) for p in strategies], runbook_base=runbook_base)
    return {f"prometheus/rules/{name}": text for name, text in rendered.items()}


def _dashboards(runbook_base: str) -> dict[str, str]:

    files = dashboard_files(dashboard_names(), runbook_base=runbook_base)
    return {f"grafana/{name}": text for name, text in files.items()}


def _apply(files: dict[str, str], out: Path, check: bool, owned: tuple[str, ...]) -> None:
    stale = [name for name, text in sorted(files.items()) if not (out / name).exists() or (out / name).read_text() != text]
    extra = sorted(
        str(path.relative_to(out))
        for folder in owned
        if (out / folder).exists()
        for path in (out / folder).rglob("*")
        if path.is_file() and str(path.relative_to(out)) not in files
    )
    if check:
        if stale or extra:
            raise RenderDiffError(
                "generated files are out of date (run `alignwatch render all`): " + ", ".join(stale + [f"{e} (extra)" for e in extra])
            )
        click.echo(f"{len(files)} generated files up to date")
        return
    for name in stale:
        path = out / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(files[name])
    for name in extra:
        (out / name).unlink()
    click.echo(f"{len(stale)} of {len(files)} files written, {len(extra)} stale removed, under {out}")


@click.group()
def render() -> None:
    """Render the generated deployment artefacts (rules, dashboards) from the catalogue."""


_check = click.option("--check", is_flag=True, help="Write nothing; fail when a committed file differs.")
_out = click.option("--out", type=click.Path(path_type=Path, file_okay=False), default=DEFAULT_DEPLOY, show_default=True,
                    help="The deploy directory.")
_runbooks = click.option("--runbook-base", default="docs/runbooks.md", show_default=True, metavar="URL",
                         help="Where the runbooks are served; alerts and dashboard panels link to URL#<section>.")
_strategy = click.option("--strategy", "strategy_files", metavar="FILE", multiple=True,
                         type=click.Path(path_type=Path, dir_okay=False, exists=True),
                         help="Strategy file; repeat for several businesses [default: the example strategies].")


@render.command("rules")
@_strategy
@_runbooks
@_out
@_check
def rules_command(strategy_files: tuple[Path, ...], runbook_base: str, out: Path, check: bool) -> None:
    """Recording and alerting rules for Prometheus, one file per business (the rule files of
    other businesses under OUT/prometheus/rules/ are removed)."""
    _apply(_rules(_strategies(strategy_files), runbook_base), out, check, ("prometheus/rules",))


@render.command("dashboards")
@_runbooks
@_out
@_check
def dashboards_command(runbook_base: str, out: Path, check: bool) -> None:
    """Grafana dashboards and provisioning files."""
    _apply(_dashboards(runbook_base), out, check, ("grafana/dashboards", "grafana/provisioning"))


@render.command("all")
@_strategy
@_runbooks
@_out
@_check
def all_command(strategy_files: tuple[Path, ...], runbook_base: str, out: Path, check: bool) -> None:
    """Rules and dashboards."""
    files = {**_rules(_strategies(strategy_files), runbook_base), **_dashboards(runbook_base)}
    _apply(files, out, check, ("prometheus/rules", "grafana/dashboards", "grafana/provisioning"))
