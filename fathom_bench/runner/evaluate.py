"""`evaluate`: run a (new) method on the benchmark protocol with the same paired seeds and the same
training budget as the runs already stored, then rebuild the leaderboard from the records."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from ..datasets.spec import load_dataset_spec
from ..errors import BadInput
from ..methods import get_method
from ..protocol import get_protocol
from ..records import iter_runs, record_budget, trainer_of
from . import tracking
from .execution import Execution, check_out
from .grid import GridReport, run_grid
from .overrides import apply_overrides
from .spec import RunSpec, TrainerSettings


def stored_grid(results: Path, protocol: str, exclude_method: str) -> dict[str, tuple[list[int], dict]]:
    """Per dataset: the seeds of the stored runs and their (most common) trainer settings."""
    seeds: dict[str, set] = {}
    trainers: dict[str, Counter] = {}
    for run in iter_runs(results, protocol):
        rec = run.record
        if rec["status"] != "ok" or rec["method"] == exclude_method:
            continue
        seeds.setdefault(rec["dataset"], set()).add(int(rec["seed"]))
        trainer = dict(trainer_of(rec))
        trainer["budget"] = record_budget(rec)  # a label, not hashed
        trainers.setdefault(rec["dataset"], Counter())[tuple(sorted(trainer.items()))] += 1
    return {ds: (sorted(s), dict(trainers[ds].most_common(1)[0][0])) for ds, s in seeds.items()}


def evaluate(method: str, results: Path, seeds: int | None = None, datasets: list[str] | None = None,
             protocol: str = "corrected", data_dir=None, wandb: str | None = None, progress: bool = True,
             log=print, overrides: dict | None = None, execution: Execution = Execution()) -> GridReport:
    spec = get_method(method)
    proto = get_protocol(protocol)
    grid = stored_grid(Path(results), proto.name, spec.key)
    if not grid and not seeds:
        raise BadInput(f"--results: no stored {proto.name} runs under {Path(results) / 'runs'} to pair with; "
                       "run `reproduce` first or give --seeds and --datasets")
    names = datasets or sorted(grid)
    runs = []
    for name in names:
        ds = load_dataset_spec(name)
        stored_seeds, trainer = grid.get(name, ([], {}))
        use_seeds = list(range(seeds)) if seeds else stored_seeds
        trainer = {"max_epochs": 100, **trainer, "accelerator": execution.resolved_accelerator()}
        settings = TrainerSettings(**trainer)
        runs += [RunSpec(ds, spec, s, proto, settings) for s in use_seeds]
    runs = apply_overrides(runs, overrides or {})
    log(f"evaluate {spec.name}: {len(runs)} runs paired with the stored seeds -> {results}")
    check_out(Path(results))
    return run_grid(runs, Path(results), data_dir=data_dir, wandb_mode=tracking.resolve_mode(wandb),
                    table="leaderboard", progress=progress, log=log, executor=execution.make(),
                    devices=execution.devices, deadline=execution.deadline)
