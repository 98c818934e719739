"""`--deadline`: a run starts only while its estimate fits before the deadline; the rest are
deferred with no record and no lost work, and the same command goes on with them."""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path

import pytest

from fathom_bench.cli import main
from fathom_bench.errors import BadInput
from fathom_bench.records import iter_runs
from fathom_bench.runner import cost, schedule
from fathom_bench.runner.execution import parse_deadline
from fathom_bench.runner.schedule import DEADLINE_MARGIN

TABLE = str(Path(__file__).parent / "fixtures" / "table_synthetic.yaml")
NOW = datetime(2026, 12, 6, 6, 30, 15).timestamp()


@pytest.mark.parametrize("text, seconds", [("90m", 5400), ("2h", 7200), ("1h30m", 5400), ("45", 2700)])
def test_a_duration_counts_from_now(text, seconds):
    assert parse_deadline(text, now=NOW) == NOW + seconds


def test_a_clock_time_is_its_next_occurrence():
    assert datetime.fromtimestamp(parse_deadline("09:05", now=NOW)) == datetime(2026, 12, 6, 9, 5)
    assert datetime.fromtimestamp(parse_deadline("06:00", now=NOW)) == datetime(2026, 12, 7, 6, 0)


@pytest.mark.parametrize("text", ["24:00", "9:75", "", "h", "1d", "-5m", "1.5h", "soon"])
def test_a_bad_deadline_is_bad_input(text):
    with pytest.raises(BadInput, match="--deadline"):
        parse_deadline(text, now=NOW)


@pytest.fixture
def costs(monkeypatch):
    """Each run's estimate in seconds, by method (the real estimate has no speeds for synthetic data)."""
    seconds = {}

    def fake(runs, out, data_dir=None, read=None, records=None):
        return [cost.RunCost(r.key, r.dataset.name, r.method.key, seconds[r.method.key], 1, "test", r.protocol.name)
                for r in runs]

    monkeypatch.setattr(cost, "estimate", fake)
    return seconds


def reproduce(out, *extra):
    return main(["reproduce", "--table", TABLE, "--out", str(out), "--wandb", "disabled", "--no-progress",
                 "--methods", "lr", "m_lstm", "--seeds", "2", "--max-epochs", "1", *extra])


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_runs_that_would_end_after_the_deadline_do_not_start(tmp_path, costs, capsys, jobs):
    costs.update(lr=1.0, m_lstm=10 * 3600.0)  # LR fits in an hour, M-LSTM does not
    assert reproduce(tmp_path, "--deadline", "1h", "--jobs", jobs) == 0
    out = capsys.readouterr().out
    assert "2 run(s) not started" in out and "2 not started (--deadline)" in out
    assert sorted(r.record["method"] for r in iter_runs(tmp_path)) == ["lr", "lr"]
    assert not list(tmp_path.rglob("*m_lstm*")) and not list((tmp_path / "runs").rglob("*.partial.ckpt"))

    # the same command without the deadline goes on with exactly the deferred runs
    assert reproduce(tmp_path, "--jobs", jobs) == 0
    out = capsys.readouterr().out
    assert "2 runs trained, 2 reused, 0 failed, 0 not started" in out
    assert sorted(r.record["method"] for r in iter_runs(tmp_path)) == ["lr", "lr", "m_lstm", "m_lstm"]


def test_the_margin_is_applied(tmp_path, costs, capsys):
    # 50 min of estimate: x1.25 = 62.5 min does not fit in an hour; 45 min (56 min) does
    assert DEADLINE_MARGIN == 1.25
    costs.update(lr=45 * 60.0, m_lstm=50 * 60.0)
    assert reproduce(tmp_path, "--deadline", "60m") == 0
    assert sorted(r.record["method"] for r in iter_runs(tmp_path)) == ["lr", "lr"]


def test_a_deferred_task_never_calls_train(tmp_path, monkeypatch):
    from fathom_bench.runner import train as train_mod
    from fathom_bench.runner.executors.task import RunTask, execute
    from fathom_bench.runner.grid import plan

    def never(*args, **kwargs):
        raise AssertionError("a deferred run trained")

    monkeypatch.setattr(train_mod, "train_one", never)
    run = plan(["synthetic"], ["lr"], [0], ["corrected"], max_epochs=1)[0]
    path = tmp_path / "seed=0.json"
    outcome = execute(RunTask(run, path, tmp_path, start_by=time.time() - 1))
    assert outcome.status == "deferred" and not path.exists()


def test_plan_simulates_the_grid_s_rule():
    # two workers, in grid order: a and b (40 min) start at once; at minute 40 c (50 min x1.25 > 80-40)
    # is skipped and d (10 min) takes its place; e (30 min x1.25 = 37.5 <= 80-40) takes the other worker
    minute = 60.0
    costs = [cost.RunCost(k, "fitrec", m, s * minute, 1, "test", "paper")
             for k, m, s in [("a", "fathom", 40), ("b", "fathom", 40), ("c", "crnn", 50), ("d", "mlp", 10),
                             ("e", "lr", 30)]]
    started, last = schedule.before_deadline(costs, 2, now=0.0, deadline=80 * minute)
    assert [c.key for c in started] == ["a", "b", "d", "e"] and last == 70 * minute
    table = schedule.render_plan(costs, 5, 2, Path("out"), deadline=NOW + 80 * minute, now=NOW)
    assert "with --deadline 2026-12-06 07:50: 4 of 5 runs start (2.00 CPU-hours, the last ending about " \
           "2026-12-06 07:40); left for later: crnn 1" in table


def test_plan_with_a_deadline_from_the_command_line(tmp_path, costs, capsys):
    costs.update(lr=1.0, m_lstm=10 * 3600.0)
    assert reproduce(tmp_path, "--deadline", "1h", "--plan") == 0
    out = capsys.readouterr().out
    assert "2 of 4 runs start" in out and "left for later: m_lstm 2" in out
    assert not (tmp_path / "runs").exists()  # --plan trains nothing
