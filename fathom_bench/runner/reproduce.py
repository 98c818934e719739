"""`reproduce` and `evaluate`: a table config -> a grid of runs -> records -> tables.

Tables are built only from records whose config hash matches the grid planned now, so a table
never mixes budgets, protocols or code versions it does not name.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..datasets.spec import load_dataset_spec
from ..errors import BadInput
from .. import skill
from ..protocol import PROTOCOLS, get_protocol
from ..records import iter_runs
from . import tracking
from .execution import Execution, check_out
from .grid import GridReport, pending, plan, run_grid
from .overrides import apply_overrides

#: a protocol's name, or `all` (corrected, paper, forecast) or `both` (corrected, paper: kept for old scripts)
PROTOCOL_SETS = {"all": ["corrected", "paper", "forecast"], "both": ["corrected", "paper"]}
PROTOCOL_CHOICES = tuple(PROTOCOLS) + tuple(PROTOCOL_SETS)


#: `--budget`: the table's quick budget, each dataset's standard budget (chosen by the budget study),
#: or the scripts' full budget
BUDGETS = ("quick", "standard", "full")


@dataclass
class ReproduceOptions:
    table: str = "3"
    #: --quick: an alias of budget="quick"
    quick: bool = False
    budget: str = "standard"
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
    #: --set KEY=VALUE hyperparameter overrides (each run gets those its method takes)
    overrides: dict | None = None
    save_attention: bool = False
    figures: bool = False
    #: nodes of a federated run (FATHOM and its ablations only), None: single process
    federated: int | None = None
    federated_timeout: float = 60.0
    execution: Execution = Execution()
    #: --plan: print the cost of the runs left, train nothing
    plan_only: bool = False


def table_datasets(cfg: dict) -> list[str]:
    seen: list[str] = []
    for col in cfg["columns"]:
        if col["dataset"] not in seen:
            seen.append(col["dataset"])
    return seen


def protocols_of(option: str) -> list[str]:
    if option not in PROTOCOL_CHOICES:
        raise BadInput(f"--protocol: unknown protocol {option!r}; choose one of {', '.join(PROTOCOL_CHOICES)}")
    return list(PROTOCOL_SETS.get(option, [option]))


def budget_name(quick: bool, budget: str) -> str:
    """--quick is --budget quick; anything else must be one of BUDGETS."""
    if quick:
        return "quick"
    if budget not in BUDGETS:
        raise BadInput(f"--budget: unknown budget {budget!r}; choose one of {', '.join(BUDGETS)}")
    return budget


def default_out(cfg: dict, budget: str) -> Path:
    """results/<table> for the standard budget, results/<table>-quick or -full for the others."""
    from ..paths import results_dir

    return results_dir() / (cfg["name"] if budget == "standard" else f"{cfg['name']}-{budget}")


def standard_budget(datasets: list[str]) -> tuple[dict, dict]:
    """{dataset: max_epochs}, {dataset: patience} of each dataset's declared standard budget."""
    epochs, patience = {}, {}
    for name in datasets:
        spec = load_dataset_spec(name)
        if not spec.standard_budget:
            raise BadInput(f"{spec.path or name}: no standard_budget yet (the budget study has not chosen one: "
                           f"`python -m fathom_bench budget-study --datasets {name}`); use --budget full or quick")
        epochs[name], patience[name] = spec.standard_budget["max_epochs"], spec.standard_budget["patience"]
    return epochs, patience


