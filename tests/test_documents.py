"""Every config, record and reference file is read through one reader: a bad file is one BadInput line."""

from __future__ import annotations

import pytest

from fathom_bench.datasets.spec import load_dataset_spec
from fathom_bench.documents import read_document
from fathom_bench.errors import BadInput


@pytest.mark.parametrize("name, text, needle", [
    ("missing.yaml", None, "thing cannot be read"),
    ("bad.yaml", "name: [unclosed\n", "thing is not valid YAML"),
    ("list.yaml", "- a\n", "a thing must be a mapping"),
    ("bad.json", "{nope", "thing is not valid JSON"),
    ("list.json", "[1]", "a thing must be a JSON object"),
])
def test_bad_documents_give_one_line_naming_the_file(tmp_path, name, text, needle):
    path = tmp_path / name
    if text is not None:
        path.write_text(text)
    with pytest.raises(BadInput, match=needle) as exc:
        read_document(path, "thing")
    assert str(path) in str(exc.value) and "\n" not in str(exc.value)


def test_documents_read_as_mappings(tmp_path):
    (tmp_path / "a.yaml").write_text("k: 1\n")
    (tmp_path / "b.json").write_text('{"k": 2}')
    (tmp_path / "empty.yaml").write_text("")
    assert read_document(tmp_path / "a.yaml", "x") == {"k": 1}
    assert read_document(tmp_path / "b.json", "x") == {"k": 2}
    assert read_document(tmp_path / "empty.yaml", "x") == {}


def test_a_malformed_dataset_config_is_bad_input_not_a_traceback(tmp_path, monkeypatch):
    (tmp_path / "datasets").mkdir()
    (tmp_path / "datasets" / "broken.yaml").write_text("name: [unclosed\n")
    monkeypatch.setenv("FATHOM_BENCH_CONFIGS", str(tmp_path))
    with pytest.raises(BadInput, match="dataset config is not valid YAML"):
        load_dataset_spec("broken")
