"""What each run left will cost, before anything trains (`reproduce --plan` reports it: `schedule`).

The estimate of one run, in seconds on one CPU thread:
    epochs x (train steps x K x B / train windows-per-second
              + validation windows / (3 x train windows-per-second))  + test pass + overhead
- windows per second: measured per dataset x method by `tests/benchmarks/test_bench_models.py`
  (`results/benchmarks/windows_per_second.json`, one thread); a method not measured there is
  costed as the slowest measured method on that dataset (or on any dataset), one with nothing to
  train as its overhead only;
- a forward pass is taken as 1/3 of a training step (backward ~ 2x forward);
- seconds per epoch, once runs of the cell (dataset, method, protocol; one thread) have finished:
  their mean `train_seconds / epochs_run`, from those made on this processor (`device.cpu` and
  `mkl_cbwr` as here) when there are any, else from all of them; the windows/s model was 0.5x to
  2.6x off the references' measured seconds per epoch, by machine and method; a cell costed from
  the study's seconds per epoch takes them times `study_scale` when this processor has finished
  runs of at least `SCALE_CELLS` other cells of its dataset and protocol (the study ran elsewhere:
  Air Quality `forecast` took 1.8x to 3.5x its figures here);
- epochs: the mean `epochs_run` of finished records of the same dataset, protocol, method and
  budget under `--out` (early stopping), else the budget study's run of that dataset and method
  replayed at this run's max epochs and patience (`budget_study.simulate`; for `corrected` and
  `forecast` runs also its measured seconds per epoch), else such records of another protocol,
  else the mean of the dataset's other study runs under this protocol, replayed alike (a guess:
  methods stop at different epochs), else `max_epochs` (an upper bound); for a killed run whose
  checkpoint under `--out` goes on (`resume`), the epochs left (`epochs_left`: no fewer than early
  stopping still needs) at the seconds per epoch it measured; a fresh run of a cell whose other seeds
  are mid-fit under `--out` (same config but the seed) counts them at the fewest epochs they will
  have trained (`mid_fit_floor`), alone or pooled with the finished records, when that is more than
  the estimate, and, when no run of the cell has finished, takes their seconds per epoch (a slow
  cell's first seed is the only measure of it while it trains);
- window counts per task from any record of the dataset and protocol (else from the data);
- overhead: process start, data loading and Lightning setup, taken from `OVERHEAD_SECONDS`
  measured by the executor benchmark when present, else 5 s.
Memory per job: the largest `peak_rss_mb` of records of the dataset under `--out` or the
committed references, else `results/benchmarks/peak_rss.json`.
"""

from __future__ import annotations

import json
import math
import statistics
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from ..paths import results_dir
from ..records import iter_runs, trainer_of

BENCH = "benchmarks"

#: study_scale: the fewest cells whose ratio of this processor's seconds per epoch to the study's
#: make a median worth applying (one cell, say LR's 0.1 s epochs of mostly overhead, says little)
SCALE_CELLS = 3


@dataclass(frozen=True)
class RunCost:
    key: str
    dataset: str
    method: str
    seconds: float
    epochs: float
    epochs_source: str  # "records" | "study" | "study of corrected" | "study, other methods" | "max_epochs" | "none"
    protocol: str = ""
    #: where seconds per epoch come from: "windows/s" (the benchmark), "study" (or "study x R": scaled
    #: to this processor), "records (N)" (this processor's, else any), "checkpoint" (a resumed run's own),
    #: "mid-fit seeds (N)" (other seeds' checkpoints)
    epoch_seconds_from: str = "windows/s"


def _bench(name: str) -> dict:
    path = results_dir() / BENCH / name
    return json.loads(path.read_text()) if path.is_file() else {}


def known_records(out: Path) -> list[dict]:
    """The records under `out` and the committed references, each folder read once (`out` is
    usually the references themselves: counted twice, a cell's "records (N)" would say 2N)."""
    recs = []
    for folder in dict.fromkeys(f.resolve() for f in (Path(out), results_dir() / "reference")):
        try:
            recs += [r.record for r in iter_runs(folder)]
        except Exception:  # an unreadable record must not stop a cost estimate
            continue
    return recs


def this_processor() -> tuple:
    """This machine's processor as records name it: model and MKL code path."""
    from ..numerics import cpu_model, mkl_branch

    return cpu_model(), mkl_branch()


