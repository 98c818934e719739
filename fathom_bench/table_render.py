"""Renderings of a `TableResult` (markdown, CSV, LaTeX, reproduced-vs-published) and writing them.

Split from `tables.py` (which builds the cells and tests); `tables` re-exports every public name.
"""

from __future__ import annotations

from decimal import ROUND_DOWN, Decimal
from itertools import groupby
from pathlib import Path

import pandas as pd

from . import stats
from .records import write_atomic
from .tables import ALPHA, NA, TableResult, _colname, _missing, _num

def _header(result: TableResult) -> list[str]:
    ns = sorted(set(int(n) for n in result.frame["n"])) if not result.frame.empty else [0]
    seeds = f"n = {ns[0]}" if len(ns) == 1 else f"n = {ns[0]}–{ns[-1]} (fewer-seed cells in the notes)"
    out = ["QUICK RUN — not a reproduction (small training budget; the numbers only show the pipeline works)."
           ] if result.quick else []
    rough = " ".join(t for t in map(stats.small_n_text, ns) if t)
    return out + [
        f"Protocol: {result.protocol}{' (as coded)' if result.as_coded else ''}. Seeds per cell: {seeds}.",
        f"Cells: mean ± half the width of the {stats.INTERVAL_TEXT}; exact bounds in {result.name}.csv."
        + (f" {rough}" if rough else ""),
        f"Bold: best row of the column (higher is better ↑, lower ↓). *: significantly better than the second "
        f"best: {stats.TEST_TEXT}, Holm-Bonferroni over each column's family of tests, corrected p < {ALPHA} "
        "(the seeds a * needs per column: notes). " + stats.MEANING_TEXT,
        "Improv.(a)/(b): % improvement of the reference method over the worst/best baseline (positive = better). "
        "Beneath the line: not in the paper, not ranked."]


MARKUP = {"md": {"bold": "**{}**", "star": "\\*", "pm": " ± {}", "na": NA, "floor": "*{} (not in the paper)*"},
          "tex": {"bold": r"\textbf{{{}}}", "star": "$^{*}$", "pm": r" $\pm$ {}", "na": "--",
                  "floor": "{} (not in the paper)"}}


def _grid(result: TableResult, fmt: str) -> list[tuple[str, str, list[str]]]:
    """(part, label, cells): the ranked rows, the two Improv. rows, the floor; cells marked up for fmt."""
    mk, d = MARKUP[fmt], int(result.cfg.get("decimals", 3))

    def cells(m):
        out = []
        for col in result.columns:
            c = result.cell(m, col["key"])
            if c is None or _missing(c["mean"]):
                out.append(mk["na"])
                continue
            text = (mk["bold"].format(_num(c["mean"], d)) if c["best"] else _num(c["mean"], d))
            text += mk["star"] if c["star"] else ""
            half = None if _missing(c["ci_low"]) else (c["ci_high"] - c["ci_low"]) / 2
            out.append(text + ("" if half is None else mk["pm"].format(_num(half, d))))
        return out

    by = result.improv.set_index("column") if not result.improv.empty else None
    improv = [("improv", f"Improv.({x})%", [mk["na"] if by is None or _missing(by[f"improv_{x}"].get(col["key"]))
                                            else _num(by[f"improv_{x}"][col["key"]], 2) for col in result.columns])
              for x in ("a", "b")]
    return ([("row", result.names[m], cells(m)) for m in result.rows] + improv
            + [("floor", mk["floor"].format(result.names[m]), cells(m)) for m in result.floor])


def render_markdown(result: TableResult) -> str:
    """The table as Markdown: header sentences, the grid, Improv. rows, the floor, notes."""
    out = [f"# {result.cfg.get('title', result.name)}", ""]
    out += [f"**{h}**" if h.startswith("QUICK") else h for h in _header(result)] + [""]
    out += ["| Method | " + " | ".join(_colname(c, arrow=True) for c in result.columns) + " |",
            "|---|" + "---:|" * len(result.columns)]
    out += [f"| {label} | " + " | ".join(cells) + " |" for _, label, cells in _grid(result, "md")]
    if result.notes:
        out += ["", "Notes:", ""] + [f"- {n}" for n in result.notes]
    return "\n".join(out) + "\n"


