"""The command line: bad input gives one line and exit 2; discovery of methods; `train`; `datasets`."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from fathom_bench.cli import main
from fathom_bench.methods import discover_methods, get_method

REPO = Path(__file__).resolve().parents[1]
TABLE = str(Path(__file__).parent / "fixtures" / "table_synthetic.yaml")


@pytest.mark.parametrize("argv, needle", [
    (["reproduce", "--table", TABLE, "--methods", "nosuchmethod"], "unknown method 'nosuchmethod'"),
    (["reproduce", "--table", TABLE, "--datasets", "nosuchdata"], "unknown dataset 'nosuchdata'"),
    (["reproduce", "--table", TABLE, "--protocol", "neither"], "--protocol"),
    (["reproduce", "--table", TABLE, "--wandb", "sometimes"], "--wandb"),
    (["reproduce", "--table", TABLE, "--seeds", "0"], "--seeds"),
    (["reproduce", "--table", TABLE, "--seeds", "two"], "--seeds"),
    (["reproduce", "--table", TABLE, "--deadline", "25:00"], "--deadline"),
    (["reproduce", "--table", TABLE, "--deadline", "soon"], "--deadline"),
    (["reproduce", "--table", "/nonexistent/table.yaml"], "table.yaml"),
    (["reproduce", "--bogus-flag"], "--bogus-flag"),
    (["train", "--dataset", "synthetic"], "--method"),
    (["check", "--results", "/nonexistent", "--reference", "/nonexistent/ref.json"], "nonexistent"),
    (["leaderboard", "--results", "/nonexistent"], "/nonexistent"),
    (["nosuchcommand"], "nosuchcommand"),
])
def test_bad_input_one_line_exit_2(argv, needle, capsys, tmp_path):
    assert main([*argv, "--out", str(tmp_path)] if argv[0] == "reproduce" and "--bogus-flag" not in argv else argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert err.startswith("error: ") and needle in err
    assert "Traceback" not in err


def test_bad_input_through_the_real_entry_point_has_no_traceback():
    proc = subprocess.run([sys.executable, "-m", "fathom_bench", "reproduce", "--methods", "nope", "--wandb",
                           "disabled"], cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "unknown method" in proc.stderr


def test_methods_lists_every_config(capsys):
    assert main(["methods"]) == 0
    out = capsys.readouterr().out
    for key in ("fathom", "fathom_ga", "fathom_ta", "lr", "mlp", "crnn", "m_att", "s_lstm", "m_lstm",
                "persistence", "transformer"):
        assert key in discover_methods() and f"\n{key}" in "\n" + out


def test_method_from_an_installed_entry_point(tmp_path, monkeypatch):
    """A method living in another installed package is discovered through `fathom_bench.methods`."""
    pkg = tmp_path / "my_method_pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text(textwrap.dedent("""
        from fathom_bench.baselines.lr import LR

        class MyLR(LR):
            '''A renamed LR, standing in for a method that lives outside fathom_bench.'''

        def method():
            return {"name": "MyLR", "class": "my_method_pkg:MyLR", "paper": "Nobody, 2026", "hparams": {}}
    """))
    dist = tmp_path / "my_method_pkg-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: my-method-pkg\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[fathom_bench.methods]\nmy_lr = my_method_pkg:method\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    spec = get_method("my_lr")
    assert spec.name == "MyLR" and "entry point" in spec.source
    out = tmp_path / "out"
    assert main(["train", "--dataset", "synthetic", "--method", "my_lr", "--max-epochs", "1", "--out", str(out),
                 "--wandb", "disabled", "--no-progress"]) == 0
    assert list(out.glob("runs/corrected/synthetic/my_lr/seed=0.json"))


def test_train_one_run_prints_its_record(tmp_path, capsys):
    assert main(["train", "--dataset", "synthetic", "--method", "persistence", "--out", str(tmp_path),
                 "--wandb", "disabled", "--no-progress", "--protocol", "paper"]) == 0
    out = capsys.readouterr().out
    assert "seed=0.json: ok" in out and "'mae'" in out
