"""One function per CLI subcommand: takes the parsed arguments, prints, returns the exit code."""

from __future__ import annotations

import os
from pathlib import Path

from .errors import BadInput
from .paths import results_dir
from .runner.execution import check_out, from_args as execution_from_args


def _reference_dir(option: str | None) -> Path:
    return Path(option) if option else results_dir() / "reference"


def _leaderboard_dir(results: str | None, out: str | None) -> Path:
    """--out, else results/ for the committed reference runs, else the --results folder itself."""
    if out:
        return Path(out)
    return results_dir() if results is None else Path(results)


def _stored_runs(results: Path, default: bool, protocol: str | None = None) -> list:
    """The records of `results`; for the converged reference (the default folder) only its complete
    rows (every seed of the table), as `publish` uses them, so the committed pages rebuild exactly."""
    from .records import iter_runs

    if default and (results / "runs").is_dir():
        from .publish import reference_runs
        from .tables import load_table_config

        runs = reference_runs(results, load_table_config("3"))
    else:
        runs = list(iter_runs(results))
    return [r for r in runs if protocol is None or r.record["protocol"] == protocol]


def _sets(args) -> dict:
    """--set KEY=VALUE options as a dict (values read as YAML scalars)."""
    from .runner.overrides import parse_sets

    return parse_sets(getattr(args, "set", None))


def datasets(args) -> int:
    from .datasets import report

    if args.action == "download":
        if not args.name:
            raise BadInput("datasets download: name the dataset (extrasensory, beijing_air_quality, fitrec)")
        from .datasets.files import download

        folder = download(args.name, args.data_dir)
        print(f"{args.name}: every file present and verified in {folder}")
        return 0
    if args.action == "cards":
        from .datasets.validity import write_cards

        for path in write_cards(args.data_dir):
            print(f"wrote {path}")
        return 0
    print(report.status_table(args.data_dir))
    return 0


def reproduce(args) -> int:
    from .runner.reproduce import ReproduceOptions, reproduce as run

    opts = ReproduceOptions(table=args.table, quick=args.quick, budget=args.budget, seeds=args.seeds, datasets=args.datasets,
                            methods=args.methods, protocol=args.protocol, data_dir=args.data_dir, out=args.out,
                            wandb=args.wandb, max_epochs=args.max_epochs, save_predictions=args.save_predictions,
                            progress=not args.no_progress, threads=args.threads, overrides=_sets(args),
                            save_attention=args.save_attention, figures=args.figures, federated=args.federated,
                            federated_timeout=args.federated_timeout, execution=execution_from_args(args),
                            plan_only=args.plan)
    report, written = run(opts)
    if args.plan:
        return 0
    print(f"{report.summary()} in {report.seconds:.0f} s"
          + (f", peak RSS per job {report.peak_rss_mb / 1024:.2f} GiB" if report.peak_rss_mb else ""))
    for path in written:
        print(f"wrote {path}")
    for line in report.failed:
        print(f"failed: {line}")
    return 1 if report.failed else 0


def budget_study(args) -> int:
    from . import budget_report as study
    from .runner.budget_study import plan_study, run_study
    from .runner.tracking import resolve_mode
    from .tables import load_table_config

    cfg = load_table_config(args.table)
    out = Path(args.out) if args.out else results_dir() / "budget-study"
    report_dir = Path(args.report) if args.report else results_dir()
    failed = []
    if not args.report_only:
        execution = execution_from_args(args)
        if args.max_epochs is not None and args.max_epochs < 1:
            raise BadInput("--max-epochs: needs at least 1")
        runs = plan_study(cfg, args.datasets, args.methods, args.protocol, execution.resolved_accelerator(),
                          args.data_dir, out, args.max_epochs)
        if args.plan:
            from .runner.grid import pending
            from .runner.schedule import plan_text

            todo, _ = pending(runs, out)
            print(plan_text([run for run, _ in todo], len(runs), out, execution, args.data_dir))
            return 0
        check_out(out)
        report = run_study(runs, out, execution.make(threads=1), data_dir=args.data_dir,
                           wandb_mode=resolve_mode(args.wandb), progress=not args.no_progress,
                           deadline=execution.deadline)
        failed = report.failed
        print(f"{report.summary()} in {report.seconds:.0f} s")
    for path in study.write_report(out, report_dir, cfg):
        print(f"wrote {path}")
    for line in failed:
        print(f"failed: {line}")
    return 1 if failed else 0


