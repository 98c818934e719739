"""Dataset files: the SHA-256 registry, verification (cached) and downloads (parsing: `parsing.py`).

The registry ships with the package: `checksums/<dataset>.txt` in `sha256sum` format, one line per
file as published at its source (`user1066105.csv`, `<UUID>.features_labels.csv.gz`). A file may be
kept plain or gzipped: `find_file` accepts `name` and `name.gz`, and a gzipped copy passes when
either its bytes or its decompressed content has the registered hash (the latter is streamed).

Successful verifications are remembered in a JSON file under the user cache directory
(`$FATHOM_BENCH_CACHE`, else `pooch.os_cache("fathom_bench")`), keyed by absolute path, size and
modification time, never in the data folder (which may be read-only). Deleting it is safe.

Downloads use `pooch`; the sources of a dataset are listed in its config (`options.sources`), tried
in order:
  - `{url: "https://.../{name}"}`: one request per file;
  - `{archive: "https://.../x.zip"}`: one archive, its members found by file name, nested zips included.
A source that fails is left for the next one; when none delivers, BadInput names the missing files,
the URLs and the folder to put them in. Option `allow_download: false` forbids downloading.

Parsed arrays are cached as well (`cached_raw`): an npz per (files' checksums, loader version,
options) under `cache_dir()/parsed/`, so a second load skips the CSV parsing.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import tempfile
import zipfile
import zlib
from importlib import resources
from pathlib import Path
from typing import Iterable

from ..errors import BadInput
from .spec import DatasetSpec, load_dataset_spec

CHUNK = 1 << 20
_VERIFIED_FILE = "verified-sha256.json"


# --------------------------------------------------------------------------------------------
# where things go


def cache_dir() -> Path:
    """Per-user cache for verification results and downloaded archives: `$FATHOM_BENCH_CACHE` or pooch's."""
    env = os.environ.get("FATHOM_BENCH_CACHE")
    if env:
        return Path(env).expanduser().resolve()
    import pooch

    return Path(pooch.os_cache("fathom_bench")).resolve()


# --------------------------------------------------------------------------------------------
# the registry


def parse_sha256sums(text: str, where: str = "checksums") -> dict[str, str]:
    """`sha256sum` lines (`<64 hex>  <name>`, `*` binary marker allowed) -> {name: sha}."""
    out: dict[str, str] = {}
    for i, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split(None, 1)
        if len(parts) != 2 or len(parts[0]) != 64 or any(c not in "0123456789abcdefABCDEF" for c in parts[0]):
            raise BadInput(f"{where}, line {i}: not a sha256sum line: {line[:80]!r}")
        out[parts[1].strip().lstrip("*")] = parts[0].lower()
    return out


def registry(spec: DatasetSpec | str) -> dict[str, str]:
    """{file name as published: sha256} of a dataset, in registry order.

    `options.checksums` overrides the packaged registry: a mapping, or the path of a sha256sum file.
    """
    spec = load_dataset_spec(spec) if isinstance(spec, str) else spec
    override = spec.options.get("checksums")
    if isinstance(override, dict):
        return {str(k): str(v).lower() for k, v in override.items()}
    if override:
        path = Path(str(override)).expanduser()
        if not path.is_file():
            raise BadInput(f"{spec.path or spec.name}: option checksums: file {path} not found")
        return parse_sha256sums(path.read_text(), str(path))
    key = str(spec.options.get("registry", spec.name))
    res = resources.files("fathom_bench.datasets") / "checksums" / f"{key}.txt"
    if not res.is_file():
        raise BadInput(f"dataset {spec.name}: no files to verify or download (no checksum registry "
                       f"fathom_bench/datasets/checksums/{key}.txt)")
    return parse_sha256sums(res.read_text(), f"checksums/{key}.txt")


# --------------------------------------------------------------------------------------------
# finding and verifying one file


def find_file(folder: str | os.PathLike, name: str) -> Path | None:
    """`folder/name` or its gzipped copy `folder/name.gz`, whichever exists (plain first); else None."""
    folder = Path(folder)
    for candidate in (name, name + ".gz"):
        path = folder / candidate
        if path.is_file():
            return path
    return None


def _short(sha: str | None) -> str:
    return (sha or "?")[:12]


def _load_verified() -> dict:
    try:
        with open(cache_dir() / _VERIFIED_FILE) as fh:
            data = json.load(fh)
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def _remember(path: Path, stat: os.stat_result, hashes: list[str]) -> None:
    """Record a successful verification; a cache that cannot be written is skipped silently."""
    try:
        folder = cache_dir()
        folder.mkdir(parents=True, exist_ok=True)
        data = _load_verified()
        data[str(path)] = {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "sha256": hashes}
        fd, tmp = tempfile.mkstemp(prefix=".verified-", suffix=".json", dir=folder)
        with os.fdopen(fd, "w") as fh:
            json.dump(data, fh, indent=0, sort_keys=True)
        os.replace(tmp, folder / _VERIFIED_FILE)
    except OSError:
        pass


