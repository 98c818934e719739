"""One node process of a federated run: `python -m fathom_bench.federated.worker '<run JSON>'`.

Started by `launch.train_federated` with RANK, WORLD_SIZE, MASTER_ADDR and MASTER_PORT set. Exit 0
when done, 2 with one line on stderr when the run cannot go on (the central node relays it).
"""

from __future__ import annotations

import json
import os
import sys


def main(argv: list[str]) -> int:
    from ..errors import BadInput
    from .launch import fault_hook, run_from_payload, run_node

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
