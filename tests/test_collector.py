"""The collector's threshold while runs are on: raised for the time of the outermost run, restored after."""

from __future__ import annotations

import datetime as dt
import gc
import threading
from pathlib import Path

import pytest

from alignwatch import pipeline
from alignwatch.collector import YOUNG_THRESHOLD, fewer_collections
from alignwatch.store import connect, upgrade
from tests.metrics.builders import make_strategy


@pytest.fixture
def threshold():
    before = gc.get_threshold()
    gc.set_threshold(700, 10, 10)
    yield
    gc.set_threshold(*before)


def test_the_youngest_generation_is_collected_less_often_inside_and_as_before_after(threshold) -> None:
    with fewer_collections():
        assert gc.get_threshold() == (YOUNG_THRESHOLD, 10, 10)
        with fewer_collections():  # a run inside a backfill
            assert gc.get_threshold() == (YOUNG_THRESHOLD, 10, 10)
        assert gc.get_threshold() == (YOUNG_THRESHOLD, 10, 10)
    assert gc.get_threshold() == (700, 10, 10)


def test_a_run_that_raises_restores_the_threshold(threshold) -> None:
    with pytest.raises(RuntimeError), fewer_collections():
        raise RuntimeError("a run failed")
    assert gc.get_threshold() == (700, 10, 10)


def test_overlapping_runs_in_threads_restore_it_when_the_last_one_ends(threshold) -> None:
    inside, release = threading.Event(), threading.Event()

    def run() -> None:
        with fewer_collections():
            inside.set()
            release.wait(5)

    worker = threading.Thread(target=run)
    with fewer_collections():
        worker.start()
        assert inside.wait(5)
    assert gc.get_threshold()[0] == YOUNG_THRESHOLD  # the other run is still on
    release.set()
    worker.join(5)
    assert gc.get_threshold() == (700, 10, 10)


def test_a_higher_threshold_the_process_chose_is_kept(threshold) -> None:
    gc.set_threshold(10 * YOUNG_THRESHOLD, 10, 10)
    with fewer_collections():
        assert gc.get_threshold()[0] == 10 * YOUNG_THRESHOLD
    assert gc.get_threshold() == (10 * YOUNG_THRESHOLD, 10, 10)


def test_the_runs_of_the_pipeline_collect_less_often_and_leave_the_threshold_as_it_was(threshold, tmp_path: Path) -> None:
    seen: list[int] = []

    def compute(*args, **kwargs):
        seen.append(gc.get_threshold()[0])
        raise RuntimeError("stop here")

    engine = connect(f"sqlite:///{tmp_path / 'store.db'}")
    upgrade(engine)
    start = dt.datetime(2026, 3, 2, tzinfo=dt.UTC)
    with pytest.raises(RuntimeError, match="stop here"):
        pipeline.run_interval(engine, make_strategy(), start=start, end=start + dt.timedelta(hours=1), compute=compute,
                              write=lambda *a: None)
    assert seen == [YOUNG_THRESHOLD]
    assert gc.get_threshold() == (700, 10, 10)
    engine.dispose()