def _cached_ok(path: Path, stat: os.stat_result, expected: str) -> bool:
    entry = _load_verified().get(str(path))
    return (
        isinstance(entry, dict)
        and entry.get("size") == stat.st_size
        and entry.get("mtime_ns") == stat.st_mtime_ns
        and expected in entry.get("sha256", [])
    )


def _sha256_bytes(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK):
            h.update(chunk)
    return h.hexdigest()


def _sha256_gunzipped(path: Path) -> str:
    h = hashlib.sha256()
    with gzip.open(path, "rb") as fh:
        while chunk := fh.read(CHUNK):
            h.update(chunk)
    return h.hexdigest()


def verify(path: str | os.PathLike, expected_sha: str, use_cache: bool = True, dataset: str | None = None) -> None:
    """Raise BadInput unless the file has the registered hash.

    For a `.gz` file the hash of its decompressed content (streamed) is compared, or that of its
    bytes when the published file is itself gzipped. A truncated or corrupt gzip raises BadInput.
    """
    path = Path(path).resolve()
    expected = expected_sha.lower()
    stat = path.stat()
    if use_cache and _cached_ok(path, stat, expected):
        return
    fix = (f"delete it and run `python -m fathom_bench datasets download {dataset or '<dataset>'}`, "
           f"or replace it with the published file")
    hashes = [_sha256_bytes(path)]
    if path.name.endswith(".gz") and hashes[0] != expected:
        try:
            hashes.insert(0, _sha256_gunzipped(path))
        except (EOFError, OSError, zlib.error) as exc:
            raise BadInput(
                f"{path}: truncated or corrupt gzip ({type(exc).__name__}: {str(exc)[:80]}); "
                f"expected sha256 {_short(expected)} of its content; {fix}"
            ) from None
    if expected not in hashes:
        raise BadInput(
            f"{path}: checksum mismatch: expected sha256 {_short(expected)}, got {_short(hashes[0])}; "
            f"the file is damaged or another version; {fix}"
        )
    if use_cache:
        _remember(path, stat, hashes)


# --------------------------------------------------------------------------------------------
# every file of a dataset


def _listing(names: list[str], first: int = 3) -> str:
    shown = ", ".join(names[:first])
    return shown + (f" and {len(names) - first} more" if len(names) > first else "")


def _sources(spec: DatasetSpec) -> list[dict]:
    sources = spec.options.get("sources") or []
    if isinstance(sources, (str, dict)):
        sources = [sources]
    out = []
    for s in sources:
        s = {"url": s} if isinstance(s, str) else dict(s)
        if not ("url" in s or "archive" in s):
            raise BadInput(f"{spec.path or spec.name}: option sources: each source needs `url` or `archive`, got {s}")
        out.append(s)
    return out


def _source_text(spec: DatasetSpec) -> str:
    s = _sources(spec)
    return " or ".join(x.get("url") or x.get("archive") for x in s) if s else "(no source configured)"


def _error_text(exc: BaseException) -> str:
    """The exception's type and its most telling part (the OS error of a failed connection)."""
    import re

    text = " ".join(str(exc).split())
    m = re.search(r"\[Errno -?\d+\] [^'\")\]]+", text)
    reason = m.group(0) if m else text[:160]
    return f"{type(exc).__name__}: {reason}"


def _retrieve(url: str, folder: Path, fname: str) -> Path:
    import pooch

    downloader = pooch.HTTPDownloader(progressbar=False, timeout=60)
    logger = pooch.get_logger()
    level = logger.level
    logger.setLevel("WARNING")  # no "Downloading ..." lines: a failure is reported as one line
    try:
        return Path(pooch.retrieve(url, known_hash=None, fname=fname, path=folder, downloader=downloader))
    finally:
        logger.setLevel(level)


def _extract_members(archive: Path | io.BytesIO, wanted: set[str], folder: Path) -> set[str]:
    """Write every member of the zip (or of zips nested in it) whose base name is wanted; return those found."""
    found: set[str] = set()
    with zipfile.ZipFile(archive) as zf:
        for info in zf.infolist():
            base = info.filename.rsplit("/", 1)[-1]
            if info.is_dir() or base.startswith("._") or "__MACOSX" in info.filename:
                continue
            if base in wanted and base not in found:
                tmp = folder / f".{base}.part"
                with zf.open(info) as src, open(tmp, "wb") as dst:
                    while chunk := src.read(CHUNK):
                        dst.write(chunk)
                os.replace(tmp, folder / base)
                found.add(base)
            elif base.lower().endswith(".zip"):
                with zf.open(info) as src:
                    nested = io.BytesIO(src.read())
                found |= _extract_members(nested, wanted - found, folder)
    return found


