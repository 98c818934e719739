"""`budget-study`'s outputs: results/budget-study.md, .csv and .png/.pdf, from the study records
alone (no torch); the standard budget of every dataset whose study is complete."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from .budget_study import (CHECKPOINTS, HEADLINE, STUDY_PROTOCOLS, StudyRun, choose_standard, study_rows,
                           study_runs)
from .datasets.spec import load_dataset_spec
from .protocol import get_protocol
from .records import write_atomic


def expected_runs(cfg: dict, methods: list[str] | None = None) -> list[tuple[str, str, str]]:
    """(protocol, dataset, method) of the whole study (`runner.budget_study.plan_study` trains these):
    the table's methods (or `methods`) on every dataset under `corrected`, and under `forecast` on
    the regression datasets."""
    from .runner.reproduce import table_datasets

    out = []
    for ds in table_datasets(cfg):
        task_type = load_dataset_spec(ds).task_type
        protocols = [p for p in STUDY_PROTOCOLS if get_protocol(p).runs_on(task_type)]
        out += [(p, ds, m) for p in protocols for m in (methods or cfg["methods"])]
    return out


def standard_rule(cfg: dict) -> dict:
    return dict((cfg.get("budgets") or {}).get("standard") or {})


def standard_budgets(runs: list[StudyRun], cfg: dict) -> tuple[dict, dict]:
    """{dataset: chosen budget} for the datasets whose study is complete, and {dataset: (done, planned)}."""
    expected = expected_runs(cfg)
    have = {(r.protocol, r.dataset, r.method) for r in runs}
    chosen, progress = {}, {}
    for ds in dict.fromkeys(d for _, d, _ in expected):
        planned = [e for e in expected if e[1] == ds]
        done = [e for e in planned if e in have]
        progress[ds] = (len(done), len(planned))
        if len(done) == len(planned):
            pick = choose_standard([r for r in runs if r.dataset == ds], standard_rule(cfg))
            if pick:
                chosen[ds] = pick
    return chosen, progress


def _num(x, digits: int = 4) -> str:
    return "" if x is None else f"{x:.{digits}f}"


def rule_text(cfg: dict) -> str:
    rule = standard_rule(cfg)
    return (f"The cheapest (max epochs, patience) among max epochs {rule.get('max_epochs')} and patience "
            f"{rule.get('patience')} under which every method's validation metric, on every protocol studied, "
            f"is at most {100 * rule.get('tolerance', 0):.1f} % (relative) worse than at the full budget. "
            "Cost: training seconds of the study runs replayed at that budget over those at the full budget.")


def standard_table(chosen: dict, progress: dict, runs: list[StudyRun]) -> list[str]:
    """Markdown lines: per dataset, the study's progress and CPU-hours and the standard budget chosen."""
    hours: dict[str, float] = {}
    for r in runs:
        hours[r.dataset] = hours.get(r.dataset, 0.0) + float(r.record["train_seconds"]) / 3600
    lines = ["| dataset | study runs | CPU-hours | max epochs | patience | worst method (rel.) | cost vs full |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for ds, (done, planned) in progress.items():
        c = chosen.get(ds)
        cells = ([str(c["max_epochs"]), str(c["patience"]), f"{100 * c['worst']:.2f} %", f"{c['cost_ratio']:.2f}"]
                 if c else ["not chosen: study incomplete" if done < planned else "none within tolerance", "", "", ""])
        lines.append(f"| {ds} | {done} of {planned} | {hours.get(ds, 0.0):.2f} | " + " | ".join(cells) + " |")
    return lines


def render_markdown(rows: list[dict], chosen: dict, progress: dict, cfg: dict, runs: list[StudyRun]) -> str:
    lines = ["# Budget study", "",
             "Every Table III method on every dataset, seed 0, at the scripts' full budget (max epochs "
             "per dataset, patience 20, early stopping on the validation loss, best weights restored), "
             "under `corrected` and, for the regression datasets, `forecast`. Each record keeps the "
             "validation metrics of every epoch; the columns below replay early stopping on them "
             "(`fathom_bench/budget_study.py`). Validation metric: BA (higher is better) on "
             "ExtraSensory, MAE (lower is better) on the regression datasets. One seed: a budget "
             "study, not a comparison of methods.", "",
             "Rebuild: `python -m fathom_bench budget-study --report-only` (runs: "
             "`python -m fathom_bench budget-study --jobs 2`, resumable).", "",
             "## Standard budget", "", rule_text(cfg), ""] + standard_table(chosen, progress, runs)
    lines += ["", "## Runs", "",
              "Epochs are counted from 1. `@N`: the metric a budget of N epochs (patience 20) tests; "
              "`full`: at the full budget's best epoch (lowest validation loss); `standard`: under the "
              "dataset's standard budget; `peak (epoch)`: the best validation metric of any epoch, which "
              "early stopping on the loss does not select.", "",
              "| protocol | dataset | method | metric | epochs run | best epoch | train s | "
              + " | ".join(f"@{n}" for n in CHECKPOINTS) + " | full | standard | standard epochs | peak (epoch) |",
              "|---|---|---|---|---:|---:|---:|" + "---:|" * len(CHECKPOINTS) + "---:|---:|---:|---:|"]
    for row in rows:
        lines.append(f"| {row['protocol']} | {row['dataset']} | {row['method_name']} | {row['metric']} | "
                     f"{row['epochs_run']} | {row['best_epoch']} | {row['train_seconds']:.0f} | "
                     + " | ".join(_num(row[f"metric_at_{n}"]) for n in CHECKPOINTS)
                     + f" | {_num(row['full_metric'])} | {_num(row.get('standard_metric'))} | "
                       f"{row.get('standard_epochs', '')} | {_num(row['peak_metric'])} ({row['peak_epoch']}) |")
    missing = [e for e in expected_runs(cfg) if e not in {(r.protocol, r.dataset, r.method) for r in runs}]
    if missing:
        lines += ["", f"## Not run yet ({len(missing)})", "",
                  ", ".join(f"{p}/{d}/{m}" for p, d, m in missing)]
    return "\n".join(lines) + "\n"


def render_csv(rows: list[dict]) -> str:
    fields = ["protocol", "dataset", "method", "method_name", "metric", "full_max_epochs", "full_patience",
              "epochs_run", "best_epoch", "train_seconds"] + [f"metric_at_{n}" for n in CHECKPOINTS] + [
              "full_metric", "standard_metric", "standard_epochs", "standard_seconds", "standard_worse_by",
              "peak_metric", "peak_epoch"]
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items() if k in fields})
    return buf.getvalue()