def render_csv(result: TableResult) -> str:
    """Every cell's numbers (tidy: one line per method and column), then the Improv. rows."""
    imp = result.improv.melt(id_vars=["column"], value_vars=["improv_a", "improv_b"], var_name="method",
                             value_name="mean")
    imp["method_name"] = imp["method"].map({"improv_a": "Improv.(a)%", "improv_b": "Improv.(b)%"})
    imp["role"] = "improv"
    frame = pd.concat([f for f in (result.frame, imp) if not f.empty], ignore_index=True) if not (
        result.frame.empty and imp.empty) else pd.DataFrame()
    frame.insert(0, "protocol", result.protocol + ("/as_coded" if result.as_coded else ""))
    frame["quick"] = result.quick
    return frame.to_csv(index=False, float_format="%.6g", lineterminator="\n")


def _tex(s: str) -> str:
    for a, b in (("\\", r"\textbackslash{}"), ("&", r"\&"), ("%", r"\%"), ("_", r"\_"), ("#", r"\#"),
                 ("<", "$<$"), (">", "$>$"), ("↑", r"$\uparrow$"), ("↓", r"$\downarrow$"), ("±", r"$\pm$"),
                 ("–", "--"), ("—", "---")):
        s = s.replace(a, b)
    return s


def render_latex(result: TableResult) -> str:
    """A booktabs table* with grouped column headings, the same cells as the Markdown."""
    cols = result.columns
    groups = [(g, len(list(run))) for g, run in groupby(c.get("group", c["dataset"]) for c in cols)]
    out = [r"\begin{table*}[t]", r"\centering", r"\caption{" + _tex(result.cfg.get("title", result.name)) + ". "
           + _tex(" ".join(_header(result))) + "}", r"\label{tab:" + result.name + "}",
           r"\begin{tabular}{l" + "c" * len(cols) + "}", r"\toprule",
           "Methods & " + " & ".join(rf"\multicolumn{{{n}}}{{c}}{{{_tex(g)}}}" for g, n in groups) + r" \\",
           " & " + " & ".join(_tex(f"{c['label']} {'↑' if c['higher_is_better'] else '↓'}") for c in cols)
           + r" \\", r"\midrule"]
    last = "row"
    for part, label, cells in _grid(result, "tex"):
        out += [r"\midrule"] if part != last else []
        out.append(_tex(label) + " & " + " & ".join(cells) + r" \\")
        last = part
    out += [r"\bottomrule", r"\end{tabular}", r"\end{table*}"]
    return "\n".join(out + ([""] + ["% " + n for n in result.notes] if result.notes else [])) + "\n"


def truncate(x: float, decimals: int = 2) -> float:
    """x cut (not rounded) to `decimals` places, as the paper's numbers appear to be: 0.4463 -> 0.44."""
    return float(Decimal(repr(float(x))).quantize(Decimal(1).scaleb(-decimals), rounding=ROUND_DOWN))


def render_vs_paper(result: TableResult, published: pd.DataFrame | None, dataset_notes: dict | None,
                    sources: dict | None = None) -> str:
    """Every reproduced cell beside the published value, per dataset, with the dataset's differences.
    With `sources` (sources.read_table_sources) each cell is compared with the authors' unrounded
    result-file value where one exists, naming the file, else with the rounding interval stated there."""
    if sources is not None:
        return _render_vs_sources(result, sources, dataset_notes)
    d = int(result.cfg.get("published_decimals", 2))
    step = 10.0 ** -d
    out = _vs_paper_title(result) + [stats.MEANING_TEXT]
    out += [f"Reproduced: mean over seeds, also truncated to {d} decimals as the paper's numbers appear to be "
            "(0.4463 -> 0.44). Difference: reproduced mean - published. In CI: the published value, read as the "
            f"interval [v, v + {step:g}) it was truncated from, meets the reproduced {stats.INTERVAL_TEXT}.", ""]
    lookup = {str(k).lower(): k for k in (published.index if published is not None else [])}
    for ds, cols in _dataset_parts(result):
        out += _dataset_heading(ds, cols, dataset_notes)
        out += ["| Method | Column | Reproduced | Truncated | 95 % CI | n | Published | Difference | In CI |",
                "|---|---|---:|---:|---|---:|---:|---:|:---:|"]
        for m, c, cell, name, ci in _vs_cells(result, cols):
            pub_row = lookup.get(result.names[m].lower())
            pub = None
            if pub_row is not None and c["key"] in published.columns:
                v = published.loc[pub_row, c["key"]]
                pub = None if pd.isna(v) else float(v)
            inside = NA if pub is None or _missing(cell["ci_low"]) else (
                "yes" if pub <= cell["ci_high"] and pub + step > cell["ci_low"] else "no")
            diff = NA if pub is None else f"{cell['mean'] - pub:+.4f}"
            shown = NA if pub is None else f"{pub:.{d}f}"
            out.append(f"| {name} | {c['label']} | {_num(cell['mean'], 4)} | {truncate(cell['mean'], d):.{d}f} | "
                       f"{ci} | {cell['n']} | {shown} | {diff} | {inside} |")
        out.append("")
    return "\n".join(out)


