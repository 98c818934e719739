"""`reproduce` and `evaluate`: a table config -> a grid of runs -> records -> tables.

Tables are built only from records whose config hash matches the grid planned now, so a table
never mixes budgets, protocols or code versions it does not name.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..datasets.spec import load_dataset_spec
from ..errors import BadInput
from ..records import iter_runs
from . import tracking
from .grid import GridReport, plan, run_grid

PROTOCOL_CHOICES = ("corrected", "paper", "both")


@dataclass
class ReproduceOptions:
    table: str = "3"
    quick: bool = False
    seeds: int | None = None
    datasets: list[str] | None = None
    methods: list[str] | None = None
    protocol: str = "corrected"
    data_dir: str | None = None
    out: str | None = None
    wandb: str | None = None
    max_epochs: int | None = None
    save_predictions: bool = False
    progress: bool = True
    threads: int = 1


def table_datasets(cfg: dict) -> list[str]:
    seen: list[str] = []
    for col in cfg["columns"]:
        if col["dataset"] not in seen:
            seen.append(col["dataset"])
    return seen


def protocols_of(option: str) -> list[str]:
    if option not in PROTOCOL_CHOICES:
        raise BadInput(f"--protocol: unknown protocol {option!r}; choose one of {', '.join(PROTOCOL_CHOICES)}")
    return ["corrected", "paper"] if option == "both" else [option]


def default_out(cfg: dict, quick: bool) -> Path:
    from ..paths import results_dir

    return results_dir() / (f"{cfg['name']}-quick" if quick else cfg["name"])


def budget(cfg: dict, quick: bool, max_epochs: int | None, threads: int) -> dict:
    """`plan()` keywords for the training budget: --max-epochs, else the table's quick or full budget
    (the quick one also limits batches per epoch). Validated before anything trains."""
    if max_epochs is not None and max_epochs < 1:
        raise BadInput("--max-epochs: needs at least 1")
    if threads < 1:
        raise BadInput("--threads: needs at least 1")
    quick_cfg = (cfg.get("quick") or {}) if quick else {}
    return {"max_epochs": max_epochs or (quick_cfg.get("max_epochs") if quick else cfg.get("max_epochs")),
            "quick": quick, "threads": threads, "limit_train_batches": quick_cfg.get("limit_train_batches"),
            "limit_val_batches": quick_cfg.get("limit_val_batches")}


def plan_table(cfg: dict, opts: ReproduceOptions):
    if opts.seeds is not None and opts.seeds < 1:
        raise BadInput("--seeds: needs at least 1")
    n_seeds = opts.seeds or ((cfg.get("quick") or {}).get("seeds", 2) if opts.quick else cfg.get("seeds", 10))
    datasets = opts.datasets or table_datasets(cfg)
    methods = opts.methods or (list(cfg["methods"]) + list(cfg.get("floor") or []))
    return plan(datasets, methods, list(range(n_seeds)), protocols_of(opts.protocol), patience=cfg.get("patience"),
                **budget(cfg, opts.quick, opts.max_epochs, opts.threads))


def matching_runs(out: Path, protocol: str, planned) -> list:
    """Records on disk that belong to the planned grid (same run key and config hash)."""
    wanted = {(r.dataset.name, r.method.key, r.seed): r.config_hash() for r in planned if r.protocol.name == protocol}
    return [run for run in iter_runs(out, protocol)
            if wanted.get((run.record["dataset"], run.record["method"], run.record["seed"])) == run.record["config_hash"]]


def write_tables(cfg: dict, out: Path, planned, protocols: list[str], wandb_mode: str, log=print) -> list[Path]:
    from .. import tables

    from ..table_sources import read_sources

    published = tables.published_numbers(cfg)
    sources = read_sources(cfg)
    notes = {}
    for name in table_datasets(cfg):
        spec = load_dataset_spec(name)
        notes[name] = spec.differs_from_paper
    written, frames = [], {}
    for protocol in protocols:
        runs = matching_runs(out, protocol, planned)
        if not runs:
            log(f"no finished runs for protocol {protocol}: no table written")
            continue
        variants = [("", False)] + ([("as-coded", True)] if protocol == "paper" else [])
        for suffix, as_coded in variants:
            target = out if protocol == "corrected" else out / protocol
            target = target / suffix if suffix else target
            result = tables.build_table(runs, cfg, protocol, as_coded=as_coded)
            result.notes.extend(script_notes(cfg, protocol))
            written += tables.write_outputs(result, target, published, notes, sources)
            frames[f"{cfg['name']}/{protocol}{'/' + suffix if suffix else ''}"] = result.frame
    tracking.log_tables(wandb_mode, out, f"{cfg['name']}-summary", frames)
    return written


def script_notes(cfg: dict, protocol: str) -> list[str]:
    """The table's notes on how its methods' scripts ran under `protocol` (script_settings.table_notes)."""
    from ..methods import discover_methods
    from ..script_settings import table_notes

    known = discover_methods()
    keys = list(cfg["methods"]) + list(cfg.get("floor") or [])
    return table_notes({k: known[k] for k in keys if k in known}, protocol, table_datasets(cfg))


def reproduce(opts: ReproduceOptions, log=print) -> tuple[GridReport, list[Path]]:
    from ..tables import load_table_config

    cfg = load_table_config(opts.table)
    mode = tracking.resolve_mode(opts.wandb)
    planned = plan_table(cfg, opts)
    out = Path(opts.out) if opts.out else default_out(cfg, opts.quick)
    log(f"{cfg['name']}: {len(planned)} runs ({'QUICK budget, not a reproduction; ' if opts.quick else ''}"
        f"W&B {mode}) -> {out}")
    report = run_grid(planned, out, data_dir=opts.data_dir, wandb_mode=mode, table=cfg["name"],
                      save_predictions=opts.save_predictions, progress=opts.progress, log=log)
    written = write_tables(cfg, out, planned, protocols_of(opts.protocol), mode, log=log)
    return report, written
