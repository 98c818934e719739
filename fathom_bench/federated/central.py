"""The central node's loop (rank 0): the global temporal attention, early stopping, the run record.

It never sees a node's data: it reads the nodes' representations and gradients (see
`session.py` for the wire protocol), their validation loss sums and per-task scores.
"""

from __future__ import annotations

import copy
import math
import time

import torch

from ..problem import ProblemSpec
from .parts import central_part
from .scores import combine_scores
from .session import FederationError, _batch_sizes, _build, _share_width, save_part
from .transport import Metered, recv_json, send_json


class Central:
    def __init__(self, run, nodes: int, transport, logger=None):
        self.run, self.nodes, self.logger = run, nodes, logger
        self.t = transport if isinstance(transport, Metered) else Metered(transport)
        self.ranks = list(range(1, nodes + 1))

    def handshake(self) -> None:
        hellos = {r: recv_json(self.t, r, "hello") for r in self.ranks}
        error = None
        for r, hello in hellos.items():
            if hello["rank"] != r:
                error = f"node {hello['rank']} (connected as rank {r}): mismatched ranks"
            elif hello["config_hash"] != self.run.config_hash():
                error = (f"node {r}: its run differs from the central node's (config hash {hello['config_hash']} "
                         f"!= {self.run.config_hash()}): start every rank with the same command")
            if error:
                break
        if error:
            for r in self.ranks:
                send_json(self.t, {"error": error}, r, "welcome")
            raise FederationError(error)
        self.tasks = {r: hellos[r]["tasks"] for r in self.ranks}
        self.windows = {part: [n for r in self.ranks for n in hellos[r]["windows"][part]]
                        for part in hellos[1]["windows"]}
        self.lengths = {part: max(counts) for part, counts in self.windows.items()}
        for r in self.ranks:
            send_json(self.t, {"lengths": self.lengths}, r, "welcome")
        names = tuple(n for r in self.ranks for n in self.tasks[r])
        public = hellos[1]["problem"]
        k, m = len(names), public["num_targets"]
        self.problem = ProblemSpec(num_tasks=k, task_names=names,
                                   **{**public, "target_names": tuple(public["target_names"]),
                                      "input_names": tuple(public["input_names"])},
                                   target_min=tuple((0.0,) * m for _ in names),
                                   target_range=tuple((1.0,) * m for _ in names))

    def main(self) -> dict:
        run, t = self.run, self.t
        self.handshake()
        full, _ = _build(run, self.problem)
        self.num_parameters = int(sum(p.numel() for p in full.parameters()))
        self.width = _share_width(full)
        self.paper_message = full.global_attention and full.variant == "paper"
        model = central_part(full)
        del full
        self.global_attention = model.global_attention
        params = [p for p in model.parameters() if p.requires_grad]
        opt = model.configure_optimizers() if params else None
        offsets, start = {}, 0
        for r in self.ranks:
            offsets[r] = (start, start + len(self.tasks[r]))
            start += len(self.tasks[r])
        self.offsets = offsets
        bs = int(run.trainer.batch_size or run.dataset.batch_size)
        best, wait, best_epoch, best_state, best_val = math.inf, 0, None, None, {}
        es_best = math.inf
        traffic: list[dict] = []
        epochs_run = 0
        started = time.perf_counter()  # the epochs, as `train_one`'s train_seconds (no set-up)
        for epoch in range(run.trainer.max_epochs):
            model.train()
            for b in _batch_sizes(self.lengths["train"], bs, run.trainer.limit_train_batches):
                self._train_step(model, opt, b)
            for b in _batch_sizes(self.lengths["val"], bs, run.trainer.limit_val_batches):
                self._eval_step(model, b)
            reports = {r: recv_json(t, r, "summary") for r in self.ranks}
            val_loss = _val_loss([reports[r]["summary"]["loss_parts"] for r in self.ranks])
            val_scores = combine_scores(self.problem, [reports[r]["summary"]["scores"] for r in self.ranks])
            is_best = val_loss < best
            if is_best:
                best, best_epoch, best_val = val_loss, epoch, val_scores
                if run.protocol.restore_best_weights:
                    best_state = copy.deepcopy(model.state_dict())
            # Lightning's EarlyStopping: stop on a non-finite loss or `patience` epochs without improvement
            if val_loss < es_best:
                es_best, wait = val_loss, 0
            else:
                wait += 1
            stop = not math.isfinite(val_loss) or wait >= run.trainer.patience or epoch + 1 == run.trainer.max_epochs
            for r in self.ranks:
                send_json(t, {"best": bool(is_best), "stop": bool(stop)}, r, "decision")
            epochs_run = epoch + 1
            row = {"epoch": epoch, "val/loss": val_loss, **{f"nodes/{r}/{k}": v for r in self.ranks
                                                              for k, v in reports[r]["traffic"].items()
                                                              if k != "epoch"}}
            traffic.append({"epoch": epoch, "nodes": {r: reports[r]["traffic"] for r in self.ranks}})
            self._log(row, val_scores, epoch)
            if stop:
                break
        train_seconds = time.perf_counter() - started
        if best_state is not None:
            model.load_state_dict(best_state)
        for b in _batch_sizes(self.lengths["test"], bs):
            self._eval_step(model, b)
        results = {r: recv_json(t, r, "result") for r in self.ranks}
        test = combine_scores(self.problem, [results[r]["test"] for r in self.ranks])
        self.model = model
        save_part(model, 0)
        return {
            "metrics": {"test": test, "val": best_val},
            "epochs_run": epochs_run,
            "best_epoch": best_epoch,
            "train_seconds": round(train_seconds, 3),
            "num_parameters": self.num_parameters,
            "windows": self.windows,
            "problem": {"num_tasks": self.problem.num_tasks, "input_dim": self.problem.input_dim,
                        "num_targets": self.problem.num_targets, "window": self.problem.window,
                        "task_names": list(self.problem.task_names),
                        "target_names": list(self.problem.target_names)},
            "federated": _summary(self.nodes, self.tasks, traffic, results, t),
        }

    def _message_shape(self, r: int, b: int) -> tuple:
        lo, hi = self.offsets[r]
        return (hi - lo, b, 1 if self.paper_message else self.problem.window, self.width)

    def _mix_and_send(self, model, b: int, grad: bool):
        t = self.t
        seq = torch.cat([t.recv(r, self._message_shape(r, b), torch.float32, "representation") for r in self.ranks])
        if grad:
            total = sum(t.recv(r, (1,), torch.int64, "tasks_with_labels") for r in self.ranks)
            for r in self.ranks:
                t.send(total, r, "tasks_total")
            seq.requires_grad_()
        mixed = model.mix(seq)
        for r in self.ranks:
            lo, hi = self.offsets[r]
            t.send(mixed[lo:hi] if self.global_attention else mixed, r, "attention")
        return seq, mixed

    @torch.no_grad()
    def _eval_step(self, model, b: int) -> None:
        model.eval()
        self._mix_and_send(model, b, grad=False)

    def _train_step(self, model, opt, b: int) -> None:
        t = self.t
        seq, mixed = self._mix_and_send(model, b, grad=True)
        grads = [t.recv(r, tuple(mixed[slice(*self.offsets[r])].shape) if self.global_attention
                        else tuple(mixed.shape), torch.float32, "attention_grad") for r in self.ranks]
        if opt is not None:
            opt.zero_grad(set_to_none=True)
        mixed.backward(torch.cat(grads) if self.global_attention else sum(grads))
        for r in self.ranks:
            lo, hi = self.offsets[r]
            t.send(seq.grad[lo:hi], r, "representation_grad")
        if opt is not None:
            opt.step()

    def _log(self, row: dict, val_scores: dict, epoch: int) -> None:
        if self.logger is None:
            return
        scalars = {k: v for k, v in row.items() if isinstance(v, (int, float)) and k != "epoch"}
        scalars["federated/num_nodes"] = self.nodes
        scalars.update({f"val/{k}": v for k, v in val_scores.items() if isinstance(v, (int, float))})
        self.logger.log_metrics({"federated/" + k if k.startswith("nodes/") else k: v for k, v in scalars.items()},
                                step=epoch)


