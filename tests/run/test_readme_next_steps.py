"""The README's "Measuring alignment" commands work as written after ``make run``: run from a
directory holding a demo store as ``make run`` leaves it (``var/demo-bakery.db``, the bakery's
28 simulated days ending at today's midnight, UTC) and the example strategies."""

from __future__ import annotations

import datetime as dt
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from alignwatch.cli.run import next_commands
from alignwatch.metrics.strategy import load_strategy
from alignwatch.runner import floor_time
from alignwatch.store import connect, upgrade
from alignwatch.store.schema import events
from alignwatch.stream.decode import make_event
from alignwatch.stream.rows import event_row
from alignwatch.stream.simulator import simulate

REPO = Path(__file__).resolve().parents[2]
DAYS = 28


def readme_commands() -> list[str]:
    """The shell commands of the code block under "## Measuring alignment" (continuations joined)."""
    section = (REPO / "README.md").read_text().split("## Measuring alignment", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```sh\n(.*?)```", section, re.S)
    assert block, "no sh block under Measuring alignment"
    return [line for line in block.group(1).replace("\\\n", " ").splitlines() if line.strip()]


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A working directory as ``make run`` leaves the checkout: the demo's store with the bakery's events."""
    directory = tmp_path_factory.mktemp("checkout")
    (directory / "examples").symlink_to(REPO / "examples")
    (directory / "var").mkdir()
    strategy = load_strategy(REPO / "examples" / "bakery.yaml")
    start = floor_time(dt.datetime.now(dt.UTC), dt.timedelta(days=1)) - dt.timedelta(days=DAYS)  # as the demo's story
    engine = connect(f"sqlite:///{directory / 'var' / 'demo-bakery.db'}")
    try:
        upgrade(engine)
        rows = [
            event_row(make_event(e["type"], e["source"], e["id"], e["time"], e["data"], e.get("subject")), start)
            for e in simulate("bakery", 7, start, DAYS, 8000, strategy=strategy)
        ]
        with engine.begin() as conn:
            conn.execute(events.insert(), rows)
    finally:
        engine.dispose()
    return directory


def test_the_readme_shows_the_commands_a_demo_run_prints_dates_aside() -> None:
    story = (dt.datetime(2026, 11, 5, tzinfo=dt.UTC), dt.datetime(2026, 12, 3, tzinfo=dt.UTC))
    printed = next_commands("sqlite:///var/demo-bakery.db", None, story)
    # the story's last seven days: [2026-12-03 - 7 days, 2026-12-03) = [2026-11-26, 2026-12-03)
    assert "--from 2026-11-26 --to 2026-12-03 --granularity day" in printed[0]
    dateless = [re.sub(r" --from \S+ --to \S+", "", command) for command in printed]
    in_readme = [re.sub(r"\s+#.*$", "", re.sub(r' --from "\$\(.*?\)" --to "\$\(.*?\)"', "", line)).strip()
                 for line in readme_commands()]
    assert [" ".join(line.split()) for line in in_readme[1:]] == dateless


@pytest.mark.integration
def test_the_readme_commands_after_a_demo_run_exit_0_with_real_content(demo_dir: Path) -> None:
    env = {key: value for key, value in os.environ.items() if not key.startswith("ALIGNWATCH_")}
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    outputs = []
    for command in readme_commands():
        done = subprocess.run(["bash", "-c", command], cwd=demo_dir, env=env, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, f"{command}\n{done.stdout[-2000:]}{done.stderr[-2000:]}"
        outputs.append(done.stdout)
    validate, compute, scorecard, explain, runs, report = outputs
    assert "bakery" in validate.lower()
    # seven days published: the scorecard and explanation read them, not an empty window
    assert re.search(r"SAI\s+\d+(\.\d+)?", scorecard), scorecard
    assert re.search(r"^SAI \d+\.\d \(previous window", explain, re.M), explain
    assert re.search(r"\bpublished\b", runs), runs
    page = (demo_dir / "report.html").read_text()
    assert "report written to" in report and re.search(r"\bSAI\b", page) and len(page) > 10_000
