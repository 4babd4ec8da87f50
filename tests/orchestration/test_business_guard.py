"""One store serves one business: the first write with a strategy claims it, another strategy is refused.

The scenario that passed silently before: the bakery's events in a store, then
``alignwatch scorecard`` with the online shop's strategy printed an SAI about nothing.
On SQLite and PostgreSQL, through the CLI and through the pipeline entry point the DAGs call.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
import sqlalchemy as sa

from alignwatch.cli import main
from alignwatch.config import Settings
from alignwatch.errors import BusinessMismatchError
from alignwatch.metrics.strategy import load_strategy
from alignwatch.pipeline import continuous_task
from alignwatch.runner import RunOptions, Supervisor
from alignwatch.store import connect
from alignwatch.store.business import check_business, claim_business, served_business
from alignwatch.store.schema import events, pipeline_heartbeats, pipeline_runs
from alignwatch.stream.simulator import messages, write_jsonl

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
BAKERY, ECOMMERCE = EXAMPLES / "bakery.yaml", EXAMPLES / "ecommerce.yaml"
START = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)


def _main(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    out, err = capsys.readouterr()
    return int(exit_info.value.code or 0), out, err


@pytest.fixture
def bakery_store(store_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                 monkeypatch: pytest.MonkeyPatch) -> str:
    """A store holding two days of the bakery's events, ingested with the bakery's strategy."""
    for name in ("ALIGNWATCH_STRATEGY_FILE", "ALIGNWATCH_ALLOW_BUSINESS_MISMATCH", "ALIGNWATCH_STORE_URL"):
        monkeypatch.delenv(name, raising=False)
    path = tmp_path / "bakery.jsonl"
    write_jsonl(path, messages("bakery", 3, START, 2, 400, malformed_share=0.0, duplicate_share=0.0))
    code, out, err = _main(["ingest", str(path), "--store", store_url, "--strategy", str(BAKERY)], capsys)
    assert code == 0, err
    return store_url


def test_the_first_write_with_a_strategy_claims_the_store_for_its_business(bakery_store: str) -> None:
    engine = connect(bakery_store)
    claim = served_business(engine)
    with engine.connect() as conn:
        stored = conn.execute(sa.select(sa.func.count()).select_from(events)).scalar_one()
    engine.dispose()
    assert stored > 0
    assert claim is not None
    assert (claim.business, claim.claimed_by) == ("Riverside Bakery", "alignwatch ingest")


def test_the_scorecard_of_the_bakerys_store_with_the_shops_strategy_names_both_businesses_and_the_store(
    bakery_store: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = _main(["scorecard", "--at", "2026-03-03", "--store", bakery_store, "--strategy", str(ECOMMERCE)],
                           capsys)  # fmt: skip
    assert code == 2
    assert out == ""
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    shown = connect(bakery_store).url.render_as_string(hide_password=True)
    assert err.startswith(f"error: store {shown} serves 'Riverside Bakery', not 'Northwind Outfitters'")
    assert "--allow-business-mismatch" in err


@pytest.mark.parametrize("command", [["explain", "sai", "--at", "2026-03-03"], ["report", "--at", "2026-03-03"],
                                     ["metrics", "compute", "--from", "2026-03-01", "--to", "2026-03-02"],
                                     ["export", "--port", "0"]])
def test_explain_report_compute_and_export_refuse_the_other_business_too(
    bakery_store: str, command: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    extra = ["--out", str(tmp_path / "report.html")] if command[0] == "report" else []
    code, _, err = _main([*command, *extra, "--store", bakery_store, "--strategy", str(ECOMMERCE)], capsys)
    assert code == 2
    assert "serves 'Riverside Bakery', not 'Northwind Outfitters'" in err
    assert not (tmp_path / "report.html").exists()
    engine = connect(bakery_store)
    with engine.connect() as conn:
        runs = conn.execute(sa.select(sa.func.count()).select_from(pipeline_runs)).scalar_one()
    engine.dispose()
    assert runs == 0  # nothing computed nor recorded for the wrong business


def test_with_the_override_flag_the_other_strategy_is_used_and_the_claim_stays(
    bakery_store: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = _main(["scorecard", "--at", "2026-03-03", "--json", "--store", bakery_store,
                            "--strategy", str(ECOMMERCE), "--allow-business-mismatch"], capsys)  # fmt: skip
    assert code == 0, err
    assert json.loads(out)["business"] == "Northwind Outfitters"
    engine = connect(bakery_store)
    claim = served_business(engine)
    engine.dispose()
    assert claim is not None and claim.business == "Riverside Bakery"


def test_the_bakerys_own_strategy_reads_its_store(bakery_store: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _main(["scorecard", "--at", "2026-03-03", "--json", "--store", bakery_store,
                            "--strategy", str(BAKERY)], capsys)  # fmt: skip
    assert code == 0, err
    assert json.loads(out)["business"] == "Riverside Bakery"


def test_ingesting_with_the_other_strategy_stores_nothing(bakery_store: str, tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "shop.jsonl"
    write_jsonl(path, messages("ecommerce", 3, START, 1, 50, malformed_share=0.0, duplicate_share=0.0))
    engine = connect(bakery_store)
    with engine.connect() as conn:
        before = conn.execute(sa.select(sa.func.count()).select_from(events)).scalar_one()
    code, _, err = _main(["ingest", str(path), "--store", bakery_store, "--strategy", str(ECOMMERCE)], capsys)
    with engine.connect() as conn:
        after = conn.execute(sa.select(sa.func.count()).select_from(events)).scalar_one()
    engine.dispose()
    assert code == 2 and "not 'Northwind Outfitters'" in err
    assert after == before


def test_the_continuous_task_the_dag_calls_refuses_the_other_business_before_writing_anything(
    bakery_store: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the DAG task passes the store URL and strategy file from its environment, as here
    with pytest.raises(BusinessMismatchError) as refused:
        continuous_task(bakery_store, str(ECOMMERCE), start=START + dt.timedelta(hours=10),
                        end=START + dt.timedelta(hours=11))  # fmt: skip
    assert (refused.value.served, refused.value.given) == ("Riverside Bakery", "Northwind Outfitters")
    engine = connect(bakery_store)
    with engine.connect() as conn:
        runs = conn.execute(sa.select(sa.func.count()).select_from(pipeline_runs)).scalar_one()
        beats = conn.execute(sa.select(sa.func.count()).select_from(pipeline_heartbeats)).scalar_one()
    engine.dispose()
    assert (runs, beats) == (0, 0)

    # ALIGNWATCH_ALLOW_BUSINESS_MISMATCH is how a deployment of the DAGs says it means it
    monkeypatch.setenv("ALIGNWATCH_ALLOW_BUSINESS_MISMATCH", "true")
    outcome = continuous_task(bakery_store, str(ECOMMERCE), start=START + dt.timedelta(hours=10),
                              end=START + dt.timedelta(hours=11))  # fmt: skip
    assert outcome.run_id is not None
    engine = connect(bakery_store)
    with engine.connect() as conn:
        business = conn.execute(sa.select(pipeline_runs.c.business)).scalar_one()
    claim = served_business(engine)
    engine.dispose()
    assert business == "Northwind Outfitters"
    assert claim is not None and claim.business == "Riverside Bakery"


def test_a_store_without_a_claim_is_claimed_by_the_next_write_and_only_reading_leaves_it_unclaimed(
    store_engine: sa.Engine,
) -> None:
    # a store migrated from before the claim existed: no row
    assert served_business(store_engine) is None
    assert check_business(store_engine, "Northwind Outfitters") is None
    assert served_business(store_engine) is None
    first = claim_business(store_engine, "Riverside Bakery", by="alignwatch consume")
    again = claim_business(store_engine, "Riverside Bakery", by="alignwatch run")
    assert first == again  # the first claim stays, with its time and command
    assert again.claimed_by == "alignwatch consume"
    with pytest.raises(BusinessMismatchError):
        claim_business(store_engine, "Northwind Outfitters", by="alignwatch run")


def test_alignwatch_run_on_the_bakerys_store_with_the_shops_strategy_fails_at_startup_naming_both(
    bakery_store: str, tmp_path: Path
) -> None:
    lines: list[str] = []
    # an unreachable broker: the store is checked before anything connects to it
    settings = Settings(store_url=bakery_store, bootstrap_servers=["127.0.0.1:9"])
    options = RunOptions(scenario=None, embedded_broker=False, duration_s=5, var_dir=tmp_path)
    result = Supervisor(settings, load_strategy(ECOMMERCE), options, emit=lines.append).run()
    assert result.exit_code == 1
    (failure,) = result.failures
    assert failure.startswith("startup: store ") and "serves 'Riverside Bakery', not 'Northwind Outfitters'" in failure
    assert "broker" not in result.status.components