def plot(runs: list[StudyRun], chosen: dict):
    """Validation metric against epoch, one panel per dataset and protocol, one line per method (one
    colour per method throughout); a dot at each best epoch, a dashed line at the standard budget's
    max epochs. The y range leaves out the first two epochs, so a slow start does not flatten the rest."""
    from matplotlib import colormaps

    from .plots import _figure

    panels = list(dict.fromkeys((r.dataset, r.protocol) for r in runs))
    methods = sorted({r.method for r in runs})
    colour = {m: colormaps["tab10"](i % 10) for i, m in enumerate(methods)}
    fig = _figure(11, 3.2 * max(1, (len(panels) + 1) // 2))
    axes = fig.subplots(max(1, (len(panels) + 1) // 2), 2, squeeze=False)
    for ax, (ds, protocol) in zip(axes.flat, panels):
        metric, higher = HEADLINE[load_dataset_spec(ds).task_type]
        shown = []
        for r in (r for r in runs if (r.dataset, r.protocol) == (ds, protocol)):
            ys = [row[f"val/{metric}"] for row in r.history]
            shown += ys[2:] or ys
            ax.plot([row["epoch"] + 1 for row in r.history], ys, lw=1, label=r.method_name, color=colour[r.method])
            best = r.record.get("best_epoch")
            if best is not None and best < len(r.history):
                ax.plot([best + 1], [ys[best]], "o", ms=3, color=colour[r.method])
        if shown:
            low, high = min(shown), max(shown)
            pad = 0.05 * (high - low or abs(high) or 1.0)
            ax.set_ylim(low - pad, high + pad)
        if ds in chosen:
            ax.axvline(chosen[ds]["max_epochs"], ls="--", color="grey", lw=0.8)
        ax.set_title(f"{ds} ({protocol})", fontsize=9)
        ax.set_xlabel("epoch")
        ax.set_ylabel(f"validation {metric} ({'higher' if higher else 'lower'} is better)", fontsize=8)
        ax.legend(fontsize=6, ncol=2)
    for ax in list(axes.flat)[len(panels):]:
        ax.set_visible(False)
    return fig


def write_report(records: Path, out: Path, cfg: dict) -> list[Path]:
    from .plots import save

    runs = study_runs(Path(records))
    chosen, progress = standard_budgets(runs, cfg)
    rows = study_rows(runs, chosen)
    out = Path(out)
    md, table = out / "budget-study.md", out / "budget-study.csv"
    write_atomic(md, render_markdown(rows, chosen, progress, cfg, runs))
    write_atomic(table, render_csv(rows))
    written = [md, table]
    if runs:
        written += save(plot(runs, chosen), out / "budget-study")
    return written
