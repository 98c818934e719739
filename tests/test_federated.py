"""Federated FATHOM: the parts compose to FATHOM, the federation trains what one process trains, and
only Algorithm 1's tensors leave a node. In-process (threads) here; real processes over gloo on
127.0.0.1 in tests/test_federated_processes.py."""

from __future__ import annotations

import json

import pytest
import torch

from fathom_bench.check import DEFAULT_ATOL, DEFAULT_RTOL
from fathom_bench.datasets.datamodule import BenchDataModule, load_raw
from fathom_bench.datasets.spec import load_dataset_spec
from fathom_bench.errors import BadInput
from fathom_bench.federated.inprocess import run_in_process
from fathom_bench.federated.launch import federated_runs, rank_from_env
from fathom_bench.federated.parts import assemble_state, central_part, node_part, split_tasks
from fathom_bench.federated.scores import combine_scores, task_scores
from fathom_bench.federated.session import FederationError
from fathom_bench.methods import MethodSpec
from fathom_bench.metrics import scores_for
from fathom_bench.models.fathom import FATHOM
from fathom_bench.problem import ProblemSpec
from fathom_bench.runner import train as train_module
from fathom_bench.runner.grid import plan

pytestmark = pytest.mark.usefixtures("one_torch_thread")

VARIANTS = {
    "code": {},
    "paper": {"variant": "paper"},
    "ga": {"global_attention": False},
    "ta": {"task_attention": False},
    "shared_attention": {"shared_from": "attention", "second_dropout": 0.2},
}


@pytest.fixture(scope="module")
def synthetic():
    dm = BenchDataModule("synthetic", batch_size=8)
    dm.setup()
    return dm


def _compose(nodes, central, x):
    """Algorithm 1 by hand: nodes encode, the central node mixes, nodes decode."""
    messages = [n.node_message(n.encode(x[n.rows])[0]) for n in nodes]
    seq = torch.cat(messages)
    mixed = central.mix(seq)
    outs = [n.decode(x[n.rows], mixed[n.rows] if n.global_attention else mixed) for n in nodes]
    return torch.cat(outs)


@pytest.mark.parametrize("name", list(VARIANTS))
def test_node_and_central_parts_compose_to_fathom(synthetic, name):
    x = next(iter(synthetic.train_dataloader()))["x"]
    torch.manual_seed(1)
    model = FATHOM(synthetic.problem, **VARIANTS[name])
    model.train()  # dropout on: the nodes must draw the single-process masks
    state = torch.get_rng_state()
    expected = model(x)
    expected.square().sum().backward()
    nodes = []
    for rows in split_tasks(synthetic.problem.num_tasks, 3):
        gen = torch.Generator()
        gen.set_state(state)  # every node's generator where the global one was
        nodes.append(node_part(model, rows, gen))
    central = central_part(model)
    for part in [central, *nodes]:
        part.zero_grad(set_to_none=True)
    out = _compose(nodes, central, x)
    torch.testing.assert_close(out, expected, rtol=0, atol=1e-6)
    out.square().sum().backward()
    full_grads = {k: p.grad for k, p in model.named_parameters()}
    grads = assemble_state(central, nodes, of=lambda part: {k: p.grad for k, p in part.named_parameters()})
    assert set(grads) == set(full_grads)
    for key, grad in full_grads.items():
        torch.testing.assert_close(grads[key], grad, rtol=1e-5, atol=1e-7, msg=key)


def test_split_tasks_covers_every_task_once():
    assert split_tasks(9, 3) == [[0, 1, 2], [3, 4, 5], [6, 7, 8]]
    assert split_tasks(4, 3) == [[0, 1], [2], [3]]
    assert sorted(sum(split_tasks(24, 5), [])) == list(range(24))


def _single_process(run, data_dir=None):
    """Train `run` in one process (the suite's `train_one`); (record fields, trained state dict)."""
    built = []
    original = MethodSpec.build

    def keep(self, *args, **kwargs):
        built.append(original(self, *args, **kwargs))
        return built[-1]

    MethodSpec.build = keep
    try:
        rec = train_module.train_one(run, data_dir=data_dir, progress_bar=False)
    finally:
        MethodSpec.build = original
    return rec, built[0].state_dict()


def _close(a: float, b: float) -> bool:
    return abs(a - b) <= DEFAULT_ATOL + DEFAULT_RTOL * abs(b)


