"""Method discovery: one YAML per method in `configs/methods/`, plus the `fathom_bench.methods`
entry-point group of other installed packages. No registry to edit.

A method config (YAML) says:
    name: FATHOM                           # display name, as the paper's table row
    class: fathom_bench.models.fathom:FATHOM   # a BenchModule subclass
    paper / venue / link / code: provenance # shown by `python -m fathom_bench methods`
    in_paper: true                         # a row of Table III (false: floor or new method)
    hparams: {...}                         # constructor keyword arguments
    dataset_hparams: {extrasensory: {...}} # per-dataset overrides, where the paper's code differs
    protocols: {paper: {all: {...}, extrasensory: {...}}}  # how the authors' script ran it (script_settings)
An entry point `key = package.module:obj` gives such a dict, a path to such a YAML, or a callable
returning either.
"""

from __future__ import annotations

import hashlib
import importlib
import json
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import Path

from .documents import read_document
from .errors import BadInput
from .paths import configs_dir
from .script_settings import model_kwargs, resolve, validate_protocols

ENTRY_POINT_GROUP = "fathom_bench.methods"


@dataclass(frozen=True)
class MethodSpec:
    key: str
    name: str
    cls: str
    source: str
    hparams: dict = field(default_factory=dict)
    dataset_hparams: dict = field(default_factory=dict)
    paper: str = ""
    venue: str = ""
    link: str = ""
    code: str = ""
    in_paper: bool = False
    description: str = ""
    protocols: dict = field(default_factory=dict)

    def settings(self, protocol: str, dataset: str) -> dict:
        """How the method runs under `protocol` on `dataset` (script_settings); {} = the protocol's defaults."""
        return resolve(self.protocols, protocol, dataset)

    def resolved_hparams(self, dataset: str, overrides: dict | None = None, protocol: str | None = None) -> dict:
        """Constructor keywords: hparams, the dataset's, the protocol's settings, then `overrides`."""
        scripted = model_kwargs(self.settings(protocol, dataset)) if protocol else {}
        return {**self.hparams, **(self.dataset_hparams.get(dataset) or {}), **scripted, **(overrides or {})}

    def accepted_hparams(self) -> set[str]:
        """Hyperparameters this method takes: its config's keys and its class's constructor keywords
        (following `**kwargs` up the class hierarchy to the first constructor without them)."""
        import inspect

        keys = set(self.hparams) | {k for d in self.dataset_hparams.values() for k in d}
        for klass in self.load_class().__mro__:
            if "__init__" not in klass.__dict__:
                continue
            params = inspect.signature(klass.__init__).parameters.values()
            keys |= {p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)} - {"self", "problem"}
            if not any(p.kind == p.VAR_KEYWORD for p in params):
                break
        return keys

    def load_class(self):
        module, _, attr = self.cls.partition(":")
        try:
            return getattr(importlib.import_module(module), attr)
        except (ImportError, AttributeError) as exc:
            raise BadInput(f"{self.source}: class {self.cls!r} of method {self.key!r} cannot be imported ({exc})") from None

    def build(self, problem, dataset: str, overrides: dict | None = None, protocol: str | None = None):
        """The method's LightningModule for `problem`, with its resolved hyperparameters."""
        return self.load_class()(problem, **self.resolved_hparams(dataset, overrides, protocol))

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def spec_from_dict(key: str, d: dict, source: str) -> MethodSpec:
    if not isinstance(d, dict) or "class" not in d:
        raise BadInput(f"{source}: a method config needs at least `class: module:Class`")
    return MethodSpec(
        key=key,
        name=str(d.get("name", key)),
        cls=str(d["class"]),
        source=source,
        hparams=dict(d.get("hparams") or {}),
        dataset_hparams={k: dict(v or {}) for k, v in (d.get("dataset_hparams") or {}).items()},
        paper=str(d.get("paper", "")).strip(),
        venue=str(d.get("venue", "")).strip(),
        link=str(d.get("link", "")).strip(),
        code=str(d.get("code", "")).strip(),
        in_paper=bool(d.get("in_paper", False)),
        description=str(d.get("description", "")).strip(),
        protocols=validate_protocols(d.get("protocols"), source),
    )


def discover_methods(config_dir: Path | None = None) -> dict[str, MethodSpec]:
    """Every known method: configs/methods/*.yaml first, then installed entry points."""
    found: dict[str, MethodSpec] = {}
    folder = (config_dir or configs_dir()) / "methods"
    for path in sorted(folder.glob("*.yaml")):
        found[path.stem] = spec_from_dict(path.stem, read_document(path, "method config"), str(path))
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name in found:
            continue
        source = f"entry point {ep.name} = {ep.value}"
        try:
            obj = ep.load()
        except Exception as exc:  # a broken plug-in must not break the suite
            raise BadInput(f"{source}: cannot be loaded ({exc})") from None
        obj = obj() if callable(obj) and not isinstance(obj, dict) else obj
        d = read_document(Path(obj), "method config") if isinstance(obj, (str, Path)) else obj
        found[ep.name] = spec_from_dict(ep.name, d, source)
    return found


def get_method(key: str, known: dict[str, MethodSpec] | None = None) -> MethodSpec:
    known = known if known is not None else discover_methods()
    if key in known:
        return known[key]
    by_name = {m.name.lower(): m for m in known.values()}
    if key.lower() in by_name:
        return by_name[key.lower()]
    raise BadInput(f"--methods: unknown method {key!r}; known: {', '.join(sorted(known))}")


def config_hash(config: dict) -> str:
    """A short stable hash of a resolved config (what makes two runs the same run)."""
    blob = json.dumps(config, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]
