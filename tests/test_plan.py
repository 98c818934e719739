"""`reproduce --plan` and `--deadline`'s estimates: what each run left costs (`runner/cost.py`:
epochs and seconds per epoch, from records, the budget study or the benchmark) and how the report
shows it (`runner/schedule.py`). The CLI side of --plan is in test_executors.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from fathom_bench.datasets import load_dataset_spec
from fathom_bench.methods import get_method
from fathom_bench.protocol import get_protocol
from fathom_bench.records import iter_runs, record_path, write_record
from fathom_bench.runner import cost as cost_module
from fathom_bench.runner.cost import RunCost
from fathom_bench.runner.schedule import makespan, render_plan
from fathom_bench.runner.spec import RunSpec, TrainerSettings
from tests.records_factory import make_record

WINDOWS = {part: [100, 100] for part in ("train", "val", "test")}  # per task


@pytest.fixture
def records_under_out_only(monkeypatch):
    """Estimates from the records under the test's --out only, not the committed references."""
    monkeypatch.setattr(cost_module, "known_records", lambda out: [r.record for r in iter_runs(out)])


def window_counts(out: Path) -> None:
    """A finished Air Quality `forecast` record that gives the estimates its window counts only."""
    rec = make_record("beijing_air_quality", "lr", 0, {"mae": 1.0}, protocol="forecast")
    rec.update(windows=WINDOWS, config={"trainer": {"max_epochs": 1}})
    write_record(record_path(out, "forecast", "beijing_air_quality", "lr", 0), rec)


def air_quality_run(method: str, protocol: str, seed: int = 1) -> RunSpec:
    return RunSpec(load_dataset_spec("beijing_air_quality"), get_method(method), seed, get_protocol(protocol),
                   TrainerSettings(max_epochs=100, patience=20))


def estimate_one(run: RunSpec, out: Path) -> RunCost:
    (cost,) = cost_module.estimate([run], out)
    return cost


def test_plan_wall_time_is_the_schedule_of_the_estimates():
    assert makespan([4, 3, 3, 2], 2) == 6 and makespan([5, 1], 4) == 5 and makespan([1, 1, 1], 1) == 3


def test_plan_takes_epochs_from_records_of_the_same_protocol(tmp_path, monkeypatch, records_under_out_only):
    """One budget stops at very different epochs under `paper` (no early stop on Air Quality) and
    `corrected`: a `corrected` run is costed from `corrected` records when there are any."""
    for protocol, epochs_run in (("corrected", 9), ("paper", 99)):
        rec = make_record("beijing_air_quality", "m_lstm", 0, {"mae": 1.0}, protocol=protocol)
        rec.update(epochs_run=epochs_run, windows=WINDOWS, config={"trainer": {"max_epochs": 100}})
        write_record(record_path(tmp_path, protocol, "beijing_air_quality", "m_lstm", 0), rec)
    window_counts(tmp_path)

    def costed(protocol: str, method: str = "m_lstm"):
        cost = estimate_one(air_quality_run(method, protocol), tmp_path)
        return cost.epochs, cost.epochs_source

    assert costed("corrected") == (9, "records")  # epochs_run counts the epochs trained
    assert costed("paper") == (99, "records")
    history = [{"epoch": e, "seconds": 1.0 + e, "val_loss": abs(e - 4)} for e in range(25)]  # best epoch 4
    monkeypatch.setattr(cost_module, "_study_histories", lambda: {("beijing_air_quality", "lr", "forecast"): history})
    assert costed("forecast", "crnn") == (25, "study, other methods")  # no run of CRNN: LR's, replayed
    monkeypatch.setattr(cost_module, "_study_histories", dict)  # no budget study either
    assert costed("forecast") == (54, "records")  # none of its own protocol: every protocol's
    # no record of CRNN and no study under `paper`: its `corrected` study run stands in, named as such
    monkeypatch.setattr(cost_module, "_study_histories", lambda: {("beijing_air_quality", "crnn", "corrected"): history})
    assert costed("paper", "crnn") == (25, "study of corrected")
    assert costed("corrected", "crnn") == (25, "study")


