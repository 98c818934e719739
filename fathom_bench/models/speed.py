"""Speed measurements of the suite's methods (used by `tests/benchmarks/test_bench_models.py`).

- `train_loop_seconds`: forward + loss + L2 penalty + backward + optimizer step over batches
  already in memory, in a bare Python loop: the floor any training pipeline can reach.
- `lightning_epoch_seconds`: one Lightning `fit` epoch over the data module's first N batches.
- `fathom_forward_flops`: FATHOM's multiply-adds counted from its layer sizes (x2 FLOPs); a
  training step is counted as 3x the forward (backward ~ 2x forward).
- `matmul_flops_per_second`: a plain fp32 matmul on this machine, the reference for FLOP/s.
- `windows_table_markdown`: training windows per second, methods x datasets, as markdown.

A "window" is one task's input window `[T, D]`: a batch `x [K, B, T, D]` holds K*B of them.
"""

from __future__ import annotations

import itertools
import json
import os
import platform
import time
from pathlib import Path

import torch

ENV_THREADS = "FATHOM_BENCH_THREADS"


def bench_threads() -> int:
    """Threads for speed measurements: $FATHOM_BENCH_THREADS, else 1.

    One thread by default: on a small machine shared with other jobs, torch's OpenMP threads
    spin-wait at every barrier and a step can run 20-30x slower at random (measured here:
    FATHOM on ExtraSensory 0.9 s per step with 1 thread, 26 s with 2 while another job ran;
    `OMP_WAIT_POLICY=PASSIVE` also avoids it).
    """
    return int(os.environ.get(ENV_THREADS, "1"))


def prebuilt_batches(datamodule, n: int) -> list[dict]:
    """The first `n` training batches of `datamodule`, materialised in memory."""
    return list(itertools.islice(iter(datamodule.train_dataloader()), n))


def train_loop_seconds(model, batches: list[dict]) -> float:
    """Seconds for one bare training pass over `batches` (a fresh optimizer, as a new fit)."""
    opt = model.configure_optimizers()
    model.train()
    started = time.perf_counter()
    for batch in batches:
        opt.zero_grad(set_to_none=True)
        loss = model.loss_fn(model(batch["x"]), batch["y"], batch["mask"]) + model.penalty()
        loss.backward()
        opt.step()
    return time.perf_counter() - started


def lightning_epoch_seconds(model, datamodule, n: int) -> float:
    """Seconds of `Trainer.fit` for one epoch of `n` batches, no validation, nothing written."""
    import lightning as L

    trainer = L.Trainer(max_epochs=1, limit_train_batches=n, limit_val_batches=0, num_sanity_val_steps=0,
                        logger=False, enable_checkpointing=False, enable_progress_bar=False,
                        enable_model_summary=False, accelerator="cpu", devices=1)
    started = time.perf_counter()
    trainer.fit(model, datamodule=datamodule)
    return time.perf_counter() - started


def lstm_flops(in_features: int, hidden: int, steps: int, sequences: int) -> int:
    """Forward FLOPs of an LSTM: 4 gates of `hidden` units, (in + hidden) inputs each, per step."""
    return 2 * 4 * hidden * (in_features + hidden) * steps * sequences


def dense_flops(in_features: int, out_features: int, rows: int) -> int:
    return 2 * in_features * out_features * rows


def fathom_forward_flops(model, batch_size: int) -> int:
    """FATHOM's (or an ablation's) forward FLOPs for one batch, from its layer sizes.

    Matmuls and LSTM gates only; softmax, tanh and element-wise products are left out (< 1 %).
    """
    p = model.problem
    k, t, d, b = p.num_tasks, p.window, p.input_dim, batch_size
    total = 0
    if model.task_attention is not None:
        total += k * dense_flops(d, d, b * t)
        if model.task_attention.project is not None:
            total += k * dense_flops(d, model.task_attention.out_features, b * t)
    if model.lstm1 is not None:
        lstm = model.lstm1.lstms[0]
        total += k * lstm_flops(lstm.input_size, lstm.hidden_size, t, b)
    if model.temporal_attention is not None:
        dense = model.temporal_attention.score
        total += dense_flops(dense.in_features, k * dense.out_features, b)
    lstm = model.lstm2.lstms[0]
    total += k * lstm_flops(lstm.input_size, lstm.hidden_size, t, b)
    for layer in (model.dense, model.out):
        _, fan_in, fan_out = layer.weight.shape
        total += k * dense_flops(fan_in, fan_out, b)
    return total


def matmul_flops_per_second(n: int = 1024, repeats: int = 7) -> float:
    """FLOP/s of an fp32 `[n, n] @ [n, n]` matmul on this machine (best of `repeats`)."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b  # warm-up
    best = min(_timed(lambda: a @ b) for _ in range(repeats))
    return 2 * n ** 3 / best


def _timed(fn) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def windows_per_second(model, batches: list[dict], min_seconds: float = 2.0, max_passes: int = 5) -> dict:
    """Training windows per second: one warm-up step, then passes over `batches` until `min_seconds`."""
    train_loop_seconds(model, batches[:1])
    seconds, steps, windows = 0.0, 0, 0
    for _ in range(max_passes):
        seconds += train_loop_seconds(model, batches)
        steps += len(batches)
        windows += sum(b["x"].shape[0] * b["x"].shape[1] for b in batches)
        if seconds >= min_seconds:
            break
    return {"windows_per_second": windows / seconds, "steps": steps, "seconds": round(seconds, 4),
            "windows_per_step": windows // steps}


def machine() -> dict:
    return {"cpu": platform.processor() or platform.machine(), "cpus": os.cpu_count(),
            "threads": torch.get_num_threads(), "torch": torch.__version__, "python": platform.python_version()}


def windows_table_markdown(rows: list[dict], datasets: list[str], titles: dict[str, str] | None = None,
                           note: str = "") -> str:
    """One markdown table: a row per method, a column per dataset, training windows per second."""
    titles = titles or {}
    names = list(dict.fromkeys(r["name"] for r in rows))
    cell = {(r["name"], r["dataset"]): r["windows_per_second"] for r in rows}
    lines = ["| Method | " + " | ".join(titles.get(d, d) for d in datasets) + " |",
             "|---|" + "---:|" * len(datasets)]
    for name in names:
        values = [f"{cell[name, d]:,.0f}" if (name, d) in cell else "-" for d in datasets]
        lines.append(f"| {name} | " + " | ".join(values) + " |")
    return (note.strip() + "\n\n" if note else "") + "\n".join(lines) + "\n"


def update_json(path: Path, key: str, value) -> dict:
    """Set `key` in the JSON object at `path` (created if missing), written atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = json.loads(path.read_text()) if path.is_file() else {}
    data[key] = value
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    tmp.replace(path)
    return data
