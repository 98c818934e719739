"""The budget study's grid: every dataset x method, seed 0, at the scripts' full budget with early
stopping, under `corrected` and (regression datasets) `forecast`; each record keeps the validation
metrics of every epoch (`history`), from which `fathom_bench.budget_study` reports and chooses the
standard budget. Resumable like every grid: records land as runs finish.
"""

from __future__ import annotations

from pathlib import Path

from ..budget_study import STUDY_PROTOCOLS
from ..errors import BadInput
from .grid import GridReport, plan, run_grid

STUDY_SEED = 0


def plan_study(cfg: dict, datasets: list[str] | None = None, methods: list[str] | None = None,
               protocols: list[str] | None = None, accelerator: str = "cpu", data_dir=None,
               out: Path | None = None, max_epochs: int | None = None) -> list:
    """The study's runs, cheapest first within each dataset (datasets in the table's order), so an
    interrupted study has covered as many methods as its time allowed."""
    from ..budget_report import expected_runs
    from .cost import estimate
    from .reproduce import table_datasets

    datasets = datasets or table_datasets(cfg)
    protocols = protocols or list(STUDY_PROTOCOLS)
    for p in protocols:
        if p not in STUDY_PROTOCOLS:
            raise BadInput(f"--protocol: the budget study runs {' and '.join(STUDY_PROTOCOLS)}, not {p!r}")
    study = expected_runs(cfg, methods)  # the study's (protocol, dataset, method), as its report counts them
    runs = []
    for name in datasets:
        for protocol in protocols:
            mine = [m for p, d, m in study if p == protocol and d == name]
            if not mine:
                continue
            part = plan([name], mine, [STUDY_SEED], [protocol], accelerator=accelerator, max_epochs=max_epochs,
                        budget="full" if max_epochs is None else "custom")
            runs += [r for r in part if getattr(r.method.load_class(), "trainable", True)]
    try:
        costs = {run.key: c.seconds for run, c in zip(runs, estimate(runs, out or Path("."), data_dir))}
    except Exception:  # no measured speeds: keep the plan's order
        costs = {}
    order = {name: i for i, name in enumerate(datasets)}
    return sorted(runs, key=lambda r: (order[r.dataset.name], costs.get(r.key, 0.0), r.key))


def run_study(runs: list, out: Path, executor, data_dir=None, wandb_mode: str = "disabled",
              progress: bool = True, log=print, deadline: float | None = None) -> GridReport:
    return run_grid(runs, out, data_dir=data_dir, wandb_mode=wandb_mode, table="budget-study", progress=progress,
                    log=log, executor=executor, deadline=deadline)
