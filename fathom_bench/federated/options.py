"""The command-line options of `train` and `reproduce` for federated runs (no torch import here)."""

from __future__ import annotations


def add_arguments(parser) -> None:
    parser.add_argument("--federated", type=int, metavar="NODES",
                        help="FATHOM (and ablations) as Algorithm 1: the central node here and NODES node "
                             "processes on 127.0.0.1, or one process per machine with RANK, MASTER_ADDR, "
                             "MASTER_PORT set (train only)")
    parser.add_argument("--federated-timeout", type=float, default=60.0, metavar="SECONDS",
                        help="how long a federated rank waits for another before giving up (default 60)")
