"""Plots for people who would rather look: seed scores per column and the critical-difference diagram.

Pure functions of numbers already computed from records (no torch, no pyplot global state: each
figure is a `matplotlib.figure.Figure` drawn with the Agg canvas). Every figure is written as PNG
and PDF with the date and software stamps left out, so the same numbers give the same files.
"""

from __future__ import annotations

from pathlib import Path

FLOOR_COLOR = "#b2182b"


def _figure(width: float, height: float):
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=100, layout="constrained")


def save(fig, stem: Path) -> list[Path]:
    """`stem`.png and `stem`.pdf (no creation date or software stamp)."""
    stem.parent.mkdir(parents=True, exist_ok=True)
    out = []
    for fmt, meta in (("png", {"Software": None}), ("pdf", {"CreationDate": None, "Producer": None,
                                                             "Creator": None})):
        path = stem.with_suffix(f".{fmt}")
        tmp = path.with_name(f".{path.name}.tmp")
        fig.savefig(tmp, format=fmt, metadata=meta)
        tmp.replace(path)
        out.append(path)
    return out


def seed_scores(values: dict, names: dict, title: str, ylabel: str, higher_is_better: bool,
                floor: dict | None = None):
    """Every method's per-seed scores (box and points) in rank order, the floor's mean as a line.

    `values`: {method: {seed: score}} of the ranked methods (best first); `floor`: {name: mean} of
    the floor method(s), drawn as horizontal dashed lines. Returns the Figure.
    """
    methods = list(values)
    fig = _figure(max(5.0, 0.7 * len(methods) + 2.0), 3.4)
    ax = fig.subplots()
    data = [[values[m][s] for s in sorted(values[m])] for m in methods]
    ax.boxplot(data, positions=range(len(methods)), widths=0.5, showfliers=False,
               medianprops={"color": "#444444"}, boxprops={"color": "#888888"},
               whiskerprops={"color": "#888888"}, capprops={"color": "#888888"})
    for i, ys in enumerate(data):
        n = len(ys)
        xs = [i + (0.3 * (j / (n - 1) - 0.5) if n > 1 else 0.0) for j in range(n)]  # even spread: deterministic
        ax.scatter(xs, ys, s=14, color="#2166ac", alpha=0.8, zorder=3, linewidths=0)
    for name, level in (floor or {}).items():
        ax.axhline(level, color=FLOOR_COLOR, linestyle="--", linewidth=1.2, zorder=2)
        ax.annotate(f"{name} (floor)", xy=(1.0, level), xycoords=("axes fraction", "data"), xytext=(-4, 3),
                    textcoords="offset points", ha="right", va="bottom", fontsize=8, color=FLOOR_COLOR)
    ax.set_xticks(range(len(methods)), [names.get(m, m) for m in methods], rotation=30, ha="right", fontsize=8)
    ax.set_ylabel(f"{ylabel} ({'higher' if higher_is_better else 'lower'} is better)", fontsize=9)
    ax.set_title(title, fontsize=10)
    ax.grid(axis="y", alpha=0.3)
    return fig


def cd_diagram(result, names: dict, title: str):
    """Demšar's critical-difference diagram of a `critical_difference.CDResult`: mean ranks on an axis
    (1 = best, left), the CD as a bar, methods not significantly different joined by thick lines
    (all of them when the Friedman test does not reject)."""
    k = len(result.methods)
    half = (k + 1) // 2
    rows = max(half, k - half)
    fig = _figure(7.0, 1.4 + 0.28 * rows)
    ax = fig.subplots()
    ax.set_xlim(0.3, k + 0.7)
    ax.set_ylim(-(rows + 1.5), 2.2)
    ax.axis("off")
    ax.hlines(0, 1, k, color="black", linewidth=1)
    for r in range(1, k + 1):
        ax.vlines(r, 0, 0.2, color="black", linewidth=1)
        ax.text(r, 0.35, str(r), ha="center", va="bottom", fontsize=8)
    ax.hlines(1.3, 1, 1 + result.cd, color="black", linewidth=1.5)
    ax.text(1 + result.cd / 2, 1.45, f"CD = {result.cd:.2f}", ha="center", va="bottom", fontsize=8)
    for i, (m, r) in enumerate(zip(result.methods, result.mean_ranks)):
        left = i < half
        y = -(i + 1) if left else -(k - i)
        end = 0.5 if left else k + 0.5
        ax.plot([r, r, end], [0, y, y], color="#555555", linewidth=0.8)
        ax.text(end + (-0.05 if left else 0.05), y, f"{names.get(m, m)} ({r:.2f})", ha="right" if left else "left",
                va="center", fontsize=8)
    cliques = result.cliques if result.p < result.alpha else ((0, k - 1),)
    for n, (i, j) in enumerate(cliques):
        y = -0.35 - 0.25 * n
        ax.hlines(y, result.mean_ranks[i] - 0.05, result.mean_ranks[j] + 0.05, color="black", linewidth=3)
    ax.set_title(title, fontsize=10)
    return fig


def write_table_plots(result, folder: Path) -> list[Path]:
    """One seed-score plot per column of a `tables.TableResult`: its rows in rank order, the floor as a line."""
    written = []
    quick = " (QUICK budget: not a result)" if result.quick else ""
    for col in result.columns:
        values = result.seed_values.get(col["key"]) or {}
        cells = {m: result.cell(m, col["key"]) for m in result.rows if values.get(m)}
        order = sorted(cells, key=lambda m: (cells[m]["rank"] if cells[m]["rank"] is not None else 10 ** 6,
                                             result.rows.index(m)))
        if not order:
            continue
        floor = {result.names[m]: float(sum(values[m].values()) / len(values[m])) for m in result.floor if values.get(m)}
        arrow = "↑" if col["higher_is_better"] else "↓"
        fig = seed_scores({m: values[m] for m in order}, result.names,
                          f"{col.get('group', col['dataset'])} {col['label']} {arrow}: seed scores{quick}",
                          cells[order[0]]["metric"], bool(col["higher_is_better"]), floor)
        written += save(fig, Path(folder) / col["key"])
    return written