def record_processor(rec: dict) -> tuple:
    """The processor a record ran on (its `device`): model and MKL code path."""
    device = rec.get("device") or {}
    return device.get("cpu"), device.get("mkl_cbwr")


def _windows_per_task(dataset: str, protocol: str, records: list[dict], data_dir) -> dict:
    for rec in records:
        if rec["dataset"] == dataset and rec["protocol"] == protocol and rec.get("windows"):
            return rec["windows"]
    from ..datasets.datamodule import BenchDataModule

    dm = BenchDataModule(dataset, protocol, data_dir=data_dir)
    dm.setup()
    return dm.data.windows_per_part()


def _study_histories() -> dict[tuple, list]:
    """{(dataset, method, protocol): per-epoch history} of the budget study's records."""
    from ..budget_study import study_runs

    try:
        return {(r.dataset, r.method, r.protocol): r.history for r in study_runs(results_dir() / "budget-study")}
    except Exception:  # no study, or an unreadable record: estimate without it
        return {}


def _study_epoch_seconds(history: list) -> float:
    return history[-1]["seconds"] / len(history)


def study_scale(study: dict[tuple, list], seconds_seen: dict[tuple, list]) -> dict[tuple, tuple[float, int]]:
    """{(dataset, protocol): (median ratio, cells)}: over the cells with both a study run and finished
    runs on this processor, the median of their mean seconds per epoch here to the study's; only where
    at least SCALE_CELLS cells have both."""
    ratios: dict[tuple, list] = defaultdict(list)
    for (ds, method, protocol), measured in seconds_seen.items():
        mine = [s for same, s in measured if same]
        if mine and (history := study.get((ds, method, protocol))):
            ratios[(ds, protocol)].append(sum(mine) / len(mine) / _study_epoch_seconds(history))
    return {key: (statistics.median(r), len(r)) for key, r in ratios.items() if len(r) >= SCALE_CELLS}


def stand_in_scale(study: dict[tuple, list], records: list[dict]) -> dict[tuple, tuple[float, int]]:
    """{(dataset, protocol): (median ratio, methods)} for a protocol without a study of its own
    (`paper`): over the dataset's methods with finished runs of it, the median of their mean epochs
    to their `corrected` study run replayed at the same budget; methods that train one epoch or none
    (M-Att's script, LR's closed form) say nothing and are left out; only with >= SCALE_CELLS methods."""
    from ..budget_study import simulate

    epochs: dict[tuple, list] = defaultdict(list)
    for rec in records:
        key = (rec["dataset"], rec["method"], rec["protocol"])
        if rec["status"] == "ok" and not rec.get("quick") and key not in study and (key[0], key[1], "corrected") in study:
            trainer = trainer_of(rec)
            epochs[(key, trainer.get("max_epochs"), trainer.get("patience"))].append(rec.get("epochs_run", 0))
    per_method: dict[tuple, list] = defaultdict(list)  # one ratio per budget its records ran at
    for ((ds, method, protocol), max_epochs, patience), ran in epochs.items():
        if max_epochs is None or patience is None:  # a record that does not say its budget
            continue
        replayed = simulate(study[(ds, method, "corrected")], max_epochs, patience, "val_loss").epochs_run
        if replayed > 1 and (mean := sum(ran) / len(ran)) > 1:
            per_method[(ds, protocol, method)].append(mean / replayed)
    ratios: dict[tuple, list] = defaultdict(list)  # one per method, however many budgets it ran at
    for (ds, protocol, _), r in per_method.items():
        ratios[(ds, protocol)].append(sum(r) / len(r))
    return {key: (statistics.median(r), len(r)) for key, r in ratios.items() if len(r) >= SCALE_CELLS}


def _saved(run, out: Path, read) -> dict | None:
    """This run's mid-fit checkpoint under `out` (`resume.saved`), None when there is none of its
    config; `read(path)` is `resume.saved`, cached by the caller."""
    from ..records import checkpoint_path, record_path
    from .resume import usable

    return usable(checkpoint_path(record_path(out, run.protocol.name, run.dataset.name, run.method.key, run.seed)),
                  run.config_hash(), read)


def cell_checkpoints(out: Path, protocol: str, dataset: str, method: str) -> list[tuple[int, Path]]:
    """(seed, path) of each mid-fit checkpoint of the cell under `out`, whatever its config."""
    from ..records import CHECKPOINT_SUFFIX, record_path

    folder = record_path(out, protocol, dataset, method, 0).parent
    found = []
    for path in sorted(folder.glob(f"seed=*{CHECKPOINT_SUFFIX}")):
        if (seed := path.name[len("seed="):-len(CHECKPOINT_SUFFIX)]).isdigit():
            found.append((int(seed), path))
    return found


