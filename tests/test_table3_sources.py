"""configs/tables/table3_sources.csv: one row per published cell of Table III, consistent with the paper's table."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from fathom_bench.errors import BadInput
from fathom_bench.sources import default_path, published_interval, read_sources, relation
from fathom_bench.tables import load_table_config, published_numbers


def test_one_row_per_published_cell_with_the_published_value():
    cfg = load_table_config("3")
    published = published_numbers(cfg)
    rows = read_sources()
    keys = {c["key"] for c in cfg["columns"]}
    assert len(rows) == 90 == len(published.index) * len(keys)
    assert {m for m, _ in rows} == set(published.index)
    assert {c for _, c in rows} == keys
    for (method, column), row in rows.items():
        assert float(row["published"]) == published.loc[method, column], (method, column)


def test_printed_text_equals_the_paper_csv():
    """Same digits as table3_paper.csv ("7.0" stays "7.0": the decimals decide the rounding test)."""
    path = Path(load_table_config("3")["_path"]).parent / "table3_paper.csv"
    paper = list(csv.reader(path.read_text().splitlines()))
    header, body = paper[0], paper[1:]
    rows = read_sources()
    for r in body:
        for col, text in zip(header[1:], r[1:]):
            assert rows[(r[0], col)]["published"] == text


def test_rounding_agrees_with_the_file_value():
    rows = read_sources()
    with_file = [r for r in rows.values() if r["file_value"] is not None]
    assert len(with_file) >= 40  # the Air Quality and FitRec columns are mostly in the authors' files
    for r in with_file:
        assert relation(r["published"], r["file_value"]) == r["rounding"]
        assert r["result_file"].startswith(("FATHOM_IJCNN/", "M-Att/"))
        assert published_interval(r) == (r["file_value"], r["file_value"])
    # both kinds occur: the paper neither only rounds nor only truncates
    kinds = {r["rounding"] for r in with_file}
    assert {"rounded", "truncated"} <= kinds
    for r in rows.values():
        if r["file_value"] is None:
            assert r["rounding"] == "assumed-rounded" and r["note"], (r["method"], r["column"])
            lo, hi = published_interval(r)
            assert lo < float(r["published"]) < hi


@pytest.mark.parametrize("printed, value, expected", [
    ("0.44", 0.4463, "truncated"), ("0.89", 0.8857, "rounded"), ("0.51", 0.5101, "equal"),
    ("4.0", 4.0049, "equal"), ("7.0", 6.9835, "rounded"), ("0.43", 0.4827, None)])
def test_relation(printed, value, expected):
    assert relation(printed, value) == expected


def test_an_inconsistent_row_is_one_clear_line(tmp_path):
    src = default_path().read_text().splitlines()
    bad = [ln.replace(",truncated,", ",rounded,", 1) if ",truncated," in ln else ln for ln in src]
    path = tmp_path / "s.csv"
    path.write_text("\n".join(bad) + "\n")
    with pytest.raises(BadInput, match=r"row \d+ .*rounding says rounded"):
        read_sources(path)
