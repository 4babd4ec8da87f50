"""Alerting drill: every planted change alerts, every control pages nobody, at demo and 10× volume.

``python -m bench alerting [--volumes 12000,120000] [--step-hours 12]`` replays each
simulator scenario with its planted change and without it (its control) at each volume,
evaluates the strategy's rendered alerts on the engine's values every ``--step-hours``
simulated hours (:mod:`alignwatch.drill`, the same evaluation Prometheus makes, held equal
to promtool's by the tests) and prints the table of docs/alerting.md: detected or not, the
simulated delay after the change, false pages and tickets in the control. Exit status 1
when a planted change is missed or a control pages anyone.

The wall-clock latency of a notification through a real Prometheus and Alertmanager with
the default rules is measured by ``tests/alerting/test_end_to_end.py`` (it prints it).
"""

from __future__ import annotations

import argparse
import datetime as dt
import tempfile
from pathlib import Path


def main(argv: list[str]) -> int:
    from alignwatch.drill import EXPECTED, describe, run_drill

    parser = argparse.ArgumentParser(prog="python -m bench alerting")
    parser.add_argument("--volumes", default="12000,120000", help="events per replay, comma-separated")
    parser.add_argument("--step-hours", type=float, default=12.0, help="simulated hours between evaluations")
    parser.add_argument("--scenarios", default=",".join(sorted(EXPECTED)))
    args = parser.parse_args(argv)
    try:
        volumes = [int(v) for v in args.volumes.split(",")]
    except ValueError:
        parser.error(f"--volumes: {args.volumes!r} is not a comma-separated list of integers")
    scenarios = [s for s in args.scenarios.split(",") if s]
    unknown = sorted(set(scenarios) - set(EXPECTED))
    if unknown:
        parser.error(f"--scenarios: unknown {', '.join(unknown)}; known: {', '.join(sorted(EXPECTED))}")
    results = []
    with tempfile.TemporaryDirectory() as workdir:
        for volume in volumes:
            for scenario in scenarios:
                result = run_drill(scenario, events=volume, step=dt.timedelta(hours=args.step_hours),
                                   workdir=Path(workdir), progress=lambda line: print("  " + line, flush=True))  # fmt: skip
                print(f"{scenario} at {volume:,} events: {result.seconds:.0f} s", flush=True)
                results.append(result)
    print()
    print(describe(results))
    for result in results:
        for page in result.false_pages:
            print(f"false page in the {result.scenario} control: {page.alert} {page.labels} at {page.simulated_at}")
    missed = [r for r in results if r.detection is None]
    paged = [r for r in results if r.false_pages]
    print(f"\ndetected {len(results) - len(missed)} of {len(results)}; controls with a false page: {len(paged)}")
    return 1 if missed or paged else 0
