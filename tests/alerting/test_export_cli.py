"""`alignwatch export` on a store with a published run: loopback, promtool-clean, clean exit."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from .conftest import REPO

ECOMMERCE = REPO / "examples" / "ecommerce.yaml"


@pytest.fixture(scope="module")
def published_store(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A SQLite store holding a day of ecommerce events and one published continuous run."""
    from alignwatch.metrics.strategy import load_strategy
    from alignwatch.pipeline import continuous_task
    from alignwatch.store import connect, upgrade
    from alignwatch.stream.contract import DecodeLimits
    from alignwatch.stream.ingest import ingest_files
    from alignwatch.stream.simulator import messages, write_jsonl

    folder = tmp_path_factory.mktemp("export")
    url = f"sqlite:///{folder / 'store.db'}"
    engine = connect(url)
    upgrade(engine)
    strategy = load_strategy(ECOMMERCE)
    end = dt.datetime.now(dt.UTC).replace(minute=0, second=0, microsecond=0)
    events = folder / "events.jsonl"
    write_jsonl(events, messages("ecommerce", 3, end - dt.timedelta(days=1), 1, 3000, strategy=strategy))
    ingest_files(engine, [events], DecodeLimits(max_payload_bytes=256 * 1024, max_future=dt.timedelta(days=1), max_age=None))
    outcome = continuous_task(engine, strategy, start=end - dt.timedelta(minutes=5), end=end + dt.timedelta(minutes=1))
    assert outcome.status == "published", outcome
    engine.dispose()
    return url


def _start(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", "from alignwatch.cli import main; main()", "export", *args],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={k: v for k, v in os.environ.items() if not k.startswith("ALIGNWATCH_")},
    )


def test_export_serves_the_published_snapshot_on_loopback_and_its_output_passes_promtool(
    published_store: str, promtool: str
) -> None:
    process = _start("--store", published_store, "--strategy", str(ECOMMERCE), "--port", "0")
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith("serving http://127.0.0.1:"), line + (process.stderr.read() if process.poll() else "")
        url = line.split()[1]
        body = urllib.request.urlopen(url, timeout=10).read()  # noqa: S310 - loopback
    finally:
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=15)
    assert process.returncode == 0, err
    assert "exporter stopped" in out
    text = body.decode()
    assert 'alignwatch_index_sai_score{business="northwind_outfitters",window="7d"}' in text
    from alignwatch.metrics.strategy import load_strategy

    csat = next(kpi for kpi in load_strategy(ECOMMERCE).kpis if kpi.id == "csat")
    assert f'alignwatch_kpi_target{{business="northwind_outfitters",kpi="csat",perspective="customer"}} {csat.target}' in text
    assert 'alignwatch_pipeline_validation_success{business="northwind_outfitters"} 1.0' in text
    check = subprocess.run([promtool, "check", "metrics"], input=body, capture_output=True, timeout=30)
    assert check.returncode == 0, check.stdout + check.stderr
    assert check.stdout.strip() == b"" and check.stderr.strip() == b""


def test_export_with_a_broken_web_config_says_so_in_one_line(published_store: str, tmp_path: Path) -> None:
    config = tmp_path / "web.yml"
    config.write_text("basic_auth_users:\n  alice: plaintext\n")
    process = _start("--store", published_store, "--strategy", str(ECOMMERCE), "--port", "0", "--web-config", str(config))
    out, err = process.communicate(timeout=30)
    assert process.returncode != 0
    assert "Traceback" not in err
    assert err.strip().splitlines() == [f"error: web config {config}: basic_auth_users.alice: must be a bcrypt hash ($2y$...)"]
