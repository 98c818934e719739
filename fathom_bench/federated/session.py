"""Algorithm 1 over a transport: the node's loop and the central node's loop for one run.

Rank 0 is the central node, ranks 1..N the nodes; node r holds tasks `split_tasks(K, N)[r - 1]`.
Per training step (batch of B windows, every tensor float32 unless said):

    node -> central  representation      [k, B, T, S] (paper variant: h_T, [k, B, 1, S])
    node -> central  tasks_with_labels   [1] int64: how many of its tasks have a label in the batch
    central -> node  tasks_total         [1] int64: the sum (the loss is a mean over those tasks)
    central -> node  attention           [k, B, T] its tasks' temporal weights (ga: shared [B, T, K*S])
    node -> central  attention_grad      d loss_node / d attention, same shape
    central -> node  representation_grad d loss / d representation, same shape as representation

Evaluation batches send `representation` up and `attention` down only. Once per epoch a node sends
a JSON `summary` (its validation loss sums and its tasks' scores: `scores.task_scores`) and gets
a JSON `decision` (best epoch? stop?) back; at the end it sends its test scores and its traffic.
Predictions, targets and raw inputs never leave a node.
"""

from __future__ import annotations

import copy
import os
import threading
import time
from dataclasses import replace

import torch

from ..datasets.batches import EvalBatches, TrainBatches
from ..datasets.datamodule import load_raw, task_names
from ..datasets.windows import prepare
from ..errors import BadInput
from ..models.fathom import FATHOM
from ..problem import ProblemSpec
from .parts import node_part, split_tasks
from .scores import task_scores
from .transport import Metered, recv_json, send_json

CENTRAL = 0
_BUILD_LOCK = threading.Lock()  # in-process nodes share torch's global generator while building


class FederationError(BadInput):
    """A federated run cannot go on; the message names the node and the cause."""


def _build(run, problem: ProblemSpec) -> tuple[FATHOM, torch.Generator]:
    """The full model as the single-process run initialises it, and a generator in the state the
    global one is in after that (what the run's dropout and data loaders draw from next)."""
    with _BUILD_LOCK, torch.random.fork_rng(devices=[]):
        torch.manual_seed(run.seed)  # what L.seed_everything does to torch
        model = run.method.build(problem, run.dataset.name, run.hparam_overrides)
        gen = torch.Generator()
        gen.set_state(torch.get_rng_state())
    if not isinstance(model, FATHOM):
        raise BadInput(f"--federated: method {run.method.key} is not FATHOM or one of its ablations")
    return model, gen


def _share_width(model: FATHOM) -> int:
    """S: one task's width in the shared representation."""
    if model.lstm1 is not None:
        return model.lstm1.lstms[0].hidden_size
    return model.task_attention.out_features if model.task_attention is not None else model.problem.input_dim


def _loader_seed_draw(gen: torch.Generator) -> None:
    """What creating a DataLoader iterator draws from the global generator (its base seed)."""
    torch.empty((), dtype=torch.int64).random_(generator=gen)


def _batch_sizes(length: int, batch_size: int, limit: int | None = None) -> list[int]:
    sizes = [min(batch_size, length - s) for s in range(0, length, batch_size)]
    return sizes[:limit] if limit else sizes


