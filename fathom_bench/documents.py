"""Reading the project's YAML and JSON files (configs, records, references): any problem with the
file itself is one BadInput line naming it; what its keys must hold is the caller's to check."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from .errors import BadInput


def read_document(path, what: str, hint: str = "") -> dict:
    """The mapping in a `.json` file or a YAML file (an empty YAML file reads as `{}`).

    `what` names the file's role in messages ("table config", "run record"); `hint` is appended to
    the can't-read message (e.g. how to create the file).
    """
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise BadInput(f"{path}: {what} cannot be read ({exc.strerror}){hint}") from None
    if path.suffix == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise BadInput(f"{path}: {what} is not valid JSON ({exc.msg} at line {exc.lineno})") from None
        kind = "a JSON object"
    else:
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise BadInput(f"{path}: {what} is not valid YAML ({str(exc).splitlines()[0]})") from None
        data, kind = ({} if data is None else data), "a mapping"
    if not isinstance(data, dict):
        raise BadInput(f"{path}: a {what} must be {kind}")
    return data
