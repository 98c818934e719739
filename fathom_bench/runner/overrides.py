"""`--set KEY=VALUE`: hyperparameter overrides from the command line.

A value is read as YAML (`0.5` a number, `true` a boolean, `lstm` a string). Each planned run
gets the overrides its method takes (a key of its config's `hparams`/`dataset_hparams` or a keyword
of its class's constructor); they enter the run's resolved config and so its config hash. A key
that no planned method takes is bad input.
"""

from __future__ import annotations

import dataclasses

import yaml

from ..errors import BadInput


def parse_sets(items: list[str] | None) -> dict:
    """['lr=0.01', 'shared_from=lstm'] -> {'lr': 0.01, 'shared_from': 'lstm'}."""
    out: dict = {}
    for item in items or []:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise BadInput(f"--set: expected KEY=VALUE, got {item!r}")
        try:
            out[key] = yaml.safe_load(text) if text.strip() else None
        except yaml.YAMLError:
            raise BadInput(f"--set {key}: value {text!r} is not a number, boolean or plain string") from None
        if isinstance(out[key], (dict, list)) or out[key] is None:
            raise BadInput(f"--set {key}: give one number, boolean or string, not {text!r}")
    return out


def apply_overrides(runs: list, overrides: dict) -> list:
    """Each run with the overrides its method takes; BadInput names a key no planned method takes."""
    if not overrides:
        return runs
    taken: dict = {}
    for run in runs:
        if run.method.key not in taken:
            taken[run.method.key] = run.method.accepted_hparams()
    unknown = [k for k in overrides if not any(k in keys for keys in taken.values())]
    if unknown:
        known = sorted(set().union(*taken.values()))
        raise BadInput(f"--set: unknown hyperparameter {unknown[0]!r} for {', '.join(taken)}; "
                       f"known: {', '.join(known)}")
    return [dataclasses.replace(run, hparam_overrides={**run.hparam_overrides,
                                                       **{k: v for k, v in overrides.items()
                                                          if k in taken[run.method.key]}})
            for run in runs]