def _download_missing(spec: DatasetSpec, folder: Path, missing: list[str]) -> tuple[list[str], list[str], dict]:
    """Try the sources in order; returns (names still missing, errors, {name: url it came from})."""
    errors: list[str] = []
    origin: dict[str, str] = {}
    todo = list(missing)
    for source in _sources(spec):
        if not todo:
            break
        if "url" in source:
            for name in list(todo):
                url = source["url"].format(name=name)
                try:
                    _retrieve(url, folder, name)
                except Exception as exc:  # offline, HTTP error: try the next source
                    errors.append(f"{url}: {_error_text(exc)}")
                    break
                todo.remove(name)
                origin[name] = url
        else:
            url = source["archive"]
            try:
                archive = _retrieve(url, cache_dir() / "downloads", url.rstrip("/").rsplit("/", 1)[-1] or "archive.zip")
                got = _extract_members(archive, set(todo), folder)
            except Exception as exc:
                errors.append(f"{url}: {_error_text(exc)}")
                continue
            for name in got:
                origin[name] = url
            todo = [n for n in todo if n not in got]
            if not todo:
                try:
                    archive.unlink()
                except OSError:
                    pass
            else:
                errors.append(f"{url}: archive lacks {_listing(todo)}")
    return todo, errors, origin


def ensure_files(spec: DatasetSpec, folder: str | os.PathLike, download: bool = True,
                 names: Iterable[str] | None = None) -> dict[str, Path]:
    """Every registered file (or those of `names`) present in `folder` and verified; returns {name: path}.

    Missing files are downloaded into `folder` when `download` (and the spec allows it), then verified.
    """
    folder = Path(folder).expanduser()
    reg = registry(spec)
    wanted = list(reg) if names is None else list(names)
    unknown = [n for n in wanted if n not in reg]
    if unknown:
        raise BadInput(f"dataset {spec.name}: file(s) {_listing(unknown)} not in its checksum registry")
    download = download and bool(spec.options.get("allow_download", True))
    found = {n: find_file(folder, n) for n in wanted}
    missing = [n for n, p in found.items() if p is None]
    origin: dict[str, str] = {}
    if missing:
        how = f"run `python -m fathom_bench datasets download {spec.name}` (from {_source_text(spec)})"
        put = (f"put the files (plain or .gz) in {folder}, or pass --data-dir / set FATHOM_BENCH_DATA "
               f"to a folder holding {spec.name}/")
        if not download:
            if not folder.is_dir():
                raise BadInput(f"dataset {spec.name}: folder {folder} does not exist; {how}, or {put}")
            raise BadInput(f"dataset {spec.name}: {len(missing)} of {len(wanted)} files missing in {folder} "
                           f"({_listing(missing)}); {how}, or {put}")
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise BadInput(f"dataset {spec.name}: {len(missing)} files missing and folder {folder} cannot be "
                           f"created ({_error_text(exc)}); {put}") from None
        still, errors, origin = _download_missing(spec, folder, missing)
        if still:
            why = "; ".join(errors[:2]) if errors else "no download source configured"
            raise BadInput(
                f"dataset {spec.name}: {len(still)} of {len(wanted)} files missing in {folder} "
                f"({_listing(still)}) and the download from {_source_text(spec)} failed ({why}); {put}"
            )
        found = {n: find_file(folder, n) for n in wanted}
    for name, path in found.items():
        try:
            verify(path, reg[name], dataset=spec.name)
        except BadInput as exc:
            if name in origin:  # a bad download must not stay behind
                try:
                    path.unlink()
                except OSError:
                    pass
                raise BadInput(f"{exc} (downloaded from {origin[name]}; the bad copy was deleted)") from None
            raise
    return found  # type: ignore[return-value]


def file_status(spec: DatasetSpec, folder: str | os.PathLike) -> dict:
    """Counts for a status report, without downloading or raising: present, verified, total, problems."""
    folder = Path(folder)
    reg = registry(spec)
    present = verified = 0
    problems: list[str] = []
    for name, sha in reg.items():
        path = find_file(folder, name)
        if path is None:
            continue
        present += 1
        try:
            verify(path, sha, dataset=spec.name)
            verified += 1
        except BadInput as exc:
            problems.append(str(exc))
    return {"present": present, "verified": verified, "total": len(reg), "problems": problems}


def download(name: str | DatasetSpec, data_dir: str | os.PathLike | None = None) -> Path:
    """`python -m fathom_bench datasets download NAME`: fetch and verify every file; returns the folder."""
    from ..paths import data_dir as resolve_data_dir

    spec = load_dataset_spec(name) if isinstance(name, str) else name
    reg = registry(spec)  # raises for datasets without files (synthetic)
    folder = resolve_data_dir(data_dir) / spec.name
    ensure_files(spec, folder, download=True, names=list(reg))
    return folder


# --------------------------------------------------------------------------------------------
# parsed-array cache
