"""One node process of a federated run: `python -m fathom_bench.federated.worker '<run JSON>'`.

Started by `launch.train_federated` with RANK, WORLD_SIZE, MASTER_ADDR and MASTER_PORT set. Exit 0
when done, 2 with one line on stderr when the run cannot go on (the central node relays it).
"""

from __future__ import annotations

import json
import os
import signal
import sys
from dataclasses import asdict


def run_payload(run, data_dir, nodes: int, timeout: float) -> str:
    """Everything a node process needs to rebuild the run (JSON)."""
    return json.dumps({"dataset": {**run.dataset.__dict__, "split": list(run.dataset.split)},
                       "method": run.method.key, "seed": run.seed, "protocol": run.protocol.name,
                       "trainer": asdict(run.trainer), "overrides": run.hparam_overrides,
                       "data_dir": str(data_dir) if data_dir else None, "nodes": nodes, "timeout": timeout})


def run_from_payload(payload: dict):
    from ..datasets.spec import DatasetSpec
    from ..methods import get_method
    from ..protocol import get_protocol
    from ..runner.spec import RunSpec, TrainerSettings

    from .spec import FederatedRunSpec

    ds = DatasetSpec(**{**payload["dataset"], "split": tuple(payload["dataset"]["split"])})
    run = RunSpec(ds, get_method(payload["method"]), int(payload["seed"]), get_protocol(payload["protocol"]),
                  TrainerSettings(**payload["trainer"]), dict(payload["overrides"] or {}))
    return FederatedRunSpec.of(run, int(payload["nodes"]))


def fault_hook(rank: int) -> None:
    """Fault injection for the failure tests: `FATHOM_BENCH_FEDERATED_FAULT=<rank>:<step>` makes that
    node's process kill itself (SIGKILL) at that training step of the first epoch."""
    spec = os.environ.get("FATHOM_BENCH_FEDERATED_FAULT")
    if not spec or int(spec.split(":")[0]) != rank:
        return
    from . import session

    step = int(spec.split(":")[1])
    original = session.Node._train_step
    count = iter(range(10**9))

    def dying_step(self, *args):
        if next(count) == step:
            os.kill(os.getpid(), signal.SIGKILL)
        return original(self, *args)

    session.Node._train_step = dying_step


def main(argv: list[str]) -> int:
    from ..errors import BadInput
    from .launch import run_node

    payload = json.loads(argv[0])
    rank = int(os.environ["RANK"])
    try:
        fault_hook(rank)
        run_node(run_from_payload(payload), rank, int(payload["nodes"]), payload["data_dir"],
                 float(payload["timeout"]))
    except BadInput as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
