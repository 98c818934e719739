"""FATHOM: federated multi-task hierarchical attention model, and its two ablations.

Paper: Yujing Chen, Yue Ning, Zheng Chai, Huzefa Rangwala, "Federated Multi-task Learning with
Hierarchical Attention for Sensor Data Analytics", International Joint Conference on Neural
Networks (IJCNN 2020), doi:10.1109/IJCNN48605.2020.9207508 (an earlier version is arXiv:1905.05142,
"Federated Multi-task Hierarchical Attention Model for Sensor Analytics").
Authors' code: https://github.com/YuChenZh/FATHOM_IJCNN, `*/FATHOM.py` (`mobile_sensor/` =
ExtraSensory, `weather/` = Air Quality, `FitRec/`); FATHOM-ga = `*/FATHOM_base1.py`,
FATHOM-ta = `*/FATHOM_base2.py`.

Published Table III rows (ExtraSensory Pr Re F1 BA | Air Quality mae smape | FitRec mae HRate,
mae Speed, smape HRate, smape Speed):
    FATHOM     0.89 0.77 0.82 0.88 | 7.30  0.44 | 3.93 4.0  0.20 0.17
    FATHOM-ga  0.50 0.61 0.54 0.77 | 15.67 0.73 | 7.59 7.11 0.34 0.31
    FATHOM-ta  0.80 0.69 0.74 0.84 | 8.15  0.51 | 4.18 4.10 0.19 0.20

Architecture (per task k unless said; `variant="code"` follows the authors' Keras code):
1. Task-specific attention (`attention_dim`, Eqs. 4-6): a = softmax_D(x W_k); code: tanh((x*a) V_k)
   with V_k: D x 128 (`attention_dim`); paper (`variant="paper"`): tanh(x * a), D columns (Eq. 6).
2. First LSTM(64), all steps, dropout on its inputs; L2 (`l2`) on its input kernel only, as the
   code's `kernel_regularizer`.
3. Shared representation: every task's sequence concatenated along features at every step,
   `[B, T, K*S]`; S = 64 from the first LSTMs (`shared_from="lstm"`: Air Quality and FitRec
   scripts, and the paper) or the attention outputs (`shared_from="attention"`: the ExtraSensory
   script, whose first LSTM is then disconnected: it is not built here, so no L2 either).
4. Global temporal attention (`attention_3d_block`, Eqs. 8-10): per task, Dense(T, tanh) over
   Flatten(shared) `[B, T*K*S]` (paper: over the last step only, h_T of all tasks, `[B, K*S]`),
   softmax over T, repeated over the D features and multiplied with the task's RAW input window.
5. Second LSTM(64), last step (`second_dropout` on its inputs: 0.2 only in the ExtraSensory
   script) -> Dense(64, relu) -> Dense(M). No sigmoid: the base applies it for classification;
   regression outputs are linear (Eq. 13). Eq. 12 is written without a nonlinearity; both
   variants keep the code's relu (two stacked linear maps would collapse into one).
Ablations (minimal changes, as the authors' scripts): FATHOM-ga (`global_attention=False`) drops
step 4 and the second LSTM reads the shared representation `[B, T, K*S]` directly, as
`FATHOM_base1.py` does (feeding it the raw input instead would cut steps 1-3 off the output).
FATHOM-ta (`task_attention=False`) drops step 1: the first LSTM reads the raw input
(`FATHOM_base2.py`).

Differences from the Keras code kept on purpose: the LSTMs are fused `torch.nn.LSTM` (tanh, as the
paper's LSTM of Hochreiter & Schmidhuber, not the code's relu; no recurrent dropout, `dropout`
acts on the inputs as Keras' `dropout=`), an order of magnitude faster on CPU; torch's LSTM
initialisation rather than Keras' glorot/orthogonal. Dense layers use Keras' glorot init.
Per-task LSTMs run as a loop over `nn.LSTM` (measured faster here than one batched LSTM over
stacked weights); per-task dense and attention layers are batched (bmm / one mm).
"""

from __future__ import annotations

import torch

from ..errors import BadInput
from .attention import GlobalTemporalAttention, TaskFeatureAttention
from .base import BenchModule
from .layers import TaskLinear, TaskLSTM, lstm_kernels

VARIANTS = ("code", "paper")
SHARED_FROM = ("lstm", "attention")