def budget(cfg: dict, name: str | bool, max_epochs: int | None, threads: int, datasets: list[str] | None = None) -> dict:
    """`plan()` keywords for the training budget `name` (quick, standard or full; True/False: the
    old quick flag): --max-epochs first (then the budget is "custom"), else the table's quick budget
    (which also limits batches per epoch), each dataset's standard budget, or the scripts' full one.
    Validated before anything trains."""
    if isinstance(name, bool):
        name = "quick" if name else "full"
    if max_epochs is not None and max_epochs < 1:
        raise BadInput("--max-epochs: needs at least 1")
    if threads < 1:
        raise BadInput("--threads: needs at least 1")
    quick = name == "quick"
    quick_cfg = (cfg.get("quick") or {}) if quick else {}
    epochs, patience = (quick_cfg.get("max_epochs") if quick else cfg.get("max_epochs")), None
    if name == "standard" and max_epochs is None:
        epochs, patience = standard_budget(datasets or table_datasets(cfg))
    return {"max_epochs": max_epochs or epochs, "patience": patience,
            "budget": "custom" if max_epochs else name, "quick": quick, "threads": threads,
            "limit_train_batches": quick_cfg.get("limit_train_batches"),
            "limit_val_batches": quick_cfg.get("limit_val_batches")}


def plan_table(cfg: dict, opts: ReproduceOptions):
    if opts.seeds is not None and opts.seeds < 1:
        raise BadInput("--seeds: needs at least 1")
    name = budget_name(opts.quick, opts.budget)
    datasets = opts.datasets or table_datasets(cfg)
    methods = opts.methods or (list(cfg["methods"]) + list(cfg.get("floor") or []))
    from ..methods import discover_methods, get_method

    known = discover_methods()
    for m in methods:  # a bad method name is reported before a missing budget
        get_method(m, known)
    keywords = budget(cfg, name, opts.max_epochs, opts.threads, datasets)
    keywords["patience"] = keywords["patience"] or cfg.get("patience")
    protocols = protocols_of(opts.protocol)
    from ..coverage import wanted_seeds

    runs = []
    for protocol in protocols:  # default seeds: the table's per protocol (Table III: 10, paper 3), as the reference wants
        n_seeds = opts.seeds or ((cfg.get("quick") or {}).get("seeds", 2) if name == "quick" else wanted_seeds(cfg, protocol))
        runs += plan(datasets, methods, list(range(n_seeds)), [protocol],
                     accelerator=opts.execution.resolved_accelerator(), **keywords)
    if not runs:  # every dataset asked for is one the protocol does not run on
        raise BadInput(f"--protocol {opts.protocol}: no runs on {', '.join(datasets)}: "
                       f"{' and '.join(protocols)} runs on {' and '.join(get_protocol(protocols[0]).task_types)} "
                       "datasets only (on the others it is `corrected` exactly); use --protocol corrected")
    return apply_overrides(runs, opts.overrides or {})


def matching_runs(out: Path, protocol: str, planned) -> list:
    """Records on disk that belong to the planned grid (same run key and config hash)."""
    wanted = {(r.dataset.name, r.method.key, r.seed): r.config_hash() for r in planned if r.protocol.name == protocol}
    return [run for run in iter_runs(out, protocol)
            if wanted.get((run.record["dataset"], run.record["method"], run.record["seed"])) == run.record["config_hash"]]