def train(args) -> int:
    from .runner.grid import plan, run_grid
    from .runner.overrides import apply_overrides
    from .runner.reproduce import budget, budget_name, protocols_of
    from .runner.tracking import resolve_mode
    from .tables import load_table_config

    name = budget_name(args.quick, args.budget)
    cfg = load_table_config("3") if name != "full" else {}  # Table III's quick budget and standard rule
    execution = execution_from_args(args)
    runs = plan([args.dataset], [args.method], [args.seed], protocols_of(args.protocol),
                accelerator=execution.resolved_accelerator(),
                **budget(cfg, name, args.max_epochs, args.threads, [args.dataset]))
    runs = apply_overrides(runs, _sets(args))
    out = Path(args.out) if args.out else results_dir() / "train"
    train_fn = None
    if args.federated is not None:
        from .federated.launch import federated_runs

        runs, train_fn = federated_runs(runs, args.federated, args.federated_timeout, args.data_dir)
        if train_fn is None:  # this process was a node (RANK > 0): the central node writes the record
            print(f"node {os.environ['RANK']}: done")
            return 0
        out = Path(args.out) if args.out else results_dir() / "train-federated"
    check_out(out)
    report = run_grid(runs, out, data_dir=args.data_dir, wandb_mode=resolve_mode(args.wandb), table="train",
                      save_predictions=args.save_predictions, progress=not args.no_progress,
                      executor=execution.make(threads=args.threads), devices=execution.devices,
                      save_attention=args.save_attention, train=train_fn, deadline=execution.deadline)
    from .records import read_record, record_path

    if report.submitted and not execution.wait:
        print(f"submitted {report.submitted} run(s); their records will appear under {out / 'runs'}")
        return 0
    for run in runs:
        path = record_path(out, run.protocol.name, run.dataset.name, run.method.key, run.seed)
        if not path.is_file():  # lost (killed): retried by the same command
            print(f"{path}: no record")
            continue
        rec = read_record(path)
        test = {k: round(v, 4) for k, v in rec["metrics"].get("test", {}).items() if isinstance(v, (int, float))}
        print(f"{path}: {rec['status']} {rec.get('error') or ''} {test}")
    return 1 if report.failed else 0


def methods(args) -> int:
    from .methods import discover_methods

    known = discover_methods()
    width = max(len(k) for k in known)
    for key, spec in known.items():
        tag = "paper" if spec.in_paper else "extra"
        print(f"{key:<{width}}  {spec.name:<12} [{tag}] {spec.cls}")
        print(f"{'':<{width}}  source: {spec.source}")
        if spec.paper:
            print(f"{'':<{width}}  paper:  {spec.paper}{' (' + spec.venue + ')' if spec.venue else ''}"
                  f"{' ' + spec.link if spec.link else ''}")
    return 0


def evaluate(args) -> int:
    from . import leaderboard as lb
    from .runner.evaluate import evaluate as run

    results = _reference_dir(args.results)
    # before anything trains, on the records the leaderboard it ends with reads: it would refuse these
    lb.check_rankable(_stored_runs(results, args.results is None, args.protocol), args.protocol,
                      args.allow_quick, f"--results {args.results}" if args.results else "results/reference")
    report = run(args.method, results, seeds=args.seeds, datasets=args.datasets, protocol=args.protocol,
                 data_dir=args.data_dir, wandb=args.wandb, progress=not args.no_progress, overrides=_sets(args),
                 execution=execution_from_args(args))
    print(report.summary())
    args.format = ["md"]
    leaderboard(args)
    return 1 if report.failed else 0


def leaderboard(args) -> int:
    from . import leaderboard as lb

    results = _reference_dir(args.results)
    runs = _stored_runs(results, args.results is None, args.protocol)
    if not runs:
        raise BadInput(f"--results: no {args.protocol} run records under {results / 'runs'}")
    lb.check_rankable(runs, args.protocol, getattr(args, "allow_quick", False),
                      f"--results {args.results}" if args.results else "results/reference")
    frame = lb.build_leaderboard(runs, args.protocol)
    out = _leaderboard_dir(args.results, args.out)
    for path in lb.write_leaderboard(frame, out, formats=args.format):
        print(f"wrote {path}")
    print(lb.render_leaderboard(frame, "md"))
    return 0


def check(args) -> int:
    from . import check as chk
    from .records import iter_runs

    runs = list(iter_runs(Path(args.results)))
    if args.write:
        chk.write_reference(runs, Path(args.reference), rtol=args.rtol, atol=args.atol)
        print(f"wrote {args.reference} from {len(runs)} runs")
        return 0
    if not runs:
        raise BadInput(f"--results: no run records under {Path(args.results) / 'runs'}")
    reference = chk.load_reference(Path(args.reference))
    if args.statistical:
        from .tables import load_table_config

        result = chk.compare_statistical(runs, reference, alpha=args.alpha, cfg=load_table_config(args.table))
    else:
        result = chk.compare(runs, reference, rtol=args.rtol, atol=args.atol)
    print(chk.render_check(result))
    return 1 if result.regressions else 0


def figures(args) -> int:
    from .figures import write_figures

    results = _reference_dir(args.results)
    for path in write_figures(results, args.out, protocol=args.protocol, strict=True):
        print(f"wrote {path}")
    return 0


def errata(args) -> int:
    from .errata import write_errata

    results = _reference_dir(args.results)
    runs = _stored_runs(results, args.results is None)
    for path in write_errata(results, Path(args.out) if args.out else results_dir(), sources=args.sources, runs=runs):
        print(f"wrote {path}")
    return 0


def publish(args) -> int:
    from .publish import publish as run
    from .tables import load_table_config

    readme = Path(args.readme) if args.readme else results_dir().parent / "README.md"
    out = Path(args.out) if args.out else results_dir()
    for path in run(_reference_dir(args.results), out, readme, load_table_config("3"),
                    Path(args.tables_out) if args.tables_out else None):
        print(f"wrote {path}")
    return 0
