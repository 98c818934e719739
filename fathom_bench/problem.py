"""What a method is told about the data it trains on: sizes, names, and scaling for inverse transforms."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass(frozen=True)
class ProblemSpec:
    """Shapes and facts a method may read; built by the data module, never by hand in the runner.

    Methods read the sizes (`num_tasks`, `window`, `input_dim`, `num_targets`) and, where a
    method needs them, `target_history_index` (input columns that hold the targets' own history:
    present under `paper`, and under `forecast` for regression) and `train_target_mean` (per task and target, in
    scaled units). Loss and metrics read `task_type` and the protocol fields; methods do not.
    """

    dataset: str
    task_type: str  # "classification" | "regression"
    protocol: str  # "corrected" | "paper" | "forecast"
    num_tasks: int
    window: int
    input_dim: int
    num_targets: int
    task_names: tuple[str, ...]
    target_names: tuple[str, ...]
    input_names: tuple[str, ...] = ()
    target_history_index: tuple[int, ...] | None = None
    #: per task and target: original = scaled * target_range + target_min
    target_min: tuple[tuple[float, ...], ...] = ()
    target_range: tuple[tuple[float, ...], ...] = ()
    train_target_mean: tuple[tuple[float, ...], ...] = ()
    classification_loss: str = "bce_smoothed"
    classification_average: str = "macro"
    #: the authors' as-coded SMAPE denominator for this dataset: "signed" (a + p) or "absolute" (|a| + |p|)
    as_coded_smape: str = "signed"
    extra: dict = field(default_factory=dict, compare=False)

    @property
    def is_classification(self) -> bool:
        return self.task_type == "classification"

    def as_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "ProblemSpec":
        d = dict(d)
        for key in ("task_names", "target_names", "input_names"):
            d[key] = tuple(d.get(key, ()))
        for key in ("target_min", "target_range", "train_target_mean"):
            d[key] = tuple(tuple(row) for row in d.get(key, ()))
        if d.get("target_history_index") is not None:
            d["target_history_index"] = tuple(d["target_history_index"])
        return cls(**d)
