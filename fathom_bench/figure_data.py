"""What the figures read: saved attention beside run records, the figure config, feature groups.

Pure numpy over files (no torch): `AttentionIndex` finds, per dataset, the run whose attention a figure
draws; `temporal_summary` turns temporal attention into the numbers Fig. 4 prints.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .documents import read_document
from .errors import BadInput
from .records import Run, iter_runs


@dataclass
class SavedAttention:
    """One run's record and its saved attention arrays."""

    run: Run
    arrays: dict
    root: Path

    @property
    def record(self) -> dict:
        return self.run.record

    def names(self, key: str) -> list[str]:
        return [str(n) for n in self.arrays[key]]

    @property
    def quick(self) -> bool:
        return bool(self.record.get("quick"))

    def caption(self) -> str:
        r = self.record
        trainer = (r.get("config") or {}).get("trainer") or {}
        budget = f"{r.get('epochs_run', '?')} of max {trainer.get('max_epochs', '?')} epochs"
        if trainer.get("limit_train_batches"):
            budget += f", {trainer['limit_train_batches']} batches each"
        try:
            where = self.run.path.relative_to(self.root)
        except ValueError:
            where = self.run.path
        return (f"{r.get('method_name') or r['method']} on {r['dataset']}, seed {r['seed']}, protocol {r['protocol']}, "
                f"{budget}{' (QUICK budget: an unconverged model, not a result)' if self.quick else ''}; run {where}")


def load_spec(path: str | Path | None = None) -> dict:
    from .paths import configs_dir

    path = Path(path) if path else configs_dir() / "figures" / "paper.yaml"
    spec = read_document(path, "figure config")
    for key in ("fig2", "fig3", "fig4"):
        if not isinstance(spec.get(key), dict):
            raise BadInput(f"{path}: figure config lacks a `{key}` section")
    return {**spec, "_path": str(path)}


class AttentionIndex:
    """The saved attention under a results folder: per dataset, the chosen run (smallest seed, protocol order)."""

    def __init__(self, results: Path, method: str, protocol: str | None = None):
        self.results, self.method = Path(results), method
        self.found: dict[str, list[Run]] = {}
        for run in iter_runs(self.results, protocol):
            rec = run.record
            if rec["method"] == method and run.ok and run.path.with_suffix(".attention.npz").is_file():
                self.found.setdefault(rec["dataset"], []).append(run)
        order = {"corrected": 0, "paper": 1}
        for runs in self.found.values():
            runs.sort(key=lambda r: (order.get(r.record["protocol"], 2), r.record["protocol"], int(r.record["seed"])))
        self._cache: dict[str, SavedAttention | None] = {}

    def get(self, dataset: str) -> SavedAttention | None:
        if dataset not in self._cache:
            self._cache[dataset] = None
            for run in self.found.get(dataset, []):
                path = run.path.with_suffix(".attention.npz")
                try:
                    with np.load(path, allow_pickle=False) as z:
                        arrays = {k: z[k] for k in z.files}
                except (OSError, ValueError) as exc:
                    raise BadInput(f"{path}: not a readable attention file ({exc})") from None
                if int(arrays.get("hooked", 0)) > 0:
                    self._cache[dataset] = SavedAttention(run, arrays, self.results)
                    break
        return self._cache[dataset]


def feature_groups(names: list[str], rules) -> list[str]:
    """The group of each feature name: the first matching prefix of `rules`, else the name up to ':'."""
    out = []
    for name in names:
        out.append(next((g for prefix, g in rules or [] if name.startswith(prefix)), name.split(":")[0]))
    return out


def temporal_summary(weights: np.ndarray) -> dict:
    """Numbers for the claim that the temporal attention uses "not only the last one or two steps".

    `weights` `[N, T]`: one distribution over the T steps per test window. Entropies in bits: of the
    mean distribution, and the mean of the per-window entropies; uniform = log2 T, last step only = 0.
    `mass_last_k`: the mean distribution's weight on the last k steps (last-step distribution: 1).
    """
    w = np.asarray(weights, dtype=float)
    mean = w.mean(axis=0)

    def entropy(p):
        p = p[p > 0]
        return float(-(p * np.log2(p)).sum())

    steps = w.shape[1]
    return {"windows": int(w.shape[0]), "steps": steps, "entropy_bits": entropy(mean),
            "mean_window_entropy_bits": float(np.mean([entropy(row) for row in w])),
            "uniform_bits": float(np.log2(steps)), "last_step_bits": 0.0,
            "mass_last_1": float(mean[-1]), "mass_last_2": float(mean[-2:].sum()),
            "uniform_mass_last_2": 2.0 / steps}