@pytest.mark.parametrize("method", ["fathom", "fathom_ga", "fathom_ta"])
def test_three_nodes_train_what_one_process_trains(method):
    """20 steps (2 epochs x 10 batches) of the synthetic data, 3 nodes vs `train_one`, same seed."""
    run = plan(["synthetic"], [method], [3], ["corrected"], max_epochs=2, limit_train_batches=10)[0]
    single, single_state = _single_process(run)
    fields, central, nodes = run_in_process(run, 3, timeout=30)
    fed_state = assemble_state(central.model, [n.model for n in nodes])
    assert set(fed_state) == set(single_state)
    diff = max(float((fed_state[k] - single_state[k]).abs().max()) for k in single_state)
    assert diff <= 1e-5
    assert fields["epochs_run"] == single["epochs_run"] == 2
    assert fields["best_epoch"] == single["best_epoch"]
    for key, value in single["metrics"]["test"].items():
        if isinstance(value, float):
            assert _close(fields["metrics"]["test"][key], value), key
    assert fields["windows"] == single["windows"]
    assert fields["num_parameters"] == single["num_parameters"]


def test_nodes_read_only_their_own_tasks():
    spec = load_dataset_spec("synthetic")
    raw = load_raw(spec, tasks=["task01", "task03"])
    assert [t.name for t in raw.tasks] == ["task01", "task03"]
    with pytest.raises(BadInput, match="no task named 'nope'"):
        load_raw(spec, tasks=["nope"])


def test_beijing_loader_reads_only_the_chosen_stations_files():
    from fathom_bench.datasets import beijing_air_quality as aq

    spec = load_dataset_spec("beijing_air_quality")
    some = aq.select_tasks(spec, ["Dongsi", "Aotizhongxin"])
    assert some.options["stations"] == ["Aotizhongxin", "Dongsi"]  # the dataset's order
    assert aq._file_names(some)[1] == ["PRSA_Data_Aotizhongxin_20130301-20170228.csv",
                                       "PRSA_Data_Dongsi_20130301-20170228.csv"]


class WireCheck:
    """Wraps one rank's transport; keeps every tensor it sends."""

    def __init__(self, inner):
        self.inner, self.rank, self.sent = inner, inner.rank, []

    def send(self, tensor, dst, kind=""):
        self.sent.append((kind, tensor.detach().clone(), dst))
        self.inner.send(tensor, dst, kind)

    def recv(self, src, shape, dtype=torch.float32, kind=""):
        return self.inner.recv(src, shape, dtype, kind)


@pytest.mark.parametrize("method,overrides", [("fathom", {}), ("fathom", {"variant": "paper"}), ("fathom_ga", {})],
                         ids=["code", "paper", "ga"])
