"""The evaluation protocols as one value object.

`corrected` (default) is the sound protocol; `paper` replicates the authors' Keras code (see
`shared/reference/original-implementation.md`); `forecast` is the authors' task without its
leaks: for regression the authors' window (all inputs and the targets' own history, rows
t-T..t-1 predict row t), everything else as `corrected`; classification exactly as `corrected`
(labels are never observed at inference). The protocol is handed to the data module, the loss,
the metrics and the tables; methods never branch on it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

from .errors import BadInput


@dataclass(frozen=True)
class Protocol:
    name: str
    #: rows t-T..t-1 of all columns (paper) or feature rows t-T+1..t (corrected) predict row t.
    target_history_in_input: bool
    #: "train": scalers and fill values from the training part only; "all": from every row.
    fit_on: str
    #: missing labels/targets masked out of loss and metrics (corrected) or filled (paper).
    mask_missing_targets: bool
    #: "train_mean" (corrected) or the dataset's `paper_fill` ("ffill_bfill_zero" or "zero").
    feature_fill: str
    #: classification metrics: "macro" over labels per task, or "pooled" counts per task (authors).
    classification_average: str
    #: classification loss: "bce_smoothed" (per label, masked) or "eq1_as_coded" (authors' Eq. 1).
    classification_loss: str
    #: evaluate the weights of the best validation epoch (corrected) or the last ones (Keras default).
    restore_best_weights: bool
    #: task types whose input holds the targets' history when `target_history_in_input` (forecast:
    #: regression only; a classification label is never observed at inference).
    target_history_task_types: tuple[str, ...] = ("classification", "regression")
    #: inputs: the loader's `paper_features` (the authors' columns) with the targets' history, or its
    #: benchmark `features` (no normalised copies of the targets, no identifiers).
    authors_input_columns: bool = True
    #: values outside the dataset's `valid_ranges` (physically impossible): "missing" (NaN, so masked
    #: and left out of scaling) or "keep" (the authors' code used them).
    impossible_values: str = "keep"
    #: clip scaled inputs to the training part's range [0, 1] (scalers fitted on the training part).
    clip_inputs_to_train_range: bool = False
    #: tables add skill = 1 - MAE / MAE(floor) per regression column (the floor: persistence).
    skill_vs_floor: bool = False
    #: dataset task types the protocol has runs of its own on (forecast: regression; on classification
    #: it is `corrected` exactly, so its runs there would repeat corrected's under another name).
    task_types: tuple[str, ...] = ("classification", "regression")

    def runs_on(self, task_type: str) -> bool:
        """Whether a grid under this protocol trains on a `task_type` dataset."""
        return task_type in self.task_types

    def history_in_input(self, task_type: str) -> bool:
        """Whether inputs of a `task_type` dataset hold the targets' own history (rows t-T..t-1 -> t)."""
        return self.target_history_in_input and task_type in self.target_history_task_types

    def shift_for(self, task_type: str) -> int:
        """Rows between a window's last row and its target row for a `task_type` dataset (1 or 0)."""
        return 1 if self.history_in_input(task_type) else 0

    @property
    def window_shift(self) -> int:
        """Rows between a window's last row and its target row when the history is in the input: 1 under
        `paper` and `forecast`, 0 under `corrected`. Per dataset, `shift_for(task_type)` is the one to use."""
        return 1 if self.target_history_in_input else 0

    def as_dict(self) -> dict:
        """What a run computes with (it enters the config hash); `task_types` says only where a grid
        plans runs, so it is left out and records keep their hashes."""
        return {k: v for k, v in asdict(self).items() if k != "task_types"}


CORRECTED = Protocol(
    name="corrected",
    target_history_in_input=False,
    fit_on="train",
    mask_missing_targets=True,
    feature_fill="train_mean",
    classification_average="macro",
    classification_loss="bce_smoothed",
    restore_best_weights=True,
    authors_input_columns=False,
    impossible_values="missing",
    clip_inputs_to_train_range=True,
)

PROTOCOLS: dict[str, Protocol] = {
    "corrected": CORRECTED,
    "paper": Protocol(
        name="paper",
        target_history_in_input=True,
        fit_on="all",
        mask_missing_targets=False,
        feature_fill="dataset",
        classification_average="pooled",
        classification_loss="eq1_as_coded",
        restore_best_weights=False,
    ),
    # `corrected` plus the targets' own history in the regression inputs (the authors' window)
    "forecast": replace(CORRECTED, name="forecast", target_history_in_input=True,
                        target_history_task_types=("regression",), skill_vs_floor=True, task_types=("regression",)),
}


def get_protocol(name: str | Protocol) -> Protocol:
    if isinstance(name, Protocol):
        return name
    try:
        return PROTOCOLS[name]
    except KeyError:
        raise BadInput(
            f"--protocol: unknown protocol {name!r}; choose one of {', '.join(PROTOCOLS)}"
        ) from None