def _val_loss(parts: list[list[list[float]]]) -> float:
    """Lightning's epoch `val/loss`: per batch the mean over tasks with a label, weighted by the
    batch's labelled windows (`BenchModule._eval_step`)."""
    num = den = 0.0
    for batch in zip(*parts):
        sums, has, windows = (sum(p[i] for p in batch) for i in range(3))
        loss = sums / has if has else 0.0
        weight = max(windows, 1)
        num, den = num + loss * weight, den + weight
    return num / den if den else math.nan


def _summary(nodes: int, tasks: dict, traffic: list[dict], results: dict, t: Metered) -> dict:
    """The record's `federated` block: per node and epoch, what crossed the wire and how long steps took."""
    per_node = {}
    for r in tasks:
        epochs = [e["nodes"][r] for e in traffic]
        per_node[str(r)] = {
            "tasks": tasks[r],
            "data_bytes": results[r]["data_bytes"],
            "step_bytes_sent": epochs[0]["step_bytes_sent"] if epochs else 0,
            "step_bytes_received": epochs[0]["step_bytes_received"] if epochs else 0,
            "epoch_bytes_sent": [e["bytes_sent"] for e in epochs],
            "epoch_bytes_received": [e["bytes_received"] for e in epochs],
            "step_seconds": [round(e["step_seconds"], 6) for e in epochs],
            "step_comm_seconds": [round(e["step_comm_seconds"], 6) for e in epochs],
            "step_compute_seconds": [round(e["step_seconds"] - e["step_comm_seconds"], 6) for e in epochs],
        }
    return {"nodes": nodes, "central_bytes_sent": t.bytes_sent, "central_bytes_received": t.bytes_received,
            "per_node": per_node,
            "note": "bytes: tensor payloads (no transport framing); epoch bytes include validation; step "
                    "figures are per training step, the mean over the epoch (bytes: its first, full batch); "
                    "step seconds: a node's wall time per step, comm: the part of it blocked in the "
                    "transport (sending, or waiting for the central node's answer), compute: the rest"}
