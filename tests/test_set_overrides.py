"""`--set KEY=VALUE` hyperparameter overrides for train, reproduce and evaluate (synthetic data)."""

from __future__ import annotations

import pytest

from fathom_bench.cli import main
from fathom_bench.errors import BadInput
from fathom_bench.records import iter_runs
from fathom_bench.runner.overrides import parse_sets

TABLE = "tests/fixtures/table_synthetic.yaml"
COMMON = ["--wandb", "disabled", "--no-progress"]


def records(out) -> dict:
    return {(r.record["method"], r.record["seed"]): r.record for r in iter_runs(out)}


def test_values_are_read_as_yaml_scalars():
    assert parse_sets(["lr=0.01", "shared_from=lstm", "task_attention=false", "hidden=8"]) == {
        "lr": 0.01, "shared_from": "lstm", "task_attention": False, "hidden": 8}
    for bad in ("lr", "=3", "lr=", "lr=[1, 2]"):
        with pytest.raises(BadInput, match="--set"):
            parse_sets([bad])


def test_reproduce_set_enters_the_config_hash_of_the_methods_that_take_it(tmp_path, capsys):
    args = ["reproduce", "--table", TABLE, "--quick", "--methods", "lr", "m_lstm", "--seeds", "1",
            "--out", str(tmp_path), *COMMON]
    assert main(args) == 0
    before = records(tmp_path)
    assert main([*args, "--set", "hidden=8"]) == 0
    assert "1 reused" in capsys.readouterr().out  # LR takes no `hidden`: the same run
    after = records(tmp_path)
    assert after[("m_lstm", 0)]["config"]["method"]["hparams"]["hidden"] == 8
    assert after[("m_lstm", 0)]["config_hash"] != before[("m_lstm", 0)]["config_hash"]
    assert after[("lr", 0)]["config_hash"] == before[("lr", 0)]["config_hash"]
    assert after[("m_lstm", 0)]["num_parameters"] < before[("m_lstm", 0)]["num_parameters"]


def test_train_and_evaluate_take_set(tmp_path, capsys):
    assert main(["train", "--dataset", "synthetic", "--method", "persistence", "--set", "margin=5",
                 "--out", str(tmp_path / "t"), *COMMON]) == 0
    assert records(tmp_path / "t")[("persistence", 0)]["config"]["method"]["hparams"]["margin"] == 5
    stored = tmp_path / "e"
    assert main(["reproduce", "--table", TABLE, "--budget", "standard", "--methods", "persistence", "--seeds", "1",
                 "--out", str(stored), *COMMON]) == 0
    assert main(["evaluate", "--method", "lr", "--results", str(stored), "--set", "lr=0.01", "--wandb", "disabled",
                 "--no-progress"]) == 0
    assert records(stored)[("lr", 0)]["config"]["method"]["hparams"]["lr"] == 0.01


@pytest.mark.parametrize("command", [
    ["reproduce", "--table", TABLE, "--quick", "--methods", "lr", "m_lstm"],
    ["train", "--dataset", "synthetic", "--method", "lr"],
    ["evaluate", "--method", "lr", "--seeds", "1", "--datasets", "synthetic"],
])
def test_unknown_key_is_one_line_and_exit_2(command, tmp_path, capsys):
    out = ["--results", str(tmp_path)] if command[0] == "evaluate" else ["--out", str(tmp_path)]
    assert main([*command, "--set", "hiden=8", *out, "--wandb", "disabled"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--set: unknown hyperparameter 'hiden'" in err
    assert not list(tmp_path.rglob("*.json"))