# ------------------------------------------------------------------------------------------- node
class Node:
    """One node: its own tasks' data and its part of the model."""

    def __init__(self, run, rank: int, nodes: int, transport, data_dir=None):
        self.run, self.rank, self.nodes = run, rank, nodes
        self.t = transport if isinstance(transport, Metered) else Metered(transport)
        spec = run.dataset
        names = task_names(spec, data_dir)
        if nodes > len(names):
            raise BadInput(f"--federated: {nodes} nodes but dataset {spec.name} has {len(names)} tasks")
        self.rows = split_tasks(len(names), nodes)[rank - 1]
        self.names = [names[r] for r in self.rows]
        self.data = prepare(load_raw(spec, data_dir, tasks=self.names), spec, run.protocol)
        self.all_names = names

    def handshake(self) -> dict:
        send_json(self.t, {"rank": self.rank, "config_hash": self.run.config_hash(), "tasks": self.names,
                           "windows": self.data.windows_per_part(), "problem": _public(self.data.problem)},
                  CENTRAL, "hello")
        reply = recv_json(self.t, CENTRAL, "welcome")
        if "error" in reply:
            raise FederationError(reply["error"])
        return reply

    def main(self) -> None:
        run, t = self.run, self.t
        welcome = self.handshake()
        mine = self.data.problem
        k_all = len(self.all_names)
        ones = tuple((1.0,) * mine.num_targets for _ in range(k_all))
        tmin, trange = list(ones), list(ones)
        for i, r in enumerate(self.rows):
            tmin[r], trange[r] = mine.target_min[i], mine.target_range[i]
        problem = replace(mine, num_tasks=k_all, task_names=tuple(self.all_names), target_min=tuple(tmin),
                          target_range=tuple(trange), train_target_mean=())
        full, gen = _build(run, problem)
        model = node_part(full, self.rows, gen)
        del full
        self.model, self.global_attention = model, model.global_attention
        opt = model.configure_optimizers()
        lengths, bs = welcome["lengths"], int(run.trainer.batch_size or run.dataset.batch_size)
        parts = self.data.parts
        train = TrainBatches(parts["train"], bs, run.seed, run.trainer.limit_train_batches, length=lengths["train"])
        best_state = None
        self.traffic = []
        for epoch in range(run.trainer.max_epochs):
            before, steps = self.t.counters(), []
            _loader_seed_draw(gen)
            model.train()
            for i, batch in enumerate(train):
                self.t.step = i
                steps.append(self._train_step(model, opt, batch))
            self.t.step = None
            _loader_seed_draw(gen)
            summary = self._evaluate(model, "val", lengths["val"], bs, run.trainer.limit_val_batches)
            after = self.t.counters()
            self.traffic.append({"epoch": epoch, "steps": len(steps),
                                 "step_bytes_sent": steps[0][0] if steps else 0,
                                 "step_bytes_received": steps[0][1] if steps else 0,
                                 "bytes_sent": after[0] - before[0], "bytes_received": after[1] - before[1],
                                 "step_seconds": sum(s[2] for s in steps) / max(len(steps), 1),
                                 "step_comm_seconds": sum(s[3] for s in steps) / max(len(steps), 1)})
            send_json(t, {"summary": summary, "traffic": self.traffic[-1]}, CENTRAL, "summary")
            decision = recv_json(t, CENTRAL, "decision")
            if decision["best"] and run.protocol.restore_best_weights:
                best_state = copy.deepcopy(model.state_dict())
            if decision["stop"]:
                break
        if best_state is not None:
            model.load_state_dict(best_state)
        test = self._evaluate(model, "test", lengths["test"], bs, None)
        send_json(t, {"test": test["scores"], "data_bytes": _data_bytes(self.data)}, CENTRAL, "result")
        save_part(model, self.rank)

    def _train_step(self, model, opt, batch) -> tuple[int, int, float, float]:
        t = self.t
        started, comm0, (sent0, recv0, _) = time.perf_counter(), t.seconds, t.counters()
        x, y, mask = batch["x"], batch["y"], batch["mask"]
        opt.zero_grad(set_to_none=True)
        seq, _ = model.encode(x)
        message = model.node_message(seq)
        t.send(message, CENTRAL, "representation")
        has = mask.flatten(1).any(1)
        t.send(has.sum().reshape(1), CENTRAL, "tasks_with_labels")
        total = int(t.recv(CENTRAL, (1,), torch.int64, "tasks_total")[0])
        mixed = t.recv(CENTRAL, self._mixed_shape(x, message), torch.float32, "attention").requires_grad_()
        out = model.decode(x, mixed)
        local = model.loss_fn(out, y, mask)
        if not torch.isfinite(local):
            raise FloatingPointError(f"node {self.rank}: non-finite training loss")
        loss = local * (int(has.sum()) / max(total, 1)) + model.penalty()
        loss.backward()
        t.send(mixed.grad, CENTRAL, "attention_grad")
        grad = t.recv(CENTRAL, tuple(message.shape), torch.float32, "representation_grad")
        message.backward(grad)
        opt.step()
        sent, received, _ = t.counters()
        return sent - sent0, received - recv0, time.perf_counter() - started, t.seconds - comm0

    def _mixed_shape(self, x, message) -> tuple:
        k, b, t = x.shape[:3]
        if self.global_attention:
            return (k, b, t)
        return (b, message.shape[2], len(self.all_names) * message.shape[-1])

    @torch.no_grad()
    def _evaluate(self, model, part: str, length: int, bs: int, limit: int | None) -> dict:
        model.eval()
        batches = EvalBatches(self.data.parts[part], bs, length=length)
        loss_parts, values, targets, masks = [], [], [], []
        for i, batch in enumerate(batches):
            if limit and i >= limit:
                break
            x, y, mask = batch["x"], batch["y"], batch["mask"]
            message = model.node_message(model.encode(x)[0])
            self.t.send(message, CENTRAL, "representation")
            mixed = self.t.recv(CENTRAL, self._mixed_shape(x, message), torch.float32, "attention")
            out = model.decode(x, mixed)
            has = int(mask.flatten(1).any(1).sum())
            loss_parts.append([float(model.loss_fn(out, y, mask)) * has, has, int(mask.any(-1).sum())])
            values.append(model.to_original(out))
            targets.append(model.targets_original(y))
            masks.append(mask)
        scores = task_scores(self.data.problem, self.names, torch.cat(values, 1), torch.cat(targets, 1),
                             torch.cat(masks, 1))
        return {"loss_parts": loss_parts, "scores": scores}


def _public(problem: ProblemSpec) -> dict:
    """What the central node may know of a node's problem: sizes and names, no statistics of the data."""
    return {k: getattr(problem, k) for k in ("dataset", "task_type", "protocol", "window", "input_dim",
                                              "num_targets", "target_names", "input_names",
                                              "classification_loss", "classification_average")}


def _data_bytes(data) -> int:
    """Bytes of the prepared arrays that stay on the node (inputs, targets, masks of every part)."""
    n = sum(x.numel() * x.element_size() for x in data.inputs)
    for tps in data.parts.values():
        n += sum(p.y.numel() * p.y.element_size() + p.mask.numel() * p.mask.element_size() for p in tps)
    return n


def save_part(model: FATHOM, rank: int) -> None:
    """With FATHOM_BENCH_FEDERATED_SAVE_PARTS=<folder>, each rank saves its trained part there
    (`rank<r>.pt`: its task rows and state dict), e.g. to compare with a single-process run."""
    folder = os.environ.get("FATHOM_BENCH_FEDERATED_SAVE_PARTS")
    if folder:
        os.makedirs(folder, exist_ok=True)
        torch.save({"rows": getattr(model, "rows", None), "state": model.state_dict()},
                   os.path.join(folder, f"rank{rank}.pt"))
