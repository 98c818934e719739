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
from .records import Run, at_cap, iter_runs, trainer_of


@dataclass
class SavedAttention:
    """One run's record and its saved attention arrays."""

    run: Run
    arrays: dict

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
        trainer = trainer_of(r)
        budget = f"{r.get('epochs_run', '?')} of max {trainer.get('max_epochs', '?')} epochs"
        if trainer.get("limit_train_batches"):
            budget += f", {trainer['limit_train_batches']} batches each"
        if not self.quick and at_cap(r):
            budget += ", stopped by that budget before early stopping: not shown to converge"
        where = shown_path(self.run.path)
        return (f"{r.get('method_name') or r['method']} on {r['dataset']}, seed {r['seed']}, protocol {r['protocol']}, "
                f"{budget}{' (QUICK budget: an unconverged model, not a result)' if self.quick else ''}; run {where}")


def shown_path(path: Path) -> str:
    """`path` relative to the working directory when inside it (as a reader would type it), else absolute."""
    path = Path(path).resolve()
    try:
        return str(path.relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


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
                stale = str(arrays.get("config_hash", "")) not in ("", run.record.get("config_hash"))
                if int(arrays.get("hooked", 0)) > 0 and not stale:
                    self._cache[dataset] = SavedAttention(run, arrays)
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
    `tanh_bound_*`: the most concentrated distribution softmax(tanh(.)) can produce (`tanh_softmax_bound`).
    """
    w = np.asarray(weights, dtype=float)
    mean = w.mean(axis=0)

    def entropy(p):
        p = p[p > 0]
        return float(-(p * np.log2(p)).sum())

    steps = w.shape[1]
    bound = tanh_softmax_bound(steps)
    return {"windows": int(w.shape[0]), "steps": steps, "entropy_bits": entropy(mean),
            "mean_window_entropy_bits": float(np.mean([entropy(row) for row in w])),
            "uniform_bits": float(np.log2(steps)), "last_step_bits": 0.0,
            "mass_last_1": float(mean[-1]), "mass_last_2": float(mean[-2:].sum()),
            "uniform_mass_last_2": 2.0 / steps, "tanh_bound_min_entropy_bits": bound["min_entropy_bits"],
            "tanh_bound_max_step_weight": bound["max_step_weight"],
            "tanh_bound_mass_last_2": float(bound["mass_last_k"][min(1, steps - 1)])}


def tanh_softmax_bound(steps: int) -> dict:
    """What softmax(tanh(.)) over `steps` can express at most (FATHOM's temporal attention, Eqs. 8-9 and
    the authors' `attention_3d_block`): tanh bounds every logit to [-1, 1], so a weight is at most e^2
    times another. `mass_last_k[k-1]`: the largest mass the last k steps can hold (logit +1 on them, -1
    elsewhere); `min_entropy_bits`: the least entropy any such distribution has (over n steps at +1).
    """
    e2 = float(np.e ** 2)
    k = np.arange(1, steps + 1, dtype=float)
    mass = k * e2 / (k * e2 + (steps - k))
    best = np.inf
    for n in range(1, steps):
        hi, lo = e2 / (n * e2 + steps - n), 1.0 / (n * e2 + steps - n)
        best = min(best, float(-(n * hi * np.log2(hi) + (steps - n) * lo * np.log2(lo))))
    return {"mass_last_k": mass, "max_step_weight": float(mass[0]), "min_entropy_bits": best if steps > 1 else 0.0}
