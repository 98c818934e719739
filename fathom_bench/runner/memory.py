"""Memory per job for `--plan`: the peak RSS one run of each cell left is expected to take, from the
cell's finished records and its seeds saved mid-fit (`resume` keeps the peak of the processes that
trained them), else the dataset's other cells, else the benchmark (results/benchmarks/peak_rss.json)."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from . import cost  # its readers of records and benchmarks (tests patch them there)

GUESS = "other cells' records"  # a cell not measured yet is given its dataset's peak


def peak_rss_mb(cells: list[tuple[str, str, str]], out: Path, read=None, records=None) -> dict[str, tuple[float, str]]:
    """Per dataset, the most memory (peak RSS, MiB) one job of its planned `cells` (dataset, method,
    protocol) is expected to take, and whence: the cell's records and seeds saved mid-fit, else the
    dataset's other cells' records (a guess: FitRec FATHOM-ga takes about 2x its peers), else the
    benchmark; `read` (`checkpoint_reader()`) and `records` (`cost.known_records(out)`) are shared with
    `estimate`. The figure names every cell of the dataset that is not measured yet."""
    of_cell: dict[tuple, float] = defaultdict(float)
    of_dataset: dict[str, float] = defaultdict(float)
    for rec in cost.known_records(out) if records is None else records:
        if mib := float(rec.get("peak_rss_mb") or 0.0):
            cell = (rec["dataset"], rec["method"], rec["protocol"])
            of_cell[cell], of_dataset[rec["dataset"]] = max(of_cell[cell], mib), max(of_dataset[rec["dataset"]], mib)
    bench = cost._bench("peak_rss.json").get("peak_rss_mb", {})
    worst: dict[str, tuple[float, str]] = {}
    unmeasured: dict[str, list[str]] = defaultdict(list)
    for ds, method, protocol in sorted(set(cells)):
        mid_fit = 0.0
        if checkpoints := cost.cell_checkpoints(out, protocol, ds, method):
            read = read or cost.checkpoint_reader()
            mid_fit = max((read(path) or {}).get("peak_rss_mb") or 0.0 for _, path in checkpoints)
        if of_cell.get((ds, method, protocol)) or mid_fit:
            need = (max(of_cell.get((ds, method, protocol), 0.0), mid_fit), f"{method} {protocol}")
        elif of_dataset.get(ds):
            unmeasured[ds].append(f"{method} {protocol}")
            need = (of_dataset[ds], GUESS)
        elif bench.get(ds):
            need = (float(bench[ds]), "benchmark")
        else:
            continue
        mib, whence = worst.get(ds, (0.0, ""))
        if need[0] > mib or (need[0] == mib and whence == GUESS):  # a tie: the measured cell says whence
            worst[ds] = need
    # the cells a guess stands for are named whichever cell gave the figure: none may be left out of sight
    return {ds: (mib, f"{whence}; {', '.join(unmeasured[ds])} not measured yet" if unmeasured[ds] else whence)
            for ds, (mib, whence) in worst.items()}
