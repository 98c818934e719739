"""Per-protocol, per-dataset settings of a method as data: how the authors' script ran it.

A method config may hold a `protocols:` block; under `paper` it says what each of the authors'
scripts did, per dataset (`all:` applies to every dataset, a dataset's own block overrides it):

    protocols:
      paper:
        all: {loss: bce, optimizer: rmsprop, l2: 0, output: sigmoid, shuffle: false}
        extrasensory: {max_epochs: 40, patience: 10, script: mobile_sensor/LSTM_singleTask.py}

The loss, the optimizer and the trainer read these; a method never branches on the protocol.
Keys (anything else is bad input):
- model: `loss` (LOSSES), `alpha` (Eq. 1 smoothing), `task_reduction` ("sum": Keras adds the K
  per-output losses; "mean"), `optimizer` (OPTIMIZERS), `l2` (0: the script sets no regulariser),
  `output` ("sigmoid": Dense(M, sigmoid) on MinMax-scaled regression targets; "linear"), and
  `hparams` (the method's own keyword arguments, e.g. M-Att's filters).
- trainer: `max_epochs`, `patience`, `batch_size`, `shuffle` (false: batches in time order, Keras'
  `shuffle=False`), `early_stopping_on` ("val", or "test" where a script passes
  `validation_data=test`).
- data: `inputs` ("window", or "same_row": the non-target columns of the target's own row only,
  as a row-wise scikit-learn classifier sees them).
- `script`, `note`: provenance, shown in the resolved config.
"""

from __future__ import annotations

from .errors import BadInput

LOSSES = ("eq1", "cce", "bce", "mae", "bce_smoothed")
OPTIMIZERS = ("adam", "rmsprop", "adamw", "sgd")
MODEL_KEYS = ("loss", "alpha", "task_reduction", "optimizer", "l2", "output")
TRAINER_KEYS = ("max_epochs", "patience", "batch_size", "shuffle", "early_stopping_on")
DATA_KEYS = ("inputs",)
OTHER_KEYS = ("hparams", "script", "note")
CHOICES = {"loss": LOSSES, "optimizer": OPTIMIZERS, "task_reduction": ("sum", "mean"),
           "output": ("linear", "sigmoid"), "early_stopping_on": ("val", "test"), "inputs": ("window", "same_row"),
           "shuffle": (True, False)}
KNOWN = MODEL_KEYS + TRAINER_KEYS + DATA_KEYS + OTHER_KEYS


def validate_block(block, where: str) -> dict:
    """One `protocols.<protocol>.<dataset>` block, checked: unknown keys or values are one line."""
    if not isinstance(block, dict):
        raise BadInput(f"{where}: must be a mapping of settings, not {type(block).__name__}")
    for key, value in block.items():
        if key not in KNOWN:
            raise BadInput(f"{where}: unknown key {key!r}; known: {', '.join(KNOWN)}")
        if key in CHOICES and value not in CHOICES[key]:
            raise BadInput(f"{where}: {key} {value!r} is unknown; choose one of {', '.join(map(str, CHOICES[key]))}")
        if key in ("max_epochs", "patience", "batch_size") and (not isinstance(value, int) or value < 1):
            raise BadInput(f"{where}: {key} must be a positive integer, not {value!r}")
        if key == "hparams" and not isinstance(value, dict):
            raise BadInput(f"{where}: hparams must be a mapping")
    return dict(block)


def validate_protocols(d, source: str) -> dict:
    """The whole `protocols:` block of a method config: {protocol: {"all" | dataset: block}}."""
    if d is None:
        return {}
    if not isinstance(d, dict):
        raise BadInput(f"{source}: protocols must be a mapping of protocol -> dataset -> settings")
    out = {}
    for proto, per_dataset in d.items():
        if not isinstance(per_dataset, dict):
            raise BadInput(f"{source}: protocols.{proto} must be a mapping of dataset (or all) -> settings")
        out[str(proto)] = {str(ds): validate_block(block or {}, f"{source}: protocols.{proto}.{ds}")
                           for ds, block in per_dataset.items()}
    return out


def resolve(protocols: dict, protocol: str, dataset: str) -> dict:
    """The settings for one protocol and dataset: `all`, then the dataset's block (hparams merged)."""
    blocks = protocols.get(protocol) or {}
    general, own = blocks.get("all") or {}, blocks.get(dataset) or {}
    merged = {**general, **own}
    hparams = {**(general.get("hparams") or {}), **(own.get("hparams") or {})}
    if hparams:
        merged["hparams"] = hparams
    return merged


def model_kwargs(settings: dict) -> dict:
    """Constructor keywords for the method from its settings (loss, optimizer, ... and its hparams)."""
    return {**{k: settings[k] for k in MODEL_KEYS if k in settings}, **(settings.get("hparams") or {})}


def table_notes(methods: dict, protocol: str, datasets: list[str]) -> list[str]:
    """Sentences for a table under `protocol`: which runs early-stop on the test part, and each
    script setting's `note` (e.g. no script exists for a dataset). `methods`: {key: MethodSpec}."""
    out = []
    for key, spec in methods.items():
        on_test = [ds for ds in datasets if spec.settings(protocol, ds).get("early_stopping_on") == "test"]
        if on_test:
            out.append(f"{spec.name} on {', '.join(on_test)}: early stopping on the test part, as the authors' "
                       "script (validation_data=test).")
        for ds in datasets:
            note = spec.settings(protocol, ds).get("note")
            if note:
                out.append(f"{spec.name} on {ds}: {note}.")
    return out