def test_plan_scales_a_stand_in_corrected_study_by_what_the_other_methods_took_under_paper(
        tmp_path, monkeypatch, records_under_out_only):
    """No study under `paper`: a method without `paper` records is costed from its `corrected` study
    run replayed at its budget, times the median over the dataset's other methods of their `paper`
    epochs to their own replay (FitRec FATHOM-ga took 83 epochs under `paper`, its replay says 18;
    the other methods' median, 2.1x, takes the guess to 37). LR (no epochs) says nothing."""
    history = [{"epoch": e, "seconds": 1.0 + e, "val_loss": abs(e - 4)} for e in range(40)]  # best 4: 25 at patience 20
    methods = ("lr", "mlp", "crnn", "s_lstm", "m_lstm")
    monkeypatch.setattr(cost_module, "_study_histories",
                        lambda: {("beijing_air_quality", m, "corrected"): history for m in methods})
    window_counts(tmp_path)

    def paper_record(method: str, epochs_run: int):
        rec = make_record("beijing_air_quality", method, 0, {"mae": 1.0}, protocol="paper")
        rec.update(epochs_run=epochs_run, windows=WINDOWS, config={"trainer": {"max_epochs": 100, "patience": 20}})
        write_record(record_path(tmp_path, "paper", "beijing_air_quality", method, 0), rec)

    def m_lstm():
        cost = estimate_one(air_quality_run("m_lstm", "paper"), tmp_path)
        return cost.epochs, cost.epochs_source

    paper_record("lr", 0)
    paper_record("mlp", 50)
    paper_record("crnn", 60)
    assert m_lstm() == (25, "study of corrected")  # two methods: too few for a median
    rec = make_record("beijing_air_quality", "crnn", 1, {"mae": 1.0}, protocol="paper")  # CRNN at another budget
    rec.update(epochs_run=70, windows=WINDOWS, config={"trainer": {"max_epochs": 100, "patience": 30}})  # replay 35: 2x
    write_record(record_path(tmp_path, "paper", "beijing_air_quality", "crnn", 1), rec)
    assert m_lstm() == (25, "study of corrected")  # still two methods, not three
    paper_record("s_lstm", 100)
    assert m_lstm() == (pytest.approx(55), "study of corrected x 2.20 (paper records of 3 methods)")  # 2, (2.4 + 2) / 2, 4
    assert estimate_one(air_quality_run("m_lstm", "corrected"), tmp_path).epochs == 25  # its own study: unscaled


def test_plan_takes_seconds_per_epoch_from_finished_runs_on_this_processor_first(tmp_path, monkeypatch, records_under_out_only):
    """Finished runs of the cell measured their seconds per epoch: the plan uses theirs, made on this
    processor when any were, else anyone's; without any it models windows/s."""
    monkeypatch.setattr(cost_module, "_study_histories", dict)
    here = cost_module.this_processor()
    run = air_quality_run("m_lstm", "corrected", 9)

    def record(seed: int, seconds: float, cpu: str | None, mkl: str | None, threads: int = 1):
        rec = make_record("beijing_air_quality", "m_lstm", seed, {"mae": 1.0}, protocol="corrected")
        rec.update(epochs_run=10, train_seconds=seconds, windows=WINDOWS, torch_threads=threads,
                   config={"trainer": {"max_epochs": 100}}, device={"name": "cpu", "cpu": cpu, "mkl_cbwr": mkl})
        write_record(record_path(tmp_path, "corrected", "beijing_air_quality", "m_lstm", seed), rec)

    modelled = estimate_one(run, tmp_path)
    assert modelled.epoch_seconds_from == "windows/s"
    record(0, 1000.0, "another processor", None)
    record(1, 3000.0, "another processor", None)
    record(2, 500.0, "another processor", None, threads=4)  # not one thread: not a one-thread estimate
    other = estimate_one(run, tmp_path)
    assert other.epoch_seconds_from == "records (2, other processors)"
    record(3, 50.0, *here)
    mine = estimate_one(run, tmp_path)
    assert mine.epoch_seconds_from == "records (1)"
    assert (other.epochs, mine.epochs) == (10, 10)
    # 200 s per epoch (the two one-thread runs elsewhere) against 5 s (the run here); the rest is equal
    assert other.seconds - mine.seconds == pytest.approx(10 * (200.0 - 5.0))


def test_plan_scales_study_seconds_to_this_processor_by_the_other_cells(tmp_path, monkeypatch, records_under_out_only):
    """The study ran on another machine: a cell costed from its seconds per epoch takes them times the
    median ratio of this processor's finished runs to the study over the dataset's other cells, when
    there are at least SCALE_CELLS of them (Air Quality `forecast` ran 1.8x to 3.5x slower here)."""
    history = [{"epoch": e, "seconds": 2.0 * (e + 1), "val_loss": abs(e - 4)} for e in range(25)]  # 2 s/epoch
    methods = ("mlp", "crnn", "s_lstm", "m_lstm")
    monkeypatch.setattr(cost_module, "_study_histories",
                        lambda: {("beijing_air_quality", m, "forecast"): history for m in methods})
    here = cost_module.this_processor()

    def finished(method: str, epoch_seconds: float):
        rec = make_record("beijing_air_quality", method, 0, {"mae": 1.0}, protocol="forecast")
        rec.update(epochs_run=10, train_seconds=10 * epoch_seconds, windows=WINDOWS, torch_threads=1,
                   config={"trainer": {"max_epochs": 100}}, device={"name": "cpu", "cpu": here[0], "mkl_cbwr": here[1]})
        write_record(record_path(tmp_path, "forecast", "beijing_air_quality", method, 0), rec)

    def m_lstm():
        return estimate_one(air_quality_run("m_lstm", "forecast"), tmp_path)

    window_counts(tmp_path)
    unscaled = m_lstm()
    assert unscaled.epoch_seconds_from == "study"
    finished("mlp", 4.0)
    finished("crnn", 5.0)
    assert m_lstm().epoch_seconds_from == "study"  # two cells: too few for a median
    finished("s_lstm", 8.0)
    scaled = m_lstm()  # ratios 2, 2.5, 4: median 2.5
    assert scaled.epoch_seconds_from == "study x 2.50 (this processor, 3 cells)"
    assert scaled.seconds - unscaled.seconds == pytest.approx(scaled.epochs * (2.5 - 1) * 2.0)