class FATHOM(BenchModule):
    """FATHOM and its ablations FATHOM-ga / FATHOM-ta (see the module docstring)."""

    def __init__(self, problem, hidden: int = 64, attention_dim: int = 128, dense: int = 64,
                 dropout: float = 0.2, task_attention: bool = True, global_attention: bool = True,
                 variant: str = "code", shared_from: str = "lstm", second_dropout: float = 0.0, **common):
        super().__init__(problem, **common)
        self.save_hyperparameters()
        self.hparams["problem"] = self.problem.as_dict()  # plain data in checkpoints and loggers
        if variant not in VARIANTS:
            raise BadInput(f"variant: unknown {variant!r}; choose one of {', '.join(VARIANTS)}")
        if shared_from not in SHARED_FROM:
            raise BadInput(f"shared_from: unknown {shared_from!r}; choose one of {', '.join(SHARED_FROM)}")
        p = self.problem
        k, t, d = p.num_tasks, p.window, p.input_dim
        self.variant, self.shared_from, self.global_attention = variant, shared_from, global_attention
        self.task_attention: TaskFeatureAttention | None = None
        local = d  # width of each task's local representation (what the first LSTM reads)
        if task_attention:
            self.task_attention = TaskFeatureAttention(k, d, attention_dim if variant == "code" else None)
            local = self.task_attention.out_features
        self.lstm1: TaskLSTM | None = None
        if shared_from == "lstm":
            self.lstm1 = TaskLSTM(k, local, hidden, dropout=dropout, return_sequences=True)
        width = hidden if shared_from == "lstm" else local  # S: one task's share per step
        self.temporal_attention: GlobalTemporalAttention | None = None
        if global_attention:
            flat = (t if variant == "code" else 1) * k * width
            self.temporal_attention = GlobalTemporalAttention(k, flat, t)
        second_in = d if global_attention else k * width
        self.lstm2 = TaskLSTM(k, second_in, hidden, dropout=second_dropout)
        self.dense = TaskLinear(k, hidden, dense)
        self.out = TaskLinear(k, dense, p.num_targets)

    def l2_parameters(self) -> list[torch.nn.Parameter]:
        """The first LSTMs' input kernels (the code regularises those only)."""
        return lstm_kernels(self.lstm1) if self.lstm1 is not None else []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x `[K, B, T, D]` -> logits (classification) or scaled values (regression) `[K, B, M]`.

        Shapes: task attention `[K, B, T, D]` -> `[K, B, T, A]` (A = 128 code, D paper) -> first
        LSTM `[K, B, T, H]` -> shared `[B, T, K*S]` (S = H, or A with `shared_from="attention"`)
        -> temporal weights `[K, B, T]` (from Flatten(shared) `[B, T*K*S]`, paper: `[B, K*S]`)
        -> weighted raw input `[K, B, T, D]` (ga: the shared `[B, T, K*S]` for every task) ->
        second LSTM `[K, B, H]` -> Dense `[K, B, 64]` -> `[K, B, M]`.
        Stores detached `self.attention["task"]` `[K, B, T, D]` (sums to 1 over D) and
        `self.attention["temporal"]` `[K, B, T]` (sums to 1 over T) for the layers present.
        The three stages are Algorithm 1's: `encode` (nodes, lines 2-4), `mix` (central node, lines
        6-7), `decode` (nodes, lines 8-11); `fathom_bench.federated` runs them on separate processes.
        """
        seq, attention = self.encode(x)
        mixed = self.mix(seq)
        if self.global_attention:
            attention["temporal"] = mixed.detach()
        self.attention = attention
        return self.decode(x, mixed)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Per task: x `[K, B, T, D]` -> local representation `[K, B, T, S]`, {"task": weights}."""
        attention: dict[str, torch.Tensor] = {}
        local = x
        if self.task_attention is not None:
            local, weights = self.task_attention(x)
            attention["task"] = weights.detach()
        return (self.lstm1(local) if self.lstm1 is not None else local), attention

    def node_message(self, seq: torch.Tensor) -> torch.Tensor:
        """What of `encode`'s output the central node reads: every step `[K, B, T, S]`, or (paper
        variant, Eq. 8) the last hidden state only, `[K, B, 1, S]`."""
        return seq[:, :, -1:] if self.global_attention and self.variant == "paper" else seq

    def mix(self, seq: torch.Tensor) -> torch.Tensor:
        """All tasks' `[K, B, T', S]` -> temporal weights `[K, B, T]`, or (ga) the shared `[B, T', K*S]`."""
        b, t = seq.shape[1], seq.shape[2]
        shared = seq.permute(1, 2, 0, 3).reshape(b, t, -1)  # concatenation over tasks: [B, T', K*S]
        if not self.global_attention:
            return shared
        flat = shared.reshape(b, -1) if self.variant == "code" else shared[:, -1]
        return self.temporal_attention(flat)  # [K, B, T]

    def decode(self, x: torch.Tensor, mixed: torch.Tensor) -> torch.Tensor:
        """Per task: raw x `[K, B, T, D]` and `mix`'s output -> `[K, B, M]`."""
        k, b, t, _ = x.shape
        if self.global_attention:
            second = x * mixed.unsqueeze(-1)
        else:
            second = mixed.expand(k, b, t, mixed.shape[-1])  # one view, read by every task
        h = torch.relu(self.dense(self.lstm2(second)))
        return self.out(h)
