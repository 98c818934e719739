"""The paper's figures from saved attention and run records only (no torch, no training code).

`python -m fathom_bench figures --results DIR` (or `reproduce --figures`) draws, into `<out>/figures/`
as PNG and PDF, the figures a figure config names (`configs/figures/paper.yaml`):
- Fig. 2: task-specific attention over the features for three users at one test window each, with
  their true labels, the features grouped by sensor;
- Fig. 3: the task attention matrix over steps x features, averaged over the first n test windows;
- Fig. 4: the global temporal attention over the window steps for one task per dataset, beside the
  uniform and the last-step distributions, with its entropy (`fig4_temporal_attention.csv`).
Each figure states the run it comes from (method, dataset, seed, protocol, epochs trained, record
path) and says QUICK where the budget was the quick one: such a figure shows an unconverged model.
Inputs: `seed=<n>.attention.npz` beside a record (`--save-attention`, `runner/attention.py`).

Other figures drawn from records (seed distributions, budget curves) plug in by adding a function
with the signature of `fig2` to `FIGURES`; nothing else here changes.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np

from .errors import BadInput
from .figure_data import (AttentionIndex, SavedAttention, feature_groups, load_spec, shown_path, tanh_softmax_bound,
                          temporal_summary)
from .records import write_atomic

GROUP_COLOURS = ("#4477AA", "#EE6677", "#228833", "#CCBB44", "#66CCEE", "#AA3377", "#BBBBBB", "#000000",
                 "#EE8866", "#44BB99", "#99DDFF", "#FFAABB")


def _group_axis(ax, groups: list[str], axis: str = "x") -> dict:
    """Tick labels at group centres with separators between groups; returns {group: colour}."""
    spans, start = [], 0
    for i in range(1, len(groups) + 1):
        if i == len(groups) or groups[i] != groups[start]:
            spans.append((groups[start], start, i))
            start = i
    colours = {}
    for g, _, _ in spans:
        colours.setdefault(g, GROUP_COLOURS[len(colours) % len(GROUP_COLOURS)])
    ticks = [(a + b - 1) / 2 for _, a, b in spans]
    labels = [g for g, _, _ in spans]
    if axis == "x":
        ax.set_xticks(ticks, labels, rotation=60, ha="right", fontsize=7)
        for _, a, _ in spans[1:]:
            ax.axvline(a - 0.5, color="0.6", lw=0.5)
    else:
        ax.set_yticks(ticks, labels, fontsize=7)
    return colours


def _footer(fig, sources: list[SavedAttention]) -> None:
    """Which runs the figure shows, beneath it (a super-xlabel, so the layout keeps room for it)."""
    lines = list(dict.fromkeys(s.caption() for s in sources))
    fig.supxlabel("\n".join(lines), fontsize=6.5, x=0.01, ha="left")


def _save(fig, out_dir: Path, name: str) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for ext in ("png", "pdf"):
        path = out_dir / f"{name}.{ext}"
        buf = io.BytesIO()
        fig.savefig(buf, format=ext, dpi=150, metadata={"CreationDate": None} if ext == "pdf" else None)
        write_atomic(path, buf.getvalue())
        paths.append(path)
    return paths


def _new_figure(width: float, height: float):
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def _task(saved: SavedAttention, task: int, what: str) -> int:
    tasks = saved.names("task_names")
    if not 0 <= task < len(tasks):
        raise BadInput(f"figure config: {what}: task {task} is out of range; {saved.record['dataset']} has "
                       f"{len(tasks)} tasks (0..{len(tasks) - 1})")
    return task


def _labels_at(saved: SavedAttention, task: int, window: int) -> str:
    y, m = saved.arrays["targets"][task, window].astype(float), saved.arrays["target_mask"][task, window]
    names = saved.names("target_names")
    if saved.record.get("config", {}).get("dataset", {}).get("task_type") == "classification":
        on = [n.replace("label:", "") for n, v, ok in zip(names, y, m) if ok and v > 0.5]
        return "true labels: " + (", ".join(on) if on else "none")
    return "targets (scaled): " + ", ".join(f"{n}={v:.2f}" for n, v, ok in zip(names, y, m) if ok)


def fig2(spec: dict, index: AttentionIndex, out_dir: Path, log=print) -> list[Path]:
    cfg = spec["fig2"]
    saved = index.get(cfg["dataset"])
    if saved is None or "task_by_window" not in saved.arrays:
        log(f"fig2: skipped: no saved task attention of {index.method} on {cfg['dataset']}")
        return []
    tasks = [_task(saved, int(t), "fig2") for t in cfg.get("tasks", [0, 1, 2])]
    n_windows = saved.arrays["windows"]
    windows = cfg.get("windows") or [int(np.argmax(saved.arrays["targets"][t, :n_windows[t]].max(-1) > 0.5))
                                      for t in tasks]
    groups = feature_groups(saved.names("input_names"), spec.get("feature_groups"))
    fig = _new_figure(10, 2.3 * len(tasks) + 0.8)
    axes = fig.subplots(len(tasks), 1, squeeze=False)[:, 0]
    for ax, t, w in zip(axes, tasks, windows):
        if not 0 <= int(w) < int(n_windows[t]):
            raise BadInput(f"figure config: fig2: window {w} is out of range for task {t} (0..{n_windows[t] - 1})")
        a = saved.arrays["task_by_window"][t, int(w)].astype(float)
        colours = _group_axis(ax, groups)
        ax.bar(np.arange(a.size), a, width=1.0, color=[colours[g] for g in groups])
        ax.axhline(1 / a.size, color="k", ls="--", lw=0.7, label="uniform")
        ax.set_xlim(-0.5, a.size - 0.5)
        ax.set_ylabel("attention")
        ax.set_title(f"{saved.names('task_names')[t]}, test window {w} (mean over its {int(saved.arrays['window'])}"
                     f" steps): {_labels_at(saved, t, int(w))}", fontsize=8, loc="left")
    axes[0].legend(fontsize=7, loc="upper right")
    fig.suptitle(cfg.get("title", "Fig. 2") + (" (QUICK budget)" if saved.quick else ""), fontsize=10)
    _footer(fig, [saved])
    return _save(fig, out_dir, "fig2_task_attention")


def fig3(spec: dict, index: AttentionIndex, out_dir: Path, log=print) -> list[Path]:
    cfg = spec["fig3"]
    panels, sources = [], []
    for p in cfg.get("panels", []):
        saved = index.get(p["dataset"])
        if saved is None or "task_first_windows" not in saved.arrays:
            log(f"fig3: panel skipped: no saved task attention of {index.method} on {p['dataset']}")
            continue
        counts = [int(c) for c in saved.arrays["first_windows"]]
        want = min(int(p["first_windows"]), int(saved.arrays["windows"].max()))
        if want not in counts:
            raise BadInput(f"figure config: fig3: the mean over the first {want} test windows was not saved "
                           f"(saved: {counts}); record the attention again with --save-attention")
        label = p.get("label") or f"{want} windows"
        if want < int(p["first_windows"]):
            label = f"all {want} test windows; {p['first_windows']} asked"
        panels.append((p, saved, _task(saved, int(p["task"]), "fig3"), counts.index(want), want, label))
        sources.append(saved)
    if not panels:
        log("fig3: skipped: no panel has saved attention")
        return []
    fig = _new_figure(11, 2.6 * len(panels) + 0.8)
    axes = fig.subplots(len(panels), 1, squeeze=False)[:, 0]
    for ax, (p, saved, t, slot, n, label) in zip(axes, panels):
        m = saved.arrays["task_first_windows"][t, slot]  # [T, D]
        names = saved.names("input_names")
        im = ax.imshow(m, aspect="auto", cmap="Blues", interpolation="nearest")
        if len(names) > 30:
            _group_axis(ax, feature_groups(names, spec.get("feature_groups")))
        else:
            ax.set_xticks(range(len(names)), names, rotation=60, ha="right", fontsize=7)
        steps = m.shape[0]
        ax.set_yticks([0, steps - 1], [f"t-{steps}", "t-1"], fontsize=7)
        ax.set_ylabel("step")
        ax.set_title(f"{saved.record['dataset']} {saved.names('task_names')[t]}: mean over test windows 0-{n - 1}"
                     f" ({label})", fontsize=8, loc="left")
        fig.colorbar(im, ax=ax, fraction=0.02, pad=0.01)
    fig.suptitle(cfg.get("title", "Fig. 3") + (" (QUICK budget)" if any(s.quick for s in sources) else ""),
                 fontsize=10)
    _footer(fig, sources)
    return _save(fig, out_dir, "fig3_attention_matrix")


def fig4(spec: dict, index: AttentionIndex, out_dir: Path, log=print) -> list[Path]:
    cfg = spec["fig4"]
    found = []
    for ds in cfg.get("datasets", []):
        saved = index.get(ds)
        if saved is None or "temporal" not in saved.arrays:
            log(f"fig4: panel skipped: no saved temporal attention of {index.method} on {ds}")
            continue
        t = _task(saved, int(cfg.get("task", 0)), "fig4")
        n = int(saved.arrays["windows"][t])
        found.append((ds, saved, t, temporal_summary(saved.arrays["temporal"][t, :n])))
    if not found:
        log("fig4: skipped: no saved temporal attention")
        return []
    fig = _new_figure(4.2 * len(found), 6.0)
    axes = fig.subplots(2, len(found), squeeze=False)
    rows = []
    for j, (ds, saved, t, s) in enumerate(found):
        w = saved.arrays["temporal"][t, :s["windows"]].astype(float)
        mean, steps = w.mean(axis=0), s["steps"]
        lo, hi = np.percentile(w, [10, 90], axis=0)
        x = np.arange(1, steps + 1)
        ax = axes[0, j]
        ax.bar(x, mean, color="#4477AA", label=f"{index.method}: mean over {s['windows']} test windows")
        ax.errorbar(x, mean, yerr=np.clip([mean - lo, hi - mean], 0, None), fmt="none", ecolor="0.3", lw=0.7, label="10-90 % of windows")
        ax.axhline(1 / steps, color="k", ls="--", lw=0.8, label="uniform")
        ax.set_xticks([1, steps], [f"t-{steps}", "t-1"])
        ax.set_title(f"{ds} {saved.names('task_names')[t]}", fontsize=9)
        ax.set_ylabel("attention weight")
        ax.text(0.02, 0.97, f"entropy {s['entropy_bits']:.2f} bits (per window {s['mean_window_entropy_bits']:.2f})\n"
                f"uniform {s['uniform_bits']:.2f}, last step only 0, tanh bound >= {s['tanh_bound_min_entropy_bits']:.2f}\n"
                f"last 2 steps hold {s['mass_last_2']:.1%} (tanh bound <= {s['tanh_bound_mass_last_2']:.1%})",
                transform=ax.transAxes, va="top", fontsize=7)
        k = np.arange(1, steps + 1)
        ax2 = axes[1, j]
        ax2.plot(k, np.cumsum(mean[::-1]), "o-", ms=3, color="#4477AA", label=index.method)
        ax2.plot(k, k / steps, "--", color="k", label="uniform")
        ax2.plot(k, np.ones_like(k, dtype=float), ":", color="#EE6677", label="last step only")
        ax2.plot(k, tanh_softmax_bound(steps)["mass_last_k"], "-.", color="#228833", lw=0.9,
                 label="most a softmax(tanh) can hold")
        ax2.set_xlabel("last k steps")
        ax2.set_ylabel("attention mass on the last k steps")
        ax2.set_ylim(0, 1.05)
        rows.append({"dataset": ds, "task": saved.names("task_names")[t], **s, "method": saved.record["method"],
                     "seed": saved.record["seed"], "protocol": saved.record["protocol"], "quick": saved.quick,
                     "epochs_run": saved.record.get("epochs_run"), "run": shown_path(saved.run.path)})
    axes[0, 0].legend(fontsize=6.5, loc="center left")
    axes[1, 0].legend(fontsize=6.5, loc="lower right")
    quick = any(s.quick for _, s, _, _ in found)
    fig.suptitle(spec["fig4"].get("title", "Fig. 4") + (" (QUICK budget)" if quick else ""), fontsize=10)
    _footer(fig, [s for _, s, _, _ in found])
    paths = _save(fig, out_dir, "fig4_temporal_attention")
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows({k: (f"{v:.4f}" if isinstance(v, float) else v) for k, v in r.items()} for r in rows)
    write_atomic(out_dir / "fig4_temporal_attention.csv", buf.getvalue())
    return paths + [out_dir / "fig4_temporal_attention.csv"]


#: every figure drawn by `write_figures`; seed distributions and budget curves are added here
FIGURES = (fig2, fig3, fig4)


def write_figures(results, out=None, protocol: str | None = None, spec=None, log=print,
                  strict: bool = False) -> list[Path]:
    """Draw every figure of `spec` that the saved attention under `results` allows; returns the files.

    `strict`: no figure at all is bad input (the `figures` command); `reproduce --figures` only logs.
    """
    spec = spec if isinstance(spec, dict) else load_spec(spec)
    results = Path(results)
    index = AttentionIndex(results, spec.get("method", "fathom"), protocol)
    out_dir = Path(out or results) / "figures"
    written = []
    for draw in FIGURES:
        written += draw(spec, index, out_dir, log=log)
    if strict and not written:
        where = results / "runs" / (protocol or "")
        raise BadInput(f"--results: no saved attention of {index.method} under {where}; train with "
                       "--save-attention first (e.g. `train --dataset extrasensory --method fathom --save-attention`)")
    return written
