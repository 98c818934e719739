"""Where the data home is: --data-dir, $FATHOM_BENCH_DATA, the checkout's datasets/, or a mirror beside it."""

from __future__ import annotations

from fathom_bench import paths


def _checkout(tmp_path, monkeypatch):
    root = tmp_path / "main"
    (root / "datasets" / "fitrec").mkdir(parents=True)
    (root / "datasets" / "fitrec" / "CARD.md").write_text("card")
    monkeypatch.setattr(paths, "checkout_root", lambda: root)
    monkeypatch.delenv("FATHOM_BENCH_DATA", raising=False)
    return root


def test_explicit_then_environment_win(tmp_path, monkeypatch):
    _checkout(tmp_path, monkeypatch)
    monkeypatch.setenv("FATHOM_BENCH_DATA", str(tmp_path / "env"))
    assert paths.data_dir(tmp_path / "cli") == (tmp_path / "cli").resolve()
    assert paths.data_dir() == (tmp_path / "env").resolve()


def test_checkout_datasets_with_only_cards_reads_the_mirror_beside_it(tmp_path, monkeypatch):
    root = _checkout(tmp_path, monkeypatch)
    assert paths.data_dir() == root / "datasets"  # no mirror: downloads go to datasets/
    mirror = tmp_path / "shared" / "datasets" / "fitrec"
    mirror.mkdir(parents=True)
    (mirror / "user1.csv.gz").write_bytes(b"x")
    assert paths.data_dir() == mirror.parent.resolve()
    (root / "datasets" / "fitrec" / "user1.csv").write_text("a,b\n")
    assert paths.data_dir() == root / "datasets"  # data of its own: the checkout's folder