def checkpoint_reader():
    """`resume.saved`, cached: one plan reads each checkpoint's header once, as a run's own, as a
    sibling's and for memory."""
    from functools import lru_cache

    from .resume import saved  # torch: imported only when a plan is costed

    return lru_cache(maxsize=None)(saved)


def _mid_fit_siblings(run, out: Path, read) -> list[dict]:
    """What the cell's other seeds' mid-fit checkpoints under `out` hold (`resume.saved`), those of the
    same config but the seed only; `read(path)` is `resume.saved`, cached by the caller."""
    from dataclasses import replace

    from .resume import usable

    found = []
    for seed, path in cell_checkpoints(out, run.protocol.name, run.dataset.name, run.method.key):
        if seed != run.seed and (state := usable(path, replace(run, seed=seed).config_hash(), read)) and state["epoch"]:
            found.append(state)
    return found


def mid_fit_floor(saved: dict, patience: int, max_epochs: int) -> int:
    """The fewest epochs a run saved mid-fit (`resume.saved`) will have trained when it stops."""
    return saved["epoch"] + int(epochs_left(0, saved["epoch"], saved["best_epoch"], patience, max_epochs))


def epochs_left(estimated: float, done: int, best_epoch: int | None, patience: int, max_epochs: int) -> float:
    """Epochs a run resumed after `done` epochs still trains: the estimate of its whole fit, but no
    fewer than early stopping still needs (`patience` epochs past the best so far) and no more than
    `max_epochs` allows; at least one."""
    stops_at_least = (best_epoch + 1 + patience) if best_epoch is not None else done + 1
    return max(min(max(estimated, stops_at_least), max_epochs) - done, 1)


