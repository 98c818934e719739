"""LR: logistic regression (classification) or linear regression (regression), one model per task.

Paper: Vaizman, Ellis, Lanckriet, "Recognizing Detailed Human Context In-the-Wild from Smartphones
and Smartwatches", IEEE Pervasive Computing 16(4), 2017 (FATHOM's reference [10]).
Link: https://arxiv.org/abs/1609.06354
Authors' code (YuChenZh/FATHOM_IJCNN): `mobile_sensor/multilable_OVR_v2.py` (one-vs-rest logistic
regression on single rows, no window), `weather/multilable_OVR_v2.py`, `FitRec/LR.py`.

Published Table III row (the number to set a run beside):
    ExtraSensory  Pr 0.57  Re 0.60  F1 0.52  BA 0.72
    Air Quality   mae 30.13  smape 1.23
    FitRec        mae HRate 14.56  Speed 13.86   smape HRate 0.64  Speed 0.61

Single-task: task k has its own weights and reads only its own data (the paper: "there is no
parameter sharing among any tasks"). The model sees the last row of the window only.

Two ways to fit, chosen by data (the method's config), never by the protocol's name:
- `solver: None` (default): one sigmoid (logistic) or linear output per target, trained by
  gradient descent with the benchmark's loss and optimizer; unregularised (the base's L2 covers
  LSTM kernels only).
- `solver: sklearn` (the `paper` block): scikit-learn's `LogisticRegression` objective, solved
  full-batch in float64 to convergence (Newton-CG, L-BFGS), so its probabilities are scikit-learn's (tested):
  minimise 1/2 |w|^2 (+ 1/2 b^2 with `penalize_intercept`, liblinear's behaviour) + C * sum of
  log-losses. Classification: one binary model per label (`OneVsRestClassifier`; a label with one
  class in training predicts that class, as sklearn's constant predictor). Regression
  (`FitRec/LR.py`): targets rounded to integers in original units are classes, one multinomial
  model per target (a target with two classes: binary, as sklearn's multi_class='auto'); the
  prediction is the most probable class's value.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy.optimize import minimize

from ..models.base import BenchModule
from ..models.layers import TaskLinear

SOLVERS = (None, "sklearn")


def _log_softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(1, keepdims=True)
    return z - np.log(np.exp(z).sum(1, keepdims=True))


def fit_logistic(x: np.ndarray, y: np.ndarray, c: float = 1.0, multinomial: bool = False,
                 penalize_intercept: bool = False, tol: float = 1e-8, max_iter: int = 1000) -> tuple:
    """scikit-learn's L2 logistic regression objective, minimised in float64 to convergence: binary
    models by Newton-CG (exact Hessian-vector products, liblinear's trust-region Newton idea; fast
    where L-BFGS crawls on badly scaled MinMax features), multinomial ones by L-BFGS (_lbfgs).

    x `[N, D]`; binary: y `[N, L]` in {0, 1}, one model per column (one-vs-rest); multinomial: y `[N]`
    class indices. Returns (W `[D, L or C]`, b `[L or C]`)."""
    x = np.asarray(x, np.float64)
    if not multinomial:
        fits = [_newton(x, np.asarray(y[:, [j]], np.float64), c, False, penalize_intercept, tol, max_iter)
                for j in range(y.shape[1])]
        return np.concatenate([w for w, _ in fits], 1), np.concatenate([b for _, b in fits])
    return _lbfgs(x, np.eye(int(y.max()) + 1)[y], c, penalize_intercept, max(tol, 1e-6))


def _lbfgs(x: np.ndarray, onehot: np.ndarray, c: float, penalize_intercept: bool, tol: float) -> tuple:
    """Multinomial: L-BFGS on the objective divided by N (as scikit-learn >= 1.1 scales it; the same
    optimum), in standardised coordinates: w = v / s, b = a - m.w for column means m and spreads s.
    Only the coordinates change, never the objective (the penalty stays 1/2 |w|^2), and centring
    decouples the intercepts from the weights, which makes L-BFGS converge in a fraction of the steps."""
    n, d = x.shape
    width = onehot.shape[1]
    split = d * width
    ib = 1.0 if penalize_intercept else 0.0
    m = x.mean(0)
    s = x.std(0)
    s = np.where(s > 0, s, 1.0)
    z = (x - m) / s

    def to_wb(theta):
        v, a = theta[:split].reshape(d, width), theta[split:]
        w = v / s[:, None]
        return w, a - m @ w

    def objective(theta):
        w, b = to_wb(theta)
        v, a = theta[:split].reshape(d, width), theta[split:]  # standardised coordinates
        logp = _log_softmax(z @ v + a)
        resid = np.exp(logp) - onehot
        value = (-(onehot * logp).sum() + (0.5 * (w * w).sum() + 0.5 * ib * (b * b).sum()) / c) / n
        # the penalty's gradient with respect to w (b depends on w through b = a - m.w), then to v and a
        gb = ib * b / c
        gw = w / c - np.outer(m, gb)
        gv = (z.T @ resid) + gw / s[:, None]
        ga = resid.sum(0) + gb
        return value, np.concatenate([gv.ravel(), ga]) / n

    res = minimize(objective, np.zeros(split + width), jac=True, method="L-BFGS-B",
                   options={"maxiter": 100000, "gtol": tol, "ftol": 1e-15, "maxcor": 30})
    return to_wb(res.x)


def _newton(x: np.ndarray, onehot: np.ndarray, c: float, multinomial: bool, penalize_intercept: bool,
            tol: float, max_iter: int) -> tuple:
    d, width = x.shape[1], onehot.shape[1]
    split = d * width
    ib = 1.0 if penalize_intercept else 0.0

    def unpack(theta):
        return theta[:split].reshape(d, width), theta[split:]

    def probs(z):
        return np.exp(_log_softmax(z)) if multinomial else 1.0 / (1.0 + np.exp(-z))

    def objective(theta):
        w, b = unpack(theta)
        z = x @ w + b
        data = -(onehot * _log_softmax(z)).sum() if multinomial else (np.logaddexp(0.0, z) - onehot * z).sum()
        resid = probs(z) - onehot
        value = c * data + 0.5 * (w * w).sum() + 0.5 * ib * (b * b).sum()
        return value, np.concatenate([(c * (x.T @ resid) + w).ravel(), c * resid.sum(0) + ib * b])

    def hessp(theta, v):
        w, b = unpack(theta)
        p = probs(x @ w + b)
        vw, vb = unpack(v)
        zv = x @ vw + vb
        r = p * zv - p * (p * zv).sum(1, keepdims=True) if multinomial else p * (1.0 - p) * zv
        return np.concatenate([(c * (x.T @ r) + vw).ravel(), c * r.sum(0) + ib * vb])

    res = minimize(objective, np.zeros(split + width), jac=True, hessp=hessp, method="trust-ncg",
                   options={"gtol": tol, "maxiter": max_iter})
    return unpack(res.x)


class _SklearnLogistic:
    """One task's fitted models: `[L]` binary models (classification) or one model per target (regression)."""

    def __init__(self, x: np.ndarray, y: np.ndarray, regression: bool, c: float, penalize_intercept: bool):
        self.regression, self.models = regression, []
        for j in range(y.shape[1]) if regression else [None]:
            if regression:
                classes, codes = np.unique(np.rint(y[:, j]), return_inverse=True)
                if len(classes) == 1:
                    self.models.append((classes, None, None))
                elif len(classes) == 2:  # sklearn's multi_class='auto' fits a binary model
                    w, b = fit_logistic(x, codes[:, None], c, penalize_intercept=penalize_intercept)
                    self.models.append((classes, w, b))
                else:
                    w, b = fit_logistic(x, codes, c, multinomial=True, penalize_intercept=penalize_intercept)
                    self.models.append((classes, w, b))
            else:
                lo, hi = y.min(0), y.max(0)
                self.constant = np.where(lo == hi, lo, np.nan)  # one class in training: sklearn predicts it
                keep = np.isnan(self.constant)
                w, b = np.zeros((x.shape[1], y.shape[1])), np.zeros(y.shape[1])
                if keep.any():
                    w[:, keep], b[keep] = fit_logistic(x, y[:, keep], c, penalize_intercept=penalize_intercept)
                self.models.append((None, w, b))

    def predict_proba(self, x: np.ndarray) -> list[np.ndarray]:
        """Classification: `[N, L]` positive-class probabilities. Regression: per target `[N, C]` class probabilities."""
        x = np.asarray(x, np.float64)
        if not self.regression:
            _, w, b = self.models[0]
            p = 1.0 / (1.0 + np.exp(-(x @ w + b)))
            return [np.where(np.isnan(self.constant), p, self.constant)]
        out = []
        for classes, w, b in self.models:
            if w is None:
                out.append(np.ones((x.shape[0], 1)))
            elif len(classes) == 2:
                p1 = 1.0 / (1.0 + np.exp(-(x @ w + b)))
                out.append(np.concatenate([1.0 - p1, p1], axis=1))
            else:
                out.append(np.exp(_log_softmax(x @ w + b)))
        return out

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Regression: `[N, M]` the most probable class's value per target (original units)."""
        return np.stack([classes[p.argmax(1)] for (classes, _, _), p in zip(self.models, self.predict_proba(x))], 1)


