"""Alerting drill: every planted change alerts, every control pages nobody, at demo and 10× volume.

``python -m bench alerting [--volumes 12000,120000] [--step-hours 12] [--stack]`` replays each
simulator scenario with its planted change and without it (its control) at each volume,
evaluates the strategy's rendered alerts on the engine's values every ``--step-hours``
simulated hours (:mod:`alignwatch.drill`, the same evaluation Prometheus makes, held equal
to promtool's by the tests) and prints the table of docs/alerting.md: detected or not, the
simulated delay after the change, false pages and tickets in the control. Exit status 1
when a planted change is missed or a control pages anyone.

With ``--stack`` it then publishes every replay (planted and control, each volume) as a
business of its own, served by its own exporter, scraped by one real Prometheus with the
default rendered rules and notified by one real Alertmanager with the deployed
configuration, and reports, per planted change, whether and how long after publication it
reached the webhook, and the pages of each control (a few minutes: the planted changes'
alerts hold for 2 minutes). ``tests/alerting/test_end_to_end.py`` measures the
same path for the ecommerce page from the first event produced.
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
    parser.add_argument("--stack", action="store_true",
                        help="also notify through a real Prometheus and Alertmanager with the default rules "
                             "(each scenario at each volume, planted and control, as businesses of one stack)")
    parser.add_argument("--stack-timeout", type=float, default=10 * 60, help="seconds to wait for the notifications")
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
    failed = bool(missed or paged)
    if args.stack:
        from alignwatch.drill import describe_stack, stack_drill

        with tempfile.TemporaryDirectory() as workdir:
            cases = stack_drill(
                scenarios, volumes, workdir=Path(workdir), timeout_s=args.stack_timeout,
                alertmanager_config=Path(__file__).resolve().parents[1] / "deploy" / "alertmanager" / "alertmanager.yml",
                progress=lambda line: print("  " + line, flush=True),
            )  # fmt: skip
        print()
        print(describe_stack(cases))
        unnotified = [c for c in cases if c.planted and c.notified_at is None]
        control_pages = [c for c in cases if not c.planted and c.pages]
        print(f"\nnotified {sum(1 for c in cases if c.planted) - len(unnotified)} of {sum(1 for c in cases if c.planted)}"
              f" at the webhook; controls with a page: {len(control_pages)}")  # fmt: skip
        failed = failed or bool(unnotified or control_pages)
    return 1 if failed else 0
