"""A federated run with every node in a thread of this process (unit tests, the wire test)."""

from __future__ import annotations

import threading

from .central import Central
from .session import Node
from .transport import InProcessHub, Metered


def run_in_process(run, nodes: int, data_dir=None, timeout: float = 60.0, keep_log: bool = False,
                   wrap=None) -> tuple[dict, Central, list[Node]]:
    """Train `run` with `nodes` node threads and the central node here; (record fields, central, nodes).

    `wrap(rank, transport)` may wrap each rank's transport (the wire test checks every message)."""
    hub = InProcessHub(nodes + 1, timeout=timeout)

    def transport(rank):
        inner = hub.transport(rank)
        return Metered(wrap(rank, inner) if wrap else inner, keep_log=keep_log)

    node_objs = [Node(run, r, nodes, transport(r), data_dir) for r in range(1, nodes + 1)]
    errors: dict[int, BaseException] = {}

    def work(node):
        try:
            node.main()
        except BaseException as exc:  # surfaced by the central's timeout and re-raised below
            errors[node.rank] = exc

    threads = [threading.Thread(target=work, args=(n,), daemon=True) for n in node_objs]
    for th in threads:
        th.start()
    central = Central(run, nodes, transport(0))
    try:
        fields = central.main()
    except BaseException:
        if errors:
            raise next(iter(errors.values())) from None
        raise
    for th in threads:
        th.join(timeout)
    if errors:
        raise next(iter(errors.values()))
    return fields, central, node_objs