def estimate(runs, out: Path, data_dir=None, read=None, records=None) -> list[RunCost]:
    """One RunCost per RunSpec of `runs`; `read` is `checkpoint_reader()` and `records` `known_records(out)`,
    handed in when the caller reads the same checkpoints and records again."""
    speed = {(r["dataset"], r["key"]): r["windows_per_second"] for r in _bench("windows_per_second.json").get("rows", [])}
    slowest = defaultdict(lambda: math.inf)
    for (ds, _), wps in speed.items():
        slowest[ds] = min(slowest[ds], wps)
    overhead = float(_bench("executors.json").get("overhead_seconds_per_run", 5.0))
    records = known_records(out) if records is None else records
    epochs_seen: dict[tuple, list] = defaultdict(list)
    seconds_seen: dict[tuple, list] = defaultdict(list)
    here = this_processor()
    for rec in records:
        if rec["status"] == "ok" and not rec.get("quick"):
            trainer = trainer_of(rec)
            epochs = rec.get("epochs_run", 0)  # epochs trained (its history has as many rows)
            epochs_seen[(rec["dataset"], rec["method"], trainer.get("max_epochs"), rec["protocol"])].append(epochs)
            epochs_seen[(rec["dataset"], rec["method"], trainer.get("max_epochs"), None)].append(epochs)
            if epochs and rec.get("train_seconds") and rec.get("torch_threads", 1) == 1:
                seconds_seen[(rec["dataset"], rec["method"], rec["protocol"])].append(
                    (record_processor(rec) == here, rec["train_seconds"] / epochs))
    from ..budget_study import simulate

    study = _study_histories()
    scale = study_scale(study, seconds_seen)
    stand_in = stand_in_scale(study, records)
    windows_cache: dict[tuple, dict] = {}
    read = read or checkpoint_reader()
    costs = []
    for run in runs:
        ds, t = run.dataset.name, run.trainer
        key = (ds, run.protocol.name)
        if key not in windows_cache:
            windows_cache[key] = _windows_per_task(ds, run.protocol.name, records, data_dir)
        windows = windows_cache[key]
        k, b = len(windows["train"]), t.batch_size or run.dataset.batch_size
        steps = math.ceil(max(windows["train"]) / b)
        steps = min(steps, t.limit_train_batches) if t.limit_train_batches else steps
        val_steps = math.ceil(max(windows["val"]) / b)
        val_steps = min(val_steps, t.limit_val_batches) if t.limit_val_batches else val_steps
        test_steps = math.ceil(max(windows["test"]) / b)
        wps = speed.get((ds, run.method.key)) or min(slowest[ds], min(slowest.values(), default=math.inf))
        if not getattr(run.method.load_class(), "trainable", True) or wps == math.inf:
            costs.append(RunCost(run.key, ds, run.method.key, overhead, 0, "none", run.protocol.name))
            continue
        # records of the same protocol before the study, the study before other protocols' records:
        # one budget stops at very different epochs under `paper` (Air Quality: none) and `corrected`
        seen = epochs_seen.get((ds, run.method.key, t.max_epochs, run.protocol.name))
        history = study.get((ds, run.method.key, run.protocol.name)) or study.get((ds, run.method.key, "corrected"))
        if not seen and not history:
            seen = epochs_seen.get((ds, run.method.key, t.max_epochs, None))
        if seen and not t.quick:
            epochs, source = sum(seen) / len(seen), "records"
        elif history and not t.quick:
            epochs = simulate(history, t.max_epochs, t.patience, "val_loss").epochs_run
            # no study under `paper`: its `corrected` run stands in, and says so, scaled by what the
            # dataset's other methods took under `paper` against theirs (FitRec: 0.9x to 3.2x, median 2.1)
            own = (ds, run.method.key, run.protocol.name) in study
            source = "study" if own else "study of corrected"
            if not own and (scaled := stand_in.get(key)):
                epochs = min(epochs * scaled[0], t.max_epochs)
                source = f"study of corrected x {scaled[0]:.2f} ({run.protocol.name} records of {scaled[1]} methods)"
        elif (peers := [h for (d, _, p), h in study.items() if d == ds and p == run.protocol.name]) and not t.quick:
            # no run of this method yet: its dataset's other study runs, replayed at this budget
            epochs = sum(simulate(h, t.max_epochs, t.patience, "val_loss").epochs_run for h in peers) / len(peers)
            source = "study, other methods"
        else:
            epochs, source = t.max_epochs, "max_epochs"
        epoch_s, epoch_seconds_from = (steps + val_steps / 3) * k * b / wps, "windows/s"
        if source == "study":
            # the study measured this run's own epochs (its method and protocol): its seconds per epoch
            epoch_s, epoch_seconds_from = _study_epoch_seconds(history), "study"
            if scaled := scale.get(key):
                epoch_s *= scaled[0]
                epoch_seconds_from = f"study x {scaled[0]:.2f} (this processor, {scaled[1]} cells)"
        if measured := seconds_seen.get((ds, run.method.key, run.protocol.name)):
            # what finished runs of this cell took per epoch, on this processor when any ran here: the
            # benchmark's windows/s was 0.5x to 2.6x off on the machines the references ran on
            mine = [s for same, s in measured if same]
            used = mine or [s for _, s in measured]
            epoch_s = sum(used) / len(used)
            epoch_seconds_from = f"records ({len(used)})" if mine else f"records ({len(used)}, other processors)"
        if (siblings := _mid_fit_siblings(run, out, read)) and not t.quick:
            # seeds still training go on to at least their floors: finished runs alone would cost the
            # cell from its fastest-stopping seeds (FitRec `paper` FATHOM-ga: 18 guessed, 33+ running)
            floors = [mid_fit_floor(s, t.patience, t.max_epochs) for s in siblings]
            pooled = (seen or []) + floors if source == "records" else floors
            if sum(pooled) / len(pooled) > epochs:
                epochs, source = sum(pooled) / len(pooled), f"{source}; no fewer than {len(floors)} mid-fit seed" + "s" * (len(floors) > 1)
            if not measured:
                epoch_s = sum(s["seconds"] for s in siblings) / sum(s["epoch"] for s in siblings)
                epoch_seconds_from = f"mid-fit seeds ({len(siblings)})"
        if (saved := _saved(run, out, read)) and saved["epoch"]:  # a killed run goes on after its saved epoch,
            done = saved["epoch"]                           # at the seconds per epoch it measured
            epochs = epochs_left(epochs, done, saved["best_epoch"], t.patience, t.max_epochs)
            epoch_s, epoch_seconds_from, source = saved["seconds"] / done, "checkpoint", f"{source}; resumes after epoch {done}"
        costs.append(RunCost(run.key, ds, run.method.key, epochs * epoch_s + test_steps * k * b / (3 * wps) + overhead,
                             epochs, source, run.protocol.name, epoch_seconds_from))
    return costs
