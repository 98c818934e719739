"""The two evaluation protocols as one value object.

`corrected` (default) is the sound protocol; `paper` replicates the authors' Keras code (see
`shared/reference/original-implementation.md`). The protocol is handed to the data module, the
loss and the metrics; methods never branch on it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

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
    #: non-target input columns: the dataset's `paper` ones (the authors' inputs) or its `corrected` ones
    input_columns: str = "corrected"

    @property
    def window_shift(self) -> int:
        """Rows between a window's last row and its target row: 1 under `paper`, 0 under `corrected`."""
        return 1 if self.target_history_in_input else 0

    def as_dict(self) -> dict:
        return asdict(self)


PROTOCOLS: dict[str, Protocol] = {
    "corrected": Protocol(
        name="corrected",
        target_history_in_input=False,
        fit_on="train",
        mask_missing_targets=True,
        feature_fill="train_mean",
        classification_average="macro",
        classification_loss="bce_smoothed",
        restore_best_weights=True,
    ),
    "paper": Protocol(
        name="paper",
        target_history_in_input=True,
        fit_on="all",
        mask_missing_targets=False,
        feature_fill="dataset",
        classification_average="pooled",
        classification_loss="eq1_as_coded",
        restore_best_weights=False,
        input_columns="paper",
    ),
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