def test_plan_reads_the_references_once_when_they_are_the_out_folder(tmp_path, monkeypatch):
    """`--out results/reference` (how the grid runs) is also the committed references: read twice, a
    cell's "records (N)" would count each run twice."""
    monkeypatch.setattr(cost_module, "results_dir", lambda: tmp_path / "results")
    for out, seed in ((tmp_path / "results" / "reference", 0), (tmp_path / "scratch", 1)):
        write_record(record_path(out, "corrected", "fitrec", "mlp", seed),
                     make_record("fitrec", "mlp", seed, {"mae": 1.0}, protocol="corrected"))
    monkeypatch.chdir(tmp_path)
    assert [r["seed"] for r in cost_module.known_records(Path("results/reference"))] == [0]
    assert sorted(r["seed"] for r in cost_module.known_records(tmp_path / "scratch")) == [0, 1]


def test_plan_table_has_a_row_per_protocol():
    """One method under two protocols is two rows, each with its own epochs: the same budget stops
    at very different epochs under each (FitRec: 48 `corrected`, 104 `forecast`)."""
    costs = [RunCost("a", "fitrec", "crnn", 600.0, 48, "study", "corrected"),
             RunCost("b", "fitrec", "crnn", 1300.0, 104, "study", "forecast")]
    table = render_plan(costs, 2, 1, Path("out"))
    assert "| fitrec | corrected | crnn | 1 | 48 (study) | windows/s | 10.0 | 0.17 |" in table
    assert "| fitrec | forecast | crnn | 1 | 104 (study) | windows/s | 21.7 | 0.36 |" in table
    assert "total: 0.53 CPU-hours" in table


def test_plan_table_gives_a_resumed_run_its_own_row():
    """A run that goes on from its checkpoint costs what it has left, at its own seconds per epoch:
    it is a row of its own, not the figures shown for the cell's fresh runs."""
    costs = [RunCost("s2", "fitrec", "fathom", 3000.0, 62, "records; resumes after epoch 88", "paper", "checkpoint"),
             RunCost("s3", "fitrec", "fathom", 6000.0, 140, "records", "paper", "records (2)"),
             RunCost("s4", "fitrec", "fathom", 6000.0, 140, "records", "paper", "records (2)")]
    table = render_plan(costs, 5, 1, Path("out"))
    assert "| fitrec | paper | fathom | 1 | 62 (records; resumes after epoch 88) | checkpoint | 50.0 | 0.83 |" in table
    assert "| fitrec | paper | fathom | 2 | 140 (records) | records (2) | 100.0 | 3.33 |" in table


def test_plan_memory_names_every_cell_not_measured_yet(tmp_path, monkeypatch):
    """A cell with no record and no checkpoint is given its dataset's peak, a guess: the memory line
    names each such cell, whichever cell's figure it shows (it named only the first)."""
    from fathom_bench.runner.memory import peak_rss_mb

    monkeypatch.setattr(cost_module, "_bench", lambda name: {})
    records = [{**make_record("fitrec", m, 0, {"mae": 1.0}, protocol=p), "peak_rss_mb": mib}
               for m, p, mib in (("fathom_ga", "corrected", 2800.0), ("crnn", "forecast", 900.0))]
    cells = [("fitrec", "m_att", "forecast"), ("fitrec", "fathom", "forecast"), ("fitrec", "crnn", "forecast")]
    assert peak_rss_mb(cells, tmp_path, records=records) == {
        "fitrec": (2800.0, "other cells' records; fathom forecast, m_att forecast not measured yet")}
    measured = peak_rss_mb(cells + [("fitrec", "fathom_ga", "corrected")], tmp_path, records=records)
    assert measured == {"fitrec": (2800.0, "fathom_ga corrected; fathom forecast, m_att forecast not measured yet")}
    assert peak_rss_mb([("fitrec", "crnn", "forecast")], tmp_path, records=records) == {"fitrec": (900.0, "crnn forecast")}


def test_plan_reads_the_records_once(tmp_path, monkeypatch):
    """A whole --plan (estimates and memory line) reads the records once: each read is every record
    under --out and the references (0.19 s for the 500 references)."""
    from fathom_bench.runner.execution import Execution
    from fathom_bench.runner.schedule import plan_text

    write_record(record_path(tmp_path, "corrected", "beijing_air_quality", "mlp", 0),
                 {**make_record("beijing_air_quality", "mlp", 0, {"mae": 1.0}), "peak_rss_mb": 500.0})
    reads, read = [], cost_module.known_records
    monkeypatch.setattr(cost_module, "known_records", lambda out: reads.append(out) or read(out))
    text = plan_text([air_quality_run("mlp", "corrected")], 2, tmp_path, Execution())
    assert "beijing_air_quality 0.5 GiB (mlp corrected)" in text and len(reads) == 1