def test_only_algorithm_1_tensors_leave_a_node(method, overrides):
    run = plan(["synthetic"], [method], [5], ["corrected"], max_epochs=1, limit_train_batches=3,
               hparam_overrides=overrides)[0]
    wires = {}

    def wrap(rank, inner):
        wires[rank] = WireCheck(inner)
        return wires[rank]

    fields, central, nodes = run_in_process(run, 3, timeout=30, wrap=wrap)
    dm = BenchDataModule("synthetic", seed=5)
    batch = next(iter(dm.train_dataloader()))
    k_all, t, hidden, b = dm.problem.num_tasks, dm.problem.window, 64, batch["x"].shape[1]
    allowed_json = {"hello": {"rank", "config_hash", "tasks", "windows", "problem"},
                    "summary": {"summary", "traffic"}, "result": {"test", "data_bytes"}}
    # the single-process tensors of step 0, to check the origin of what the nodes sent then
    torch.manual_seed(5)
    model = run.method.build(dm.problem, "synthetic", overrides)
    model.train()
    torch.empty((), dtype=torch.int64).random_()  # what the train loader draws (its base seed)
    seq, _ = model.encode(batch["x"])
    message = model.node_message(seq)
    message.retain_grad()
    mixed = model.mix(message)
    mixed.retain_grad()
    loss = model.loss_fn(model.decode(batch["x"], mixed), batch["y"], batch["mask"]) + model.penalty()
    loss.backward()
    steps = 1 if model.variant == "paper" else t
    ga_grads = []
    for node in nodes:
        k = len(node.rows)
        sent = wires[node.rank].sent
        assert {dst for _, _, dst in sent} == {0}
        step_kinds = {kind for kind, _, _ in sent if ":" not in kind and kind not in allowed_json}
        # per training step: representation, label count, attention gradient; per eval batch: representation
        assert step_kinds == {"representation", "tasks_with_labels", "attention_grad"}
        for kind, tensor, _ in sent:
            if kind == "representation":
                assert tensor.shape[0] == k and tensor.shape[2:] == (steps, hidden)
            elif kind == "attention_grad" and model.global_attention:
                assert tensor.shape == (k, b, t)
            elif kind == "attention_grad":  # FATHOM-ga: the whole shared representation came down
                assert tensor.shape == (b, t, k_all * hidden)
            elif kind == "tasks_with_labels":
                assert tensor.shape == (1,) and tensor.dtype == torch.int64 and 0 <= int(tensor) <= k
            elif kind in allowed_json:
                doc = json.loads(bytes(tensor.tolist()).decode())
                assert set(doc) == allowed_json[kind]
            else:
                assert kind.endswith(":length") and tensor.shape == (1,)
        first = {kind: tensor for kind, tensor, _ in reversed(sent)}  # the first of each kind
        assert first["representation"].shape[1] == b
        torch.testing.assert_close(first["representation"], message[node.rows].detach(), rtol=0, atol=1e-6)
        if model.global_attention:
            torch.testing.assert_close(first["attention_grad"], mixed.grad[node.rows], rtol=1e-5, atol=1e-9)
        else:
            ga_grads.append(first["attention_grad"])
    if ga_grads:  # each node's share of the shared representation's gradient; they add up to it
        torch.testing.assert_close(sum(ga_grads), mixed.grad, rtol=1e-5, atol=1e-9)
    # what crossed the wire is in the record, per node and epoch
    per_node = fields["federated"]["per_node"]
    assert set(per_node) == {"1", "2", "3"}
    n1 = per_node["1"]  # 2 tasks
    if model.global_attention and steps == t:
        expected = 2 * b * t * (hidden + 1) * 4 + 8  # B*T*(H+1) floats per task each way, one int64 count
        assert n1["step_bytes_sent"] == n1["step_bytes_received"] == expected
    elif not model.global_attention:
        assert n1["step_bytes_received"] == 2 * b * t * hidden * 4 + 8 + b * t * k_all * hidden * 4
    assert n1["epoch_bytes_sent"][0] >= 3 * n1["step_bytes_sent"]


def test_scores_from_node_parts_equal_scores_for_all_tasks():
    g = torch.Generator().manual_seed(0)
    k, n, m = 5, 40, 3
    groups = split_tasks(k, 3)
    for task_type, protocol, average in [("classification", "corrected", "macro"),
                                         ("classification", "paper", "pooled"),
                                         ("regression", "corrected", "macro"), ("regression", "paper", "macro")]:
        problem = ProblemSpec(dataset="x", task_type=task_type, protocol=protocol, num_tasks=k, window=4,
                              input_dim=2, num_targets=m, task_names=tuple(f"t{i}" for i in range(k)),
                              target_names=tuple(f"y{j}" for j in range(m)), classification_average=average)
        values = torch.rand(k, n, m, generator=g)
        y = torch.rand(k, n, m, generator=g)
        if task_type == "classification":
            y = (y > 0.6).float()
        mask = torch.rand(k, n, m, generator=g) > 0.2
        mask[1, :, 0] = False  # a task-target with nothing to score
        names = problem.task_names
        parts = [task_scores(problem, [names[r] for r in rows], values[rows], y[rows], mask[rows]) for rows in groups]
        parts = json.loads(json.dumps(parts))  # as they cross the wire
        combined, expected = combine_scores(problem, parts), scores_for(problem, values, y, mask)
        assert list(combined) == list(expected)
        for key, value in expected.items():
            if isinstance(value, float):
                assert combined[key] == pytest.approx(value, rel=1e-12, abs=1e-12, nan_ok=True), key
            else:
                assert combined[key] == value, key


