"""FATHOM cut into what a node runs and what the central node runs: views of one `FATHOM`.

A node part is the FATHOM instance restricted to the node's tasks: its rows of every per-task
layer (task attention, first LSTM, second LSTM, dense, output) and no global temporal attention.
The central part is the same instance with only the global temporal attention. Both are built
from a full `FATHOM` initialised from the run's seed (so every process holds the same initial
weights as the single-process run), then cut; they call the model's own `encode`, `node_message`,
`mix` and `decode`, so composing them is `FATHOM.forward` (tests/test_federated.py holds them equal).

Dropout: the single-process run draws one mask for all K tasks' inputs from the global generator.
A node draws that same full-width mask from its own generator (seeded as the global one would be)
and keeps its tasks' rows, so federated and single-process runs drop the same units.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from ..models.fathom import FATHOM
from ..models.layers import TaskLinear, TaskLSTM


class TaskRowsDropout(nn.Module):
    """Dropout over `[k, ...]` whose mask is rows `rows` of the mask for all `tasks` tasks.

    Draws exactly what `nn.Dropout` on the full `[tasks, ...]` input draws on CPU (ATen's
    `_dropout_impl`: `bernoulli_(1 - p)` over a contiguous tensor, divided by `1 - p`)."""

    def __init__(self, p: float, tasks: int, rows: list[int], generator: torch.Generator):
        super().__init__()
        self.p, self.tasks, self.generator = p, tasks, generator
        self.register_buffer("rows", torch.tensor(rows, dtype=torch.long), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0 or x.numel() == 0:
            return x
        noise = torch.empty((self.tasks, *x.shape[1:]), dtype=x.dtype, device=x.device)
        noise.bernoulli_(1 - self.p, generator=self.generator)
        noise.div_(1 - self.p)
        return x * noise.index_select(0, self.rows)


def _cut_rows(module: nn.Module, rows: list[int], tasks: int, generator: torch.Generator) -> None:
    """Keep rows `rows` of every per-task layer inside `module`, in place."""
    for sub in module.modules():
        if isinstance(sub, TaskLinear):
            sub.weight = nn.Parameter(sub.weight.detach()[rows].clone())
            if sub.bias is not None:
                sub.bias = nn.Parameter(sub.bias.detach()[rows].clone())
        elif isinstance(sub, TaskLSTM):
            sub.lstms = nn.ModuleList(sub.lstms[r] for r in rows)
            sub.dropout = TaskRowsDropout(sub.dropout.p, tasks, rows, generator)


def node_part(model: FATHOM, rows: list[int], generator: torch.Generator) -> FATHOM:
    """The node's FATHOM: tasks `rows` only (in that order), no global temporal attention.

    `generator` must be in the state the global generator would be in when training starts."""
    part = copy.copy(model)  # shallow: new module dicts below, the full model is left intact
    part._modules = dict(model._modules)
    part._buffers = dict(model._buffers)
    part.temporal_attention = None
    for name in ("task_attention", "lstm1", "lstm2", "dense", "out"):
        layer = getattr(model, name)
        if layer is not None:
            layer = copy.deepcopy(layer)
            _cut_rows(layer, rows, model.problem.num_tasks, generator)
            setattr(part, name, layer)
    index = torch.tensor(rows, dtype=torch.long)
    part.target_min = model.target_min.index_select(0, index)
    part.target_range = model.target_range.index_select(0, index)
    part.rows = list(rows)
    return part


def central_part(model: FATHOM) -> FATHOM:
    """The central node's FATHOM: the global temporal attention only (FATHOM-ga: no parameters)."""
    part = copy.copy(model)
    part._modules = dict(model._modules)
    for name in ("task_attention", "lstm1", "lstm2", "dense", "out"):
        setattr(part, name, None)
    return part


def split_tasks(num_tasks: int, nodes: int) -> list[list[int]]:
    """Tasks 0..K-1 in `nodes` contiguous groups whose sizes differ by at most one."""
    base, extra = divmod(num_tasks, nodes)
    groups, start = [], 0
    for n in range(nodes):
        size = base + (1 if n < extra else 0)
        groups.append(list(range(start, start + size)))
        start += size
    return groups


def assemble_state(central: FATHOM, nodes: list[FATHOM], of=None) -> dict[str, torch.Tensor]:
    """The full model's state dict put back together from the parts (to compare or save it);
    `of(part) -> {name: tensor}` assembles something else (e.g. the parameters' gradients)."""
    of = of or (lambda part: part.state_dict())
    state = dict(of(central))
    node_states = [(n.rows, of(n)) for n in nodes]
    for name in node_states[0][1]:
        if ".lstms." in name:
            head, _, rest = name.partition(".lstms.")
            local, _, tail = rest.partition(".")
            if local != "0":
                continue
            for rows, st in node_states:
                for i, r in enumerate(rows):
                    state[f"{head}.lstms.{r}.{tail}"] = st[f"{head}.lstms.{i}.{tail}"]
        else:
            state[name] = torch.cat([st[name] for _, st in node_states])
    return state
