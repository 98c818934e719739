"""`corrected` runs record what they claim: the validation metrics of the tested weights, and a run
whose predictions hold a NaN fails with that reason (synthetic data, a few epochs)."""

from __future__ import annotations

import lightning as L
import pytest
import torch

from fathom_bench.datasets.datamodule import BenchDataModule
from fathom_bench.methods import MethodSpec
from fathom_bench.metrics import NonFinitePrediction
from fathom_bench.runner.grid import plan, run_grid
from fathom_bench.runner.train import quiet_lightning, train_one
from fathom_bench.records import iter_runs

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.mark.parametrize("overrides, best_epoch", [({}, None), ({"lr": 0.0}, 0)])
def test_record_holds_the_validation_metrics_of_the_restored_best_epoch(monkeypatch, overrides, best_epoch):
    """lr = 0: every epoch ties, so the best is epoch 0 (whose metrics the old callback never saw)."""
    built = []
    real_build = MethodSpec.build

    def keep(self, *args, **kwargs):
        built.append(real_build(self, *args, **kwargs))
        return built[-1]

    monkeypatch.setattr(MethodSpec, "build", keep)
    run = plan(["synthetic"], ["mlp"], [0], ["corrected"], max_epochs=4, hparam_overrides=overrides)[0]
    rec = train_one(run, progress_bar=False)
    if best_epoch is None:
        assert rec["best_epoch"] >= 1  # otherwise a one-epoch-late record could not show
    else:
        assert rec["best_epoch"] == best_epoch and rec["epochs_run"] >= 2
    # validate the restored (tested) weights afresh: the record must hold exactly these metrics
    quiet_lightning()
    dm = BenchDataModule(run.dataset, run.protocol, seed=run.seed)
    trainer = L.Trainer(accelerator="cpu", logger=False, enable_progress_bar=False, enable_model_summary=False)
    trainer.validate(built[0], datamodule=dm, verbose=False)
    assert rec["metrics"]["val"] == built[0].val_results
    assert rec["metrics"]["val"]["mae"] > 0


def test_a_nan_prediction_fails_the_run_with_its_reason(tmp_path, monkeypatch):
    from fathom_bench.baselines.persistence import Persistence

    def nan_forward(self, x):
        out = torch.zeros(x.shape[0], x.shape[1], self.problem.num_targets)
        out[1, 0, 1] = float("nan")
        return out

    monkeypatch.setattr(Persistence, "forward", nan_forward)
    runs = plan(["synthetic"], ["persistence"], [0], ["corrected"], max_epochs=1)
    with pytest.raises(NonFinitePrediction, match=r"predictions are NaN or infinite \(first: task \S+, window 0, target y1\)"):
        train_one(runs[0], progress_bar=False)
    report = run_grid(runs, tmp_path, progress=False, log=lambda *_: None)
    rec = next(iter_runs(tmp_path)).record
    assert rec["status"] == "failed" and "NaN or infinite" in rec["error"] and rec["metrics"] == {}
    assert len(report.failed) == 1