def test_a_node_started_for_another_run_is_named():
    run = plan(["synthetic"], ["fathom"], [0], ["corrected"], max_epochs=1, limit_train_batches=1)[0]
    other = plan(["synthetic"], ["fathom"], [1], ["corrected"], max_epochs=1, limit_train_batches=1)[0]
    from fathom_bench.federated.central import Central
    from fathom_bench.federated.session import Node
    from fathom_bench.federated.transport import InProcessHub
    import threading

    hub = InProcessHub(3, timeout=5)
    errors = []

    def node(r, spec):
        try:
            Node(spec, r, 2, hub.transport(r)).main()
        except FederationError as exc:
            errors.append(str(exc))

    threads = [threading.Thread(target=node, args=(1, run)), threading.Thread(target=node, args=(2, other))]
    for th in threads:
        th.start()
    with pytest.raises(FederationError, match="node 2: its run differs"):
        Central(run, 2, hub.transport(0)).main()
    for th in threads:
        th.join(10)
    assert len(errors) == 2 and all("node 2" in e for e in errors)


def test_ranks_and_methods_are_checked_before_anything_starts(monkeypatch):
    monkeypatch.delenv("RANK", raising=False)
    assert rank_from_env(3) is None
    monkeypatch.setenv("RANK", "4")
    with pytest.raises(BadInput, match="mismatched ranks: RANK=4"):
        rank_from_env(3)
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("WORLD_SIZE", "3")
    with pytest.raises(BadInput, match="mismatched ranks: WORLD_SIZE=3"):
        rank_from_env(3)
    monkeypatch.delenv("RANK")
    monkeypatch.delenv("WORLD_SIZE")
    runs = plan(["synthetic"], ["fathom", "m_lstm"], [0], ["corrected"], max_epochs=1)
    with pytest.raises(BadInput, match="method m_lstm has no federated deployment"):
        federated_runs(runs, 2, 10)
    kept, train = federated_runs(runs, 2, 10, keep_others=True)
    assert [r.method.key for r in kept] == ["fathom"] and kept[0].config()["federated"] == {"nodes": 2}
    assert kept[0].config_hash() != runs[0].config_hash()


def test_cli_refuses_other_methods_with_one_line(capsys):
    from fathom_bench.cli import main

    assert main(["train", "--dataset", "synthetic", "--method", "lr", "--federated", "2"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "method lr has no federated deployment" in err[0]


class _Logger:
    def __init__(self):
        self.rows = []

    def log_metrics(self, metrics, step=None):
        self.rows.append((step, dict(metrics)))


def test_the_federated_figures_go_to_the_logger_every_epoch():
    run = plan(["synthetic"], ["fathom"], [0], ["corrected"], max_epochs=2, limit_train_batches=2)[0]
    from fathom_bench.federated.central import Central
    from fathom_bench.federated.session import Node
    from fathom_bench.federated.transport import InProcessHub
    import threading

    hub, logger = InProcessHub(3, timeout=10), _Logger()
    threads = [threading.Thread(target=Node(run, r, 2, hub.transport(r)).main) for r in (1, 2)]
    for th in threads:
        th.start()
    fields = Central(run, 2, hub.transport(0), logger).main()
    for th in threads:
        th.join(10)
    assert [step for step, _ in logger.rows] == [0, 1]
    row = logger.rows[0][1]
    for r in (1, 2):
        for key in ("bytes_sent", "bytes_received", "step_bytes_sent", "step_seconds", "step_comm_seconds"):
            assert f"federated/nodes/{r}/{key}" in row
    assert row["federated/nodes/1/bytes_sent"] == fields["federated"]["per_node"]["1"]["epoch_bytes_sent"][0]
    assert "val/loss" in row and "val/mae" in row


def test_a_node_that_stops_answering_is_named_after_the_timeout():
    from fathom_bench.federated.central import Central
    from fathom_bench.federated.transport import InProcessHub, PeerLost

    run = plan(["synthetic"], ["fathom"], [0], ["corrected"], max_epochs=1)[0]
    with pytest.raises(PeerLost, match="rank 1: sent nothing for 0.2 s"):
        Central(run, 2, InProcessHub(3, timeout=0.2).transport(0)).main()


def test_federated_refuses_summed_task_losses(capsys):
    """Under `paper` FATHOM sums the task losses as Keras does; the nodes' loss shares assume a mean."""
    from fathom_bench.cli import main

    assert main(["train", "--dataset", "synthetic", "--method", "fathom", "--protocol", "paper",
                 "--federated", "3", "--wandb", "disabled", "--no-progress"]) == 2
    assert "sums the task losses" in capsys.readouterr().err