def write_tables(cfg: dict, out: Path, planned, protocols: list[str], wandb_mode: str, log=print,
                 records: Path | None = None) -> list[Path]:
    """The table of every protocol into `out`, from the records under `records` (default `out`)
    that belong to the `planned` grid."""
    from .. import tables

    from ..sources import read_table_sources

    published = tables.published_numbers(cfg)
    sources = read_table_sources(cfg)
    notes = {}
    for name in table_datasets(cfg):
        spec = load_dataset_spec(name)
        notes[name] = spec.differs_from_paper
    written, frames = [], {}
    for protocol in protocols:
        runs = matching_runs(records or out, protocol, planned)
        if not runs:
            log(f"no finished runs for protocol {protocol}: no table written")
            continue
        variants = [("", False)] + ([("as-coded", True)] if protocol == "paper" else [])
        table_cfg, skill_notes = cfg, []
        if get_protocol(protocol).skill_vs_floor:
            runs, table_cfg, skill_notes = skill.with_skill(runs, cfg)
        for suffix, as_coded in variants:
            target = out if protocol == "corrected" else out / protocol
            target = target / suffix if suffix else target
            result = tables.build_table(runs, table_cfg, protocol, as_coded=as_coded)
            result.notes += skill_notes
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
    name = budget_name(opts.quick, opts.budget)
    out = Path(opts.out) if opts.out else default_out(cfg, name)
    train = None
    if opts.federated is not None:
        from ..federated.launch import federated_reproduce

        planned, train = federated_reproduce(planned, opts)
        out = Path(opts.out) if opts.out else out.with_name(out.name + "-federated")
    if opts.plan_only:
        return plan_report(planned, out, opts, log), []
    check_out(out)
    executor = opts.execution.make(threads=opts.threads, time_min=_time_limit(planned, out, opts))
    log(f"{cfg['name']}: {len(planned)} runs ({'QUICK budget, not a reproduction; ' if name == 'quick' else f'{name} budget; '}"
        f"W&B {mode}, executor {opts.execution.executor}, --jobs {opts.execution.jobs}) -> {out}")
    report = run_grid(planned, out, data_dir=opts.data_dir, wandb_mode=mode, table=cfg["name"],
                      save_predictions=opts.save_predictions, progress=opts.progress, log=log, executor=executor,
                      devices=opts.execution.devices, save_attention=opts.save_attention, train=train,
                      deadline=opts.execution.deadline)
    if report.submitted and not opts.execution.wait:
        log(f"submitted {report.submitted} runs as SLURM array {executor.array_id}; run the same command "
            "when they are done to build the tables (runs without a valid record are resubmitted)")
    if mode == "offline" and report.trained:
        log(f"W&B logged offline; upload with `{tracking.sync_hint(out)}`")
    if name == "standard" and is_reference(out):
        written = publish_reference(out, cfg, log)
    else:
        written = write_tables(cfg, out, planned, protocols_of(opts.protocol), mode, log=log)
    if opts.figures:  # from the records and saved attention just written (no training code involved)
        from ..figures import write_figures

        written += write_figures(out, log=log)
    return report, written


def is_reference(out: Path) -> bool:
    """True for results/reference, the converged reference the README and leaderboard are built from."""
    from ..paths import results_dir

    return Path(out).resolve() == (results_dir() / "reference").resolve()


def publish_reference(out: Path, cfg: dict, log=print) -> list[Path]:
    """After a grid into the converged reference: `publish` instead of the grid's own tables, so its
    tables, coverage, leaderboard, errata and README block hold complete rows only and never drift
    from each other. Not publishable yet (no complete row) is one line, not an error: the records stay."""
    from ..paths import results_dir
    from ..publish import publish

    readme = results_dir().parent / "README.md"
    try:
        return publish(out, results_dir(), readme if readme.is_file() else None, cfg, log=log)
    except BadInput as exc:
        log(f"{out}: not published yet ({exc})")
        return []


def plan_report(planned, out: Path, opts: ReproduceOptions, log=print) -> GridReport:
    """--plan: the runs left and what they will cost; nothing trains, nothing is written."""
    from .schedule import plan_text

    todo, done = pending(planned, out)
    log(plan_text([run for run, _ in todo], len(planned), out, opts.execution, opts.data_dir))
    return GridReport(planned=len(planned), skipped=done)


def _time_limit(planned, out: Path, opts: ReproduceOptions) -> int | None:
    """A scheduler's time limit per run: 3x the longest estimated run + 5 min (local runs need none)."""
    if opts.execution.executor == "local" or opts.execution.time_min:
        return None
    from .cost import estimate

    todo, _ = pending(planned, out)
    if not todo:
        return None
    longest = max(c.seconds for c in estimate([run for run, _ in todo], out, opts.data_dir))
    return int(3 * longest / 60) + 5