class LR(BenchModule):
    """Per-task linear model on the window's last row: `TaskLinear(D -> M)`, or scikit-learn's fit."""

    def __init__(self, problem, solver: str | None = None, C: float = 1.0, penalize_intercept: bool = False,
                 **kwargs):
        super().__init__(problem, **kwargs)
        if solver not in SOLVERS:
            from ..errors import BadInput

            raise BadInput(f"LR: solver must be one of {SOLVERS}, not {solver!r}")
        p = self.problem
        self.solver, self.C, self.penalize_intercept = solver, float(C), bool(penalize_intercept)
        self.trainable = solver is None  # the sklearn objective is solved full-batch in fit_arrays
        self.linear = TaskLinear(p.num_tasks, p.input_dim, p.num_targets)
        self.fitted: list[_SklearnLogistic] = []

    def fit_arrays(self, train: list) -> None:
        """`solver: sklearn`: fit each task's models on the last row of its training windows."""
        if self.solver is None:
            return
        self.fitted = []
        for k, part in enumerate(train):
            x = part.x[:, -1].double().numpy()
            y = part.y.double()
            if not self.problem.is_classification:  # original units: the script rounds those
                y = y * self.target_range[k].double() + self.target_min[k].double()
            y = y.numpy()
            self.fitted.append(_SklearnLogistic(x, y, not self.problem.is_classification, self.C,
                                                self.penalize_intercept))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: `[K, B, T, D]` -> logits / scaled values `[K, B, M]` from `x[:, :, -1]` (`[K, B, D]`)."""
        if not self.fitted:
            return self.linear(x[:, :, -1])
        outs = []
        for k, model in enumerate(self.fitted):
            rows = x[k, :, -1].double().cpu().numpy()
            if self.problem.is_classification:
                prob = np.clip(model.predict_proba(rows)[0], 1e-15, 1 - 1e-15)
                outs.append(torch.from_numpy(np.log(prob) - np.log1p(-prob)))  # logits: sigmoid gives prob back
            else:
                lo = self.target_min[k, 0].double().cpu().numpy()
                rng = self.target_range[k, 0].double().cpu().numpy()
                outs.append(torch.from_numpy((model.predict(rows) - lo) / rng))
        return torch.stack(outs).to(x.dtype)