def _render_vs_sources(result: TableResult, sources: dict, dataset_notes: dict | None) -> str:
    d = int(result.cfg.get("published_decimals", 2))
    out = _vs_paper_title(result)
    out += ["Reproduced: mean over seeds. Compared with: the unrounded value of the authors' result file where one "
            "holds it (the file is named), else the published value read as the interval its stated rounding implies "
            f"(rounded: v ± {10.0 ** -d / 2:g}; truncated: [v, v + {10.0 ** -d:g})). Difference: reproduced mean - "
            f"that value (the published value where no file holds one). In CI: that value or interval meets the "
            f"reproduced {stats.INTERVAL_TEXT}.", ""]
    for ds, cols in _dataset_parts(result):
        out += _dataset_heading(ds, cols, dataset_notes)
        out += ["| Method | Column | Reproduced | 95 % CI | n | Published | Compared with | Difference | In CI | Note |",
                "|---|---|---:|---|---:|---:|---|---:|:---:|---|"]
        for m, c, cell, name, ci in _vs_cells(result, cols):
            src = sources.get((result.names[m], c["key"]))
            if src is None:
                out.append(f"| {name} | {c['label']} | {_num(cell['mean'], 4)} | {ci} | {cell['n']} | {NA} | "
                           f"no source row | {NA} | {NA} | |")
                continue
            inside = NA if _missing(cell["ci_low"]) else ("yes" if src.meets(cell["ci_low"], cell["ci_high"], d) else "no")
            ref = src.file_value if src.file_value is not None else src.value
            out.append(f"| {name} | {c['label']} | {_num(cell['mean'], 4)} | {ci} | {cell['n']} | "
                       f"{src.value:.{d}f} | {src.basis()} | {cell['mean'] - ref:+.4f} | {inside} | "
                       f"{src.note.replace('|', '/')} |")
        out.append("")
    return "\n".join(out)


def _vs_cells(result: TableResult, cols: list[dict]):
    """(method, column, cell, shown name, CI text) of every reproduced cell of `cols`, rows then floor."""
    for m in result.rows + result.floor:
        for c in cols:
            cell = result.cell(m, c["key"])
            if cell is None or _missing(cell["mean"]):
                continue
            ci = NA if _missing(cell["ci_low"]) else f"[{_num(cell['ci_low'])}, {_num(cell['ci_high'])}]"
            yield m, c, cell, result.names[m] + ("" if m not in result.floor else " (not in the paper)"), ci


def _vs_paper_title(result: TableResult) -> list[str]:
    return ([f"# {result.cfg.get('title', result.name)}: reproduced vs published", ""] +
            [f"**{h}**" if h.startswith("QUICK") else h for h in _header(result) if h.startswith(("QUICK", "Protocol"))])


def _dataset_parts(result: TableResult) -> list[tuple[str, list[dict]]]:
    """(dataset, its columns) in column order."""
    return [(ds, [c for c in result.columns if c["dataset"] == ds])
            for ds in dict.fromkeys(c["dataset"] for c in result.columns)]


def _dataset_heading(ds: str, cols: list[dict], dataset_notes: dict | None) -> list[str]:
    note = (dataset_notes or {}).get(ds)
    return [f"## {cols[0].get('group', ds)} (`{ds}`)", "",
            f"How the data differs from the paper's: {' '.join(str(note).split())}" if note
            else "How the data differs from the paper's: no note given.", ""]


def write_outputs(result: TableResult, out_dir, published: pd.DataFrame | None,
                  dataset_notes: dict | None, sources: dict | None = None) -> list[Path]:
    """<name>.md, <name>.csv, <name>.tex and <name>-vs-paper.md in `out_dir`, each written atomically;
    then the seed-score plots of every column under <name>-plots/ (PNG and PDF)."""
    out_dir = Path(out_dir)
    texts = {f"{result.name}.md": render_markdown(result), f"{result.name}.csv": render_csv(result),
             f"{result.name}.tex": render_latex(result),
             f"{result.name}-vs-paper.md": render_vs_paper(result, published, dataset_notes, sources)}
    for fname, text in texts.items():
        write_atomic(out_dir / fname, text)
    from .plots import write_table_plots

    return [out_dir / f for f in texts] + write_table_plots(result, out_dir / f"{result.name}-plots")
