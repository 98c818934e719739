"""The baselines of the paper's Table III, plus the persistence floor.

One module per method, each a `BenchModule` subclass (see `fathom_bench/models/base.py`) with one
config in `configs/methods/`:

    lr.py           LR            single-task logistic/linear regression on the window's last row
    mlp.py          MLP(16,16)    multi-task MLP: per-task Dense16 -> cross-task Dense16 per step
    crnn.py         CRNN          per-task Conv1D -> MaxPool -> LSTM, then the M-LSTM shared head
    m_att.py        M-Att         per-task Conv1D, temporal attention over all tasks, LSTM(72)
    s_lstm.py       S-LSTM        one LSTM(64) model per task, nothing shared
    m_lstm.py       M-LSTM        per-task LSTM(64) -> shared Dense(576) -> per-task Dense(128)
    persistence.py  Persistence   not in the paper: last observed target, or the training mean

Each module's docstring gives the paper, the authors' code path and the published Table III row.
"""
