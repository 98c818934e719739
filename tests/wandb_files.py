"""Read an offline W&B run file (`run-<id>.wandb`) without a network: for tests.

The file is a LevelDB-style log: a 7-byte header (":W&B", magic, version), then 32 KiB blocks of
records, each with a 7-byte header (crc32c, little-endian length, type: 1 full, 2 first,
3 middle, 4 last). Each payload is a `wandb_internal_pb2.Record`.
"""

from __future__ import annotations

import json
import struct
import time
from pathlib import Path

BLOCK = 32768


def _payloads(data: bytes):
    pos, pending = 7, b""
    while pos + 7 <= len(data):
        block_left = BLOCK - pos % BLOCK
        if block_left < 7:
            pos += block_left
            continue
        _crc, length, kind = struct.unpack("<IHB", data[pos:pos + 7])
        if length == 0 and kind == 0:
            pos += block_left
            continue
        chunk = data[pos + 7:pos + 7 + length]
        pos += 7 + length
        if kind == 1:
            yield chunk
        elif kind == 2:
            pending = chunk
        elif kind == 3:
            pending += chunk
        elif kind == 4:
            yield pending + chunk
            pending = b""


def read_run(path: Path) -> dict:
    """{'config': {...}, 'summary': {...}, 'history': [{...}], 'group':, 'job_type':, 'project':}."""
    from wandb.proto import wandb_internal_pb2 as pb

    out = {"config": {}, "summary": {}, "history": [], "group": None, "job_type": None, "project": None}
    data, deadline = Path(path).read_bytes(), time.monotonic() + 30
    while len(data) <= 7 and time.monotonic() < deadline:  # W&B's service may still be flushing after finish()
        time.sleep(0.2)
        data = Path(path).read_bytes()
    for payload in _payloads(data):
        rec = pb.Record()
        rec.ParseFromString(payload)
        kind = rec.WhichOneof("record_type")
        if kind == "run":
            out.update(group=rec.run.run_group, job_type=rec.run.job_type, project=rec.run.project, name=rec.run.display_name)
            for item in rec.run.config.update:
                out["config"][item.key] = json.loads(item.value_json)
        elif kind == "config":
            for item in rec.config.update:
                out["config"][item.key] = json.loads(item.value_json)
        elif kind == "history":
            out["history"].append({(i.key or "/".join(i.nested_key)): json.loads(i.value_json) for i in rec.history.item})
        elif kind == "summary":
            for item in rec.summary.update:
                out["summary"][item.key or "/".join(item.nested_key)] = json.loads(item.value_json)
    return out
