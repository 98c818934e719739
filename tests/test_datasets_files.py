"""Dataset files: registry, verification, downloads, and each loader's checks, on small generated files.

Every bad input must give BadInput with a one-line message naming the file, column or option.
Nothing here reads the real data or the network: downloads are served from 127.0.0.1.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import http.server
import io
import os
import socket
import threading
import zipfile
from pathlib import Path

import numpy as np
import pytest

from fathom_bench.datasets import files
from fathom_bench.datasets.datamodule import BenchDataModule
from fathom_bench.datasets.spec import load_dataset_spec
from fathom_bench.errors import BadInput


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    """Verification and parsed-array caches in tmp, never the user's; no proxy for 127.0.0.1."""
    monkeypatch.setenv("FATHOM_BENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def one_line(exc: pytest.ExceptionInfo) -> str:
    msg = str(exc.value)
    assert "\n" not in msg and msg.strip() == msg
    return msg


def closed_port_url() -> str:
    """An http URL on 127.0.0.1 where nothing listens: every request is refused at once."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def write(path: Path, text: str, gz: bool = False) -> bytes:
    data = text.encode()
    if gz:
        with gzip.open(path, "wb") as fh:
            fh.write(data)
    else:
        path.write_bytes(data)
    return data


# ------------------------------------------------------------------------------------------
# fake files, built by code


def fitrec_csv(uid: int, n: int, seed: int = 0, sports=("run", "bike")) -> str:
    rng = np.random.default_rng(seed + uid)
    cols = ["altitude", "derived_speed", "distance", "gender", "heart_rate", "id", "latitude", "longitude",
            "since_begin", "since_last", "sport", "time_elapsed", "timestamp", "userId", "tar_derived_speed",
            "tar_heart_rate"]
    ts = 1_400_000_000 + rng.permutation(n) * 10  # not in time order: the loader sorts
    lines = [",".join(cols)]
    for i in range(n):
        hr = 100 + i % 50
        sp = 10 + (i % 7)
        lines.append(",".join(str(v) for v in [
            round(rng.normal(), 4), (sp - 12) / 3, round(rng.normal(), 4), "male" if uid % 2 else "female",
            (hr - 120) / 20, 1000 + i // 10, 40 + rng.normal() * 0.01, -4 + rng.normal() * 0.01,
            rng.normal(), rng.normal(), sports[i % len(sports)], rng.normal(), ts[i], uid, sp, hr]))
    return "\n".join(lines) + "\n"


def make_fitrec(folder: Path, rows: dict[int, int], gz: bool = True) -> dict[str, str]:
    """user<id>.csv(.gz) files; returns the registry {user<id>.csv: sha of the csv}."""
    folder.mkdir(parents=True, exist_ok=True)
    reg = {}
    for uid, n in rows.items():
        name = f"user{uid}.csv"
        data = write(folder / (name + (".gz" if gz else "")), fitrec_csv(uid, n), gz=gz)
        reg[name] = sha(data)
    return reg


def fitrec_spec(reg: dict, tasks: int = 2, **kw):
    return load_dataset_spec("fitrec", **{"checksums": reg, "tasks": tasks, "sources": [], **kw})


ES_FEATURES = ["raw_acc:mean", "raw_acc:std", "audio:mfcc0", "discrete:battery"]
ES_LABELS = ["label:SITTING", "label:WALKING", "label:AT_HOME"]


def extrasensory_csv(n: int, seed: int = 0, bad_label: bool = False) -> str:
    rng = np.random.default_rng(seed)
    lines = [",".join(["timestamp", *ES_FEATURES, *ES_LABELS, "label_source"])]
    for i in range(n):
        feats = ["" if rng.random() < 0.1 else f"{rng.normal():.5f}" for _ in ES_FEATURES]
        labels = ["" if rng.random() < 0.3 else str(float(rng.integers(0, 2))) for _ in ES_LABELS]
        if bad_label and i == 5:
            labels[1] = "2.0"
        lines.append(",".join([str(1_440_000_000 + 60 * i), *feats, *labels, "2"]))
    return "\n".join(lines) + "\n"


def make_extrasensory(folder: Path, rows: dict[str, int], bad_label: bool = False) -> dict[str, str]:
    """Gzipped files as published; the registry holds the hash of the .gz bytes, like the real one."""
    folder.mkdir(parents=True, exist_ok=True)
    reg = {}
    for i, (uuid, n) in enumerate(rows.items()):
        name = f"{uuid}.features_labels.csv.gz"
        write(folder / name, extrasensory_csv(n, seed=i, bad_label=bad_label), gz=True)
        reg[name] = sha((folder / name).read_bytes())
    return reg


def extrasensory_spec(reg: dict, **kw):
    opts = dict(checksums=reg, sources=[], min_rows=40, rows=40, min_tasks=2, features=4, labels=3)
    opts.update(kw)
    return load_dataset_spec("extrasensory", **opts)


BJ_COLUMNS = ["No", "year", "month", "day", "hour", "PM2.5", "PM10", "SO2", "NO2", "CO", "O3", "TEMP", "PRES",
              "DEWP", "RAIN", "wd", "WSPM", "station"]


def beijing_csv(station: str, n: int, start_hour: int = 0, wd=None, bad: dict | None = None) -> str:
    lines = [",".join(f'"{c}"' for c in BJ_COLUMNS)]
    for i in range(n):
        h = start_hour + i
        day, hour = 1 + h // 24, h % 24
        row = [str(i + 1), "2016", "3", str(day), str(hour), str(10 + i), str(20 + i), "NA" if i == 3 else "5",
               str(30 + i), str(1000 + 100 * (i % 5)), str(50), "1.5", "1020", "-5", "0",
               f'"{wd[i]}"' if wd else ('NA' if i == 2 else '"NNE"'), "2.1", f'"{station}"']
        if bad and i == bad["row"]:
            row[BJ_COLUMNS.index(bad["column"])] = bad["value"]
        lines.append(",".join(row))
    return "\n".join(lines) + "\n"


def make_beijing(folder: Path, stations: list[str], n: int = 60, **kw) -> dict[str, str]:
    folder.mkdir(parents=True, exist_ok=True)
    reg = {}
    for s in stations:
        name = f"PRSA_Data_{s}_20130301-20170228.csv"
        reg[name] = sha(write(folder / (name + ".gz"), beijing_csv(s, n, **kw.get(s, {})), gz=True))
    return reg


def beijing_spec(reg: dict, stations: list[str], rows: int = 50):
    return load_dataset_spec("beijing_air_quality", checksums=reg, sources=[], stations=stations, rows=rows)


# ------------------------------------------------------------------------------------------
# registry, find_file, verify


def test_packaged_registries_match_the_datasets():
    for name, count in (("extrasensory", 30), ("beijing_air_quality", 12), ("fitrec", 40)):
        reg = files.registry(name)
        assert len(reg) == count and all(len(v) == 64 for v in reg.values())
    assert all(n.endswith(".csv.gz") for n in files.registry("extrasensory"))
    assert all(n.endswith(".csv") for n in files.registry("fitrec"))


def test_unknown_dataset_name():
    with pytest.raises(BadInput) as exc:
        load_dataset_spec("nosuchdata")
    assert "nosuchdata" in one_line(exc)
    with pytest.raises(BadInput) as exc:
        files.download("nosuchdata", "/tmp")
    assert "nosuchdata" in one_line(exc)
    with pytest.raises(BadInput) as exc:  # generated, nothing to fetch
        files.download("synthetic", "/tmp")
    assert "synthetic" in one_line(exc)


def test_find_file_accepts_plain_and_gz(tmp_path):
    (tmp_path / "a.csv").write_text("x\n")
    write(tmp_path / "b.csv.gz", "x\n", gz=True)
    assert files.find_file(tmp_path, "a.csv") == tmp_path / "a.csv"
    assert files.find_file(tmp_path, "b.csv") == tmp_path / "b.csv.gz"
    assert files.find_file(tmp_path, "c.csv") is None


def test_verify_plain_gz_content_and_gz_bytes(tmp_path):
    data = write(tmp_path / "a.csv.gz", "a,b\n1,2\n", gz=True)
    files.verify(tmp_path / "a.csv.gz", sha(data))  # hash of the decompressed content
    files.verify(tmp_path / "a.csv.gz", sha((tmp_path / "a.csv.gz").read_bytes()))  # hash of the bytes
    (tmp_path / "p.csv").write_bytes(data)
    files.verify(tmp_path / "p.csv", sha(data))


def test_checksum_mismatch_names_file_hashes_and_fix(tmp_path):
    data = write(tmp_path / "user1.csv.gz", "a,b\n1,2\n", gz=True)
    write(tmp_path / "user1.csv.gz", "a,b\n1,3\n", gz=True)
    with pytest.raises(BadInput) as exc:
        files.verify(tmp_path / "user1.csv.gz", sha(data))
    msg = one_line(exc)
    assert "user1.csv.gz" in msg and "mismatch" in msg
    assert sha(data)[:12] in msg and sha(b"a,b\n1,3\n")[:12] in msg
    assert "download" in msg


def test_truncated_gzip(tmp_path):
    text = "".join(f"{i},{i * 2}\n" for i in range(5000))
    write(tmp_path / "big.csv.gz", text, gz=True)
    raw = (tmp_path / "big.csv.gz").read_bytes()
    (tmp_path / "big.csv.gz").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(BadInput) as exc:
        files.verify(tmp_path / "big.csv.gz", sha(text.encode()))
    msg = one_line(exc)
    assert "big.csv.gz" in msg and "truncated" in msg and sha(text.encode())[:12] in msg


def test_verification_is_cached_outside_the_data_folder(tmp_path, monkeypatch):
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    data = write(data_dir / "a.csv", "a\n1\n")
    files.verify(data_dir / "a.csv", sha(data))
    assert (tmp_path / "cache" / files._VERIFIED_FILE).is_file()
    assert sorted(p.name for p in data_dir.iterdir()) == ["a.csv"]

    def no_hashing(path):
        raise AssertionError("re-hashed a verified file")

    monkeypatch.setattr(files, "_sha256_bytes", no_hashing)
    files.verify(data_dir / "a.csv", sha(data))  # from the cache
    os.utime(data_dir / "a.csv", ns=(1, 1))  # a touched file is hashed again
    with pytest.raises(AssertionError):
        files.verify(data_dir / "a.csv", sha(data))


# ------------------------------------------------------------------------------------------
# missing files and downloads


def test_missing_folder_without_download(tmp_path):
    reg = {"user1.csv": "0" * 64}
    spec = fitrec_spec(reg, allow_download=False)
    with pytest.raises(BadInput) as exc:
        files.ensure_files(spec, tmp_path / "nowhere")
    msg = one_line(exc)
    assert str(tmp_path / "nowhere") in msg and "does not exist" in msg and "datasets download fitrec" in msg


def test_missing_files_offline_name_files_url_and_folder(tmp_path):
    reg = {f"user{i}.csv": "0" * 64 for i in range(7)}
    url = closed_port_url() + "/data/{name}"
    spec = load_dataset_spec("fitrec", checksums=reg, sources=[{"url": url}])
    folder = tmp_path / "fitrec"
    with pytest.raises(BadInput) as exc:
        files.ensure_files(spec, folder)
    msg = one_line(exc)
    assert "7 of 7 files missing" in msg and "user0.csv" in msg and "and 4 more" in msg
    assert url in msg and str(folder) in msg
    with pytest.raises(BadInput) as exc:  # through the loader as well
        spec.load_function()(spec, folder)
    assert "7 of 7 files missing" in one_line(exc)


def test_missing_folder_through_the_data_module(tmp_path):
    spec = load_dataset_spec("fitrec", sources=[{"url": closed_port_url() + "/{name}"}])
    dm = BenchDataModule(spec, data_dir=tmp_path / "home")
    with pytest.raises(BadInput) as exc:
        dm.setup()
    assert "40 of 40 files missing" in one_line(exc)


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def local_server(tmp_path):
    """An HTTP server on 127.0.0.1 serving tmp_path/served; yields its base URL."""
    root = tmp_path / "served"
    root.mkdir()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", root
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def test_download_per_file_and_verify(tmp_path, local_server):
    base, root = local_server
    reg = make_fitrec(root / "data", {11: 80, 12: 70, 13: 60}, gz=False)
    spec = fitrec_spec(reg, sources=[{"url": closed_port_url() + "/{name}"}, {"url": base + "/data/{name}"}])
    folder = tmp_path / "home" / "fitrec"
    found = files.ensure_files(spec, folder)
    assert sorted(p.name for p in found.values()) == sorted(reg)
    assert all((folder / n).read_bytes() == (root / "data" / n).read_bytes() for n in reg)
    raw = spec.load_function()(spec, folder)
    assert [t.name for t in raw.tasks] == ["user11", "user12"]


def test_download_from_nested_zip_archive(tmp_path, local_server):
    base, root = local_server
    src = tmp_path / "src"
    reg = make_beijing(src, ["A", "B"], n=60)
    inner = io.BytesIO()
    with zipfile.ZipFile(inner, "w") as z:
        for name in reg:
            z.writestr(f"PRSA_Data_20130301-20170228/{name}", gzip.decompress((src / (name + ".gz")).read_bytes()))
    with zipfile.ZipFile(root / "outer.zip", "w") as z:
        z.writestr("PRSA2017_Data_20130301-20170228.zip", inner.getvalue())
    spec = load_dataset_spec("beijing_air_quality", checksums=reg, stations=["A", "B"], rows=50,
                             sources=[{"archive": base + "/outer.zip"}])
    path = files.download(spec, tmp_path / "home")
    assert path == (tmp_path / "home" / "beijing_air_quality").resolve()
    assert sorted(p.name for p in path.iterdir()) == sorted(reg)
    raw = spec.load_function()(spec, path)
    assert [t.name for t in raw.tasks] == ["A", "B"]


def test_bad_download_is_deleted(tmp_path, local_server):
    base, root = local_server
    (root / "user1.csv").write_text("not what was registered\n")
    spec = fitrec_spec({"user1.csv": "1" * 64}, tasks=1, sources=[{"url": base + "/{name}"}])
    folder = tmp_path / "fitrec"
    with pytest.raises(BadInput) as exc:
        files.ensure_files(spec, folder)
    msg = one_line(exc)
    assert "mismatch" in msg and base in msg
    assert not (folder / "user1.csv").exists()


def test_http_error_is_bad_input(tmp_path, local_server):
    base, _ = local_server
    spec = fitrec_spec({"user1.csv": "1" * 64}, tasks=1, sources=[{"url": base + "/missing/{name}"}])
    with pytest.raises(BadInput) as exc:
        files.ensure_files(spec, tmp_path / "fitrec")
    assert "404" in one_line(exc)


# ------------------------------------------------------------------------------------------
# FitRec loader


def test_fitrec_loads_fake_files(tmp_path):
    reg = make_fitrec(tmp_path, {5: 60, 3: 80, 4: 60, 9: 30})
    raw = fitrec_spec(reg, tasks=3).load_function()(fitrec_spec(reg, tasks=3), tmp_path)
    # the 3 users with most rows, ties broken by the smaller id, listed by id
    assert [t.name for t in raw.tasks] == ["user3", "user4", "user5"]
    assert raw.target_names == ["tar_heart_rate", "tar_derived_speed"]
    leaks = {"heart_rate", "derived_speed", "id", "userId", "timestamp"}
    assert not leaks & set(raw.feature_names)
    assert len(raw.paper_feature_names) == 10 and {"heart_rate", "timestamp"} <= set(raw.paper_feature_names)
    t = raw.tasks[0]
    assert t.features.dtype == np.float32 and t.features.shape == (80, 9) and t.paper_features.shape == (80, 10)
    ts = t.paper_features[:, raw.paper_feature_names.index("timestamp")]
    assert ts[0] == 0 and np.all(np.diff(ts) >= 0)  # sorted by timestamp, relative to the first
    sport = t.features[:, raw.feature_names.index("sport")]
    assert set(np.unique(sport)) == {0.0, 4.0}  # bike, run in the config's category list
    assert raw.notes["users_excluded_rows"] == {"user9": 30}


def test_fitrec_too_few_users(tmp_path):
    reg = make_fitrec(tmp_path, {1: 60, 2: 60})
    spec = fitrec_spec(reg, tasks=3)
    with pytest.raises(BadInput) as exc:
        spec.load_function()(spec, tmp_path)
    msg = one_line(exc)
    assert "2 user files" in msg and "at least 3" in msg and str(tmp_path) in msg


def test_renamed_column(tmp_path):
    text = fitrec_csv(1, 40).replace("heart_rate,id", "heartrate,id", 1)
    reg = {"user1.csv": sha(write(tmp_path / "user1.csv", text))}
    spec = fitrec_spec(reg, tasks=1)
    with pytest.raises(BadInput) as exc:
        spec.load_function()(spec, tmp_path)
    msg = one_line(exc)
    assert "user1.csv" in msg and "'heart_rate'" in msg and "heartrate" in msg


def test_non_numeric_cell(tmp_path):
    lines = fitrec_csv(1, 40).splitlines()
    cells = lines[4].split(",")
    cells[0] = "abc"  # altitude of data row 4
    lines[4] = ",".join(cells)
    reg = {"user1.csv": sha(write(tmp_path / "user1.csv", "\n".join(lines) + "\n"))}
    spec = fitrec_spec(reg, tasks=1)
    with pytest.raises(BadInput) as exc:
        spec.load_function()(spec, tmp_path)
    msg = one_line(exc)
    assert "user1.csv" in msg and "'altitude'" in msg and "'abc'" in msg and "row 4" in msg


def test_unknown_category(tmp_path):
    reg = {"user1.csv": sha(write(tmp_path / "user1.csv", fitrec_csv(1, 40, sports=("run", "curling"))))}
    spec = fitrec_spec(reg, tasks=1)
    with pytest.raises(BadInput) as exc:
        spec.load_function()(spec, tmp_path)
    msg = one_line(exc)
    assert "'sport'" in msg and "curling" in msg and "categories" in msg


def test_task_shorter_than_the_window(tmp_path):
    reg = make_fitrec(tmp_path, {1: 200, 2: 12})
    spec = fitrec_spec(reg, tasks=2)
    dm = BenchDataModule(spec, data_dir=None, raw=spec.load_function()(spec, tmp_path))
    with pytest.raises(BadInput) as exc:
        dm.setup()
    msg = one_line(exc)
    assert "user2" in msg and "12 rows" in msg and "window (10)" in msg


def test_parsed_cache_is_reused(tmp_path, monkeypatch):
    from fathom_bench.datasets import fitrec

    reg = make_fitrec(tmp_path / "d", {1: 60, 2: 70})
    spec = fitrec_spec(reg)
    first = fitrec.load(spec, tmp_path / "d")
    assert list((tmp_path / "cache" / "parsed").glob("fitrec-*.npz"))
    monkeypatch.setattr(fitrec, "parse", lambda *a: (_ for _ in ()).throw(AssertionError("parsed again")))
    second = fitrec.load(spec, tmp_path / "d")
    assert second.feature_names == first.feature_names and second.paper_feature_names == first.paper_feature_names
    for a, b in zip(first.tasks, second.tasks):
        assert a.name == b.name
        np.testing.assert_array_equal(a.features, b.features)
        np.testing.assert_array_equal(a.targets, b.targets)
        np.testing.assert_array_equal(a.paper_features, b.paper_features)
    with pytest.raises(AssertionError):  # other options: parsed again
        fitrec.load(fitrec_spec(reg, tasks=1), tmp_path / "d")


# ------------------------------------------------------------------------------------------
# ExtraSensory loader


def test_extrasensory_loads_fake_files(tmp_path):
    uuids = {"AAAA1111-0000": 50, "AAAA2222-0000": 45, "BBBB0000-0000": 30}
    reg = make_extrasensory(tmp_path, uuids)
    spec = extrasensory_spec(reg, task_name_length=4)
    raw = spec.load_function()(spec, tmp_path)
    assert [t.name for t in raw.tasks] == ["AAAA1", "AAAA2"]  # unique prefixes; the 30-row user excluded
    assert raw.feature_names == ES_FEATURES and raw.target_names == ES_LABELS
    assert all(t.features.shape == (40, 4) and t.targets.shape == (40, 3) for t in raw.tasks)
    y = raw.tasks[0].targets
    assert np.isnan(y).any() and set(np.unique(y[~np.isnan(y)])) <= {0.0, 1.0}  # unknown stays NaN
    assert raw.notes["users_excluded_rows"] == {"BBBB0000-0000": 30}


def test_extrasensory_too_few_users(tmp_path):
    reg = make_extrasensory(tmp_path, {"A-1": 50, "B-2": 20, "C-3": 39})
    spec = extrasensory_spec(reg, min_tasks=2)
    with pytest.raises(BadInput) as exc:
        spec.load_function()(spec, tmp_path)
    msg = one_line(exc)
    assert "1 users with at least 40 rows" in msg and "at least 2" in msg and str(tmp_path) in msg


def test_extrasensory_bad_label_value(tmp_path):
    reg = make_extrasensory(tmp_path, {"A-1": 50, "B-2": 50}, bad_label=True)
    spec = extrasensory_spec(reg)
    with pytest.raises(BadInput) as exc:
        spec.load_function()(spec, tmp_path)
    msg = one_line(exc)
    assert "label:WALKING" in msg and "row 6" in msg


def test_extrasensory_column_count_and_missing_column(tmp_path):
    reg = make_extrasensory(tmp_path, {"A-1": 50, "B-2": 50})
    with pytest.raises(BadInput) as exc:
        extrasensory_spec(reg, features=225).load_function()(extrasensory_spec(reg, features=225), tmp_path)
    assert "4 feature columns" in one_line(exc) and "225" in str(exc.value)
    # the second file lost a label column
    text = extrasensory_csv(50).replace("label:AT_HOME", "label:AT_HOMEX")
    write(tmp_path / "B-2.features_labels.csv.gz", text, gz=True)
    reg["B-2.features_labels.csv.gz"] = sha((tmp_path / "B-2.features_labels.csv.gz").read_bytes())
    spec = extrasensory_spec(reg)
    with pytest.raises(BadInput) as exc:
        spec.load_function()(spec, tmp_path)
    msg = one_line(exc)
    assert "B-2.features_labels.csv.gz" in msg and "'label:AT_HOME'" in msg


def test_extrasensory_truncated_file_through_loader(tmp_path):
    reg = make_extrasensory(tmp_path, {"A-1": 50, "B-2": 50})
    path = tmp_path / "B-2.features_labels.csv.gz"
    path.write_bytes(path.read_bytes()[:-40])
    spec = extrasensory_spec(reg)
    with pytest.raises(BadInput) as exc:
        spec.load_function()(spec, tmp_path)
    msg = one_line(exc)
    assert "B-2.features_labels.csv.gz" in msg and ("truncated" in msg or "mismatch" in msg)


# ------------------------------------------------------------------------------------------
# Beijing loader


def test_beijing_loads_fake_files(tmp_path):
    reg = make_beijing(tmp_path, ["A", "B"], n=60)
    spec = beijing_spec(reg, ["A", "B"], rows=50)
    raw = spec.load_function()(spec, tmp_path)
    assert [t.name for t in raw.tasks] == ["A", "B"]
    assert raw.target_names == ["PM2.5", "PM10", "NO2", "CO", "O3", "SO2"]
    assert raw.feature_names == ["TEMP", "PRES", "DEWP", "RAIN", "WSPM", "wd_sin", "wd_cos"]
    t = raw.tasks[0]
    assert t.features.shape == (50, 7) and t.targets.shape == (50, 6)
    np.testing.assert_allclose(t.targets[:, 0], 10 + np.arange(10, 60))  # the last 50 rows
    co = t.targets[:, 3]
    np.testing.assert_allclose(co, (1000 + 100 * (np.arange(10, 60) % 5)) / 1000, rtol=1e-6)  # mg/m3
    np.testing.assert_allclose(t.features[:, 5:], [[np.sin(np.pi / 8), np.cos(np.pi / 8)]] * 50, rtol=1e-6)


def test_beijing_missing_wind_stays_missing_and_na_is_nan(tmp_path):
    reg = make_beijing(tmp_path, ["A", "B"], n=60)
    spec = beijing_spec(reg, ["A", "B"], rows=60)
    t = spec.load_function()(spec, tmp_path).tasks[0]
    assert np.isnan(t.features[2, 5:]).all() and not np.isnan(t.features[3, 5:]).any()
    assert np.isnan(t.targets[3, 5])  # SO2 NA


def test_beijing_unknown_wind_direction(tmp_path):
    reg = make_beijing(tmp_path, ["A"], n=60, A={"bad": {"row": 55, "column": "wd", "value": '"XYZ"'}})
    spec = beijing_spec(reg, ["A"])
    with pytest.raises(BadInput) as exc:
        spec.load_function()(spec, tmp_path)
    msg = one_line(exc)
    assert "'wd'" in msg and "XYZ" in msg and "PRSA_Data_A" in msg


def test_beijing_stations_not_aligned(tmp_path):
    reg = make_beijing(tmp_path, ["A", "B"], n=60, B={"start_hour": 1})
    spec = beijing_spec(reg, ["A", "B"])
    with pytest.raises(BadInput) as exc:
        spec.load_function()(spec, tmp_path)
    msg = one_line(exc)
    assert "time-aligned" in msg and "PRSA_Data_B" in msg


def test_beijing_station_too_short_and_non_numeric(tmp_path):
    reg = make_beijing(tmp_path, ["A"], n=60)
    spec = beijing_spec(reg, ["A"], rows=100)
    with pytest.raises(BadInput) as exc:
        spec.load_function()(spec, tmp_path)
    assert "60 rows" in one_line(exc) and "100" in str(exc.value)
    reg = make_beijing(tmp_path, ["A"], n=60, A={"bad": {"row": 7, "column": "TEMP", "value": "warm"}})
    with pytest.raises(BadInput) as exc:
        beijing_spec(reg, ["A"]).load_function()(beijing_spec(reg, ["A"]), tmp_path)
    msg = one_line(exc)
    assert "'TEMP'" in msg and "'warm'" in msg and "row 8" in msg


# ------------------------------------------------------------------------------------------
# status report


def test_status_rows_missing_and_bad(tmp_path):
    from fathom_bench.datasets.report import status_rows, status_table

    (tmp_path / "fitrec").mkdir()
    (tmp_path / "fitrec" / "user1066105.csv").write_text("junk\n")
    rows = {r["dataset"]: r for r in status_rows(tmp_path)}
    assert set(rows) == {"extrasensory", "beijing_air_quality", "fitrec"}
    assert rows["extrasensory"]["status"] == "missing" and rows["extrasensory"]["files"] == "0/30"
    assert rows["fitrec"]["status"] == "incomplete" and rows["fitrec"]["files"] == "0/40"
    assert rows["fitrec"]["files_present"] == 1 and rows["fitrec"]["files_verified"] == 0
    assert "user1066105.csv" in rows["fitrec"]["message"]
    table = status_table(tmp_path)
    assert "beijing_air_quality" in table and "missing" in table
