"""Processes for a federated run: the central node in this process, one process per node.

By default everything runs here on 127.0.0.1: this process is rank 0 (the central node) and
starts N node processes (`python -m fathom_bench.federated.worker`). Across machines, start the
same command on every machine with `RANK` (0 = central, 1..N = nodes), `MASTER_ADDR` and
`MASTER_PORT` (the central node's address) and optionally `WORLD_SIZE` (= N + 1) set; then no
process is started. Failures (a node that cannot reach the central node, a node that dies or stops
answering, mismatched ranks or runs) end the run with one line naming the node, within the
timeout (`--federated-timeout`, default 60 s; a dead node is usually noticed at once).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
from datetime import timedelta
from pathlib import Path

from ..errors import BadInput
from .session import FederationError
from .transport import DistTransport, PeerLost

DEFAULT_TIMEOUT = 60.0
FATHOM_CLASS = "fathom_bench.models.fathom:FATHOM"


def check_methods(runs) -> None:
    """Only FATHOM and its ablations have a federated deployment."""
    for run in runs:
        if run.method.cls != FATHOM_CLASS:
            raise BadInput(f"--federated: method {run.method.key} has no federated deployment "
                           "(only FATHOM, FATHOM-ga and FATHOM-ta)")


def rank_from_env(nodes: int) -> int | None:
    """This process's rank when `RANK` is set (a multi-machine run), else None; validated."""
    if nodes < 1:
        raise BadInput("--federated: needs at least 1 node")
    raw = os.environ.get("RANK")
    if raw is None:
        return None
    try:
        rank = int(raw)
    except ValueError:
        raise BadInput(f"RANK: not an integer ({raw!r})") from None
    world = os.environ.get("WORLD_SIZE")
    if world is not None and world != str(nodes + 1):
        raise BadInput(f"mismatched ranks: WORLD_SIZE={world} but --federated {nodes} needs {nodes + 1} "
                       "(the central node and one process per node)")
    if not 0 <= rank <= nodes:
        raise BadInput(f"mismatched ranks: RANK={rank} but --federated {nodes} has ranks 0 (central) to {nodes}")
    return rank


def listen(addr: str, port: int = 0) -> socket.socket:
    """The central node's rendezvous socket, bound to `addr` only (127.0.0.1 unless told otherwise)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((addr, port))
    except OSError as exc:
        sock.close()
        raise BadInput(f"MASTER_ADDR/MASTER_PORT: the central node cannot listen on {addr}:{port} ({exc})") from None
    sock.listen(128)
    return sock


def _backend(world: int) -> str:
    """FATHOM_BENCH_FEDERATED_BACKEND, else NCCL when this machine has a GPU for every rank, else gloo.
    (Across machines every rank must choose the same: set the variable there.)"""
    import torch

    chosen = os.environ.get("FATHOM_BENCH_FEDERATED_BACKEND")
    if chosen and chosen not in ("gloo", "nccl"):
        raise BadInput(f"FATHOM_BENCH_FEDERATED_BACKEND: {chosen!r} is not gloo or nccl")
    if chosen:
        return chosen
    return "nccl" if torch.cuda.is_available() and torch.cuda.device_count() >= world else "gloo"


_GROUP: dict = {}  # the store of the joined group, kept alive until `leave_group`


def init_group(rank: int, world: int, addr: str, port: int, timeout: float, sock: socket.socket | None = None):
    """Join the process group; returns (transport, backend). One line naming the rank if it cannot.

    Rank 0 serves the rendezvous store on `sock` (bound to `addr` only: torch's own store would
    listen on every interface)."""
    import torch
    import torch.distributed as dist

    backend = _backend(world)
    if addr in ("127.0.0.1", "localhost"):
        os.environ.setdefault("GLOO_SOCKET_IFNAME", "lo")  # gloo's own sockets on loopback only
    wait = timedelta(seconds=timeout)
    try:
        if rank == 0:
            sock = sock or listen(addr, port)
            store = dist.TCPStore(addr, sock.getsockname()[1], world, True, wait, master_listen_fd=sock.fileno(),
                                  use_libuv=True)
            sock.detach()  # the store owns the descriptor now
        else:
            store = dist.TCPStore(addr, port, world, False, wait, use_libuv=True)
        _GROUP["store"] = store
        dist.init_process_group(backend, store=store, rank=rank, world_size=world, timeout=wait)
    except (RuntimeError, ValueError, OSError) as exc:
        who = "the central node" if rank == 0 else f"node {rank}"
        raise FederationError(f"{who} (rank {rank}): cannot reach the other ranks at {addr}:{port} within "
                              f"{timeout:g} s ({str(exc).splitlines()[0][:160]})") from None
    device = None
    if backend == "nccl":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", rank)) % torch.cuda.device_count())
    return DistTransport(rank, world, device), backend


def leave_group() -> None:
    import torch.distributed as dist

    if dist.is_initialized():
        dist.destroy_process_group()
    _GROUP.clear()


def run_node(run, rank: int, nodes: int, data_dir=None, timeout: float = DEFAULT_TIMEOUT,
             addr: str | None = None, port: int | None = None) -> None:
    """One node process: join, train its part, leave."""
    from .session import Node

    import torch

    torch.set_num_threads(run.trainer.threads)
    addr = addr or os.environ.get("MASTER_ADDR", "127.0.0.1")
    port = int(port or os.environ.get("MASTER_PORT", 29500))
    transport, _ = init_group(rank, nodes + 1, addr, port, timeout)
    try:
        Node(run, rank, nodes, transport, data_dir).main()
    except PeerLost as exc:
        raise FederationError(f"node {rank}: lost the central node ({exc.cause})") from None
    finally:
        leave_group()


def train_federated(run, data_dir=None, logger=None, save_predictions=None, progress_bar=None, *,
                    nodes: int, timeout: float = DEFAULT_TIMEOUT, save_attention=None, device=None) -> dict:
    """`run_grid`'s trainer for `--federated`: the central node here; node processes started here
    unless `RANK` says this is one process of a multi-machine run."""
    import torch

    from ..runner.spec import versions
    from .central import Central

    if save_predictions is not None:
        raise BadInput("--save-predictions: in a federated run the predictions stay on the nodes")
    if save_attention is not None:
        raise BadInput("--save-attention: in a federated run the attention stays on the nodes")
    if device is not None:
        raise BadInput("--devices: a federated run places its nodes itself (NCCL when every process has a GPU)")
    from .spec import FederatedRunSpec

    check_methods([run])
    if not isinstance(run, FederatedRunSpec):
        run = FederatedRunSpec.of(run, nodes)
    torch.set_num_threads(run.trainer.threads)
    spawn = rank_from_env(nodes) is None
    addr = "127.0.0.1" if spawn else os.environ.get("MASTER_ADDR", "127.0.0.1")
    sock = listen(addr, 0 if spawn else int(os.environ.get("MASTER_PORT", 29500)))
    port = sock.getsockname()[1]
    children: list[tuple[int, subprocess.Popen, Path]] = []
    logs = Path(tempfile.mkdtemp(prefix="fathom-federated-"))
    if spawn:
        from .worker import run_payload

        payload = run_payload(run, data_dir, nodes, timeout)
        for rank in range(1, nodes + 1):
            env = {**os.environ, "RANK": str(rank), "WORLD_SIZE": str(nodes + 1), "MASTER_ADDR": addr,
                   "MASTER_PORT": str(port), "GLOO_SOCKET_IFNAME": "lo",
                   "TORCH_CPP_LOG_LEVEL": os.environ.get("TORCH_CPP_LOG_LEVEL", "ERROR")}
            err = logs / f"node{rank}.err"
            with open(err, "w") as fh:
                proc = subprocess.Popen([sys.executable, "-m", "fathom_bench.federated.worker", payload], env=env,
                                        stdout=subprocess.DEVNULL, stderr=fh, start_new_session=True)
            children.append((rank, proc, err))
    try:
        transport, backend = _join_watching(children, lambda: init_group(0, nodes + 1, addr, port, timeout, sock),
                                            timeout)
        fields = Central(run, nodes, transport, logger).main()
    except PeerLost as exc:
        raise FederationError(_node_failure(exc.rank, exc.cause, children, timeout)) from None
    except FederationError as exc:
        dead = [r for r, p, _ in children if p.poll() not in (None, 0)]
        if dead and "cannot reach" in str(exc):
            raise FederationError(_node_failure(dead[0], "exited", children, timeout)) from None
        raise
    finally:
        failed = sys.exc_info()[0] is not None
        leave_group()
        try:
            sock.close()
        except OSError:  # already closed by the store that took it over
            pass
        _stop(children, grace=1.0 if failed else min(timeout, 10))
        bad = [r for r, proc, _ in children if proc.returncode not in (0, None)]
        line = _node_failure(bad[0], "exited", children, timeout) if bad and not failed else None
        shutil.rmtree(logs, ignore_errors=True)
    if line:
        raise FederationError(line)
    fields["federated"]["backend"] = backend
    fields["federated"]["processes"] = "spawned on 127.0.0.1" if spawn else "started by the user (RANK)"
    return {"status": "ok", "error": None, **fields, "versions": versions(),
            "torch_threads": torch.get_num_threads()}


def _join_watching(children, join, timeout: float):
    """`join()` (blocks until every rank joined) while watching the node processes started here, so
    that one that fails before joining (bad data, a crash at start) is named at once, not after the
    timeout. The joining thread of a failed run is left to time out on its own."""
    if not children:
        return join()
    result: dict = {}

    def target():
        try:
            result["value"] = join()
        except BaseException as exc:  # re-raised in the caller's thread
            result["error"] = exc

    thread = threading.Thread(target=target, name="federated-join", daemon=True)
    thread.start()
    while thread.is_alive():
        thread.join(0.2)
        dead = [r for r, proc, _ in children if proc.poll() not in (None, 0)]
        if dead and thread.is_alive():
            raise FederationError(_node_failure(dead[0], "exited before joining", children, timeout))
    if "error" in result:
        raise result["error"]
    return result["value"]


def _node_failure(rank: int, cause: str, children, timeout: float) -> str:
    """One line: which node, and why (its own last error line, or how it exited)."""
    for r, proc, err in children:
        if r != rank:
            continue
        try:
            proc.wait(timeout=min(timeout, 10))
        except subprocess.TimeoutExpired:
            return f"node {rank} (rank {rank}): {cause}; its process is still running"
        text = err.read_text(errors="replace") if err.exists() else ""
        lines = [ln for ln in text.splitlines() if ln.startswith("error: ") or re.match(r"^\w*(Error|Exception)\b", ln)]
        if proc.returncode == 2 and lines:
            line = lines[-1].removeprefix("error: ")
            return line if line.startswith(f"node {rank} ") else f"node {rank} (rank {rank}): {line}"
        how = f"killed by signal {-proc.returncode}" if proc.returncode < 0 else f"exit status {proc.returncode}"
        return f"node {rank} (rank {rank}): died during the run ({how}){': ' + lines[-1][:200] if lines else ''}"
    return f"node {rank} (rank {rank}): {cause}"


def _stop(children, grace: float) -> None:
    """Every node process started here ends: waited for `grace` seconds, then terminated, then killed."""
    for _, proc, _ in children:
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def federated_runs(runs, nodes: int, timeout: float, data_dir=None, keep_others: bool = False):
    """The runs as federated runs and the trainer for `run_grid`; (runs, None) when this process is
    a node of a multi-machine run (it has then trained its part of every run)."""
    from functools import partial

    from .spec import FederatedRunSpec

    if timeout <= 0:
        raise BadInput("--federated-timeout: needs a positive number of seconds")
    if keep_others:
        runs = [r for r in runs if r.method.cls == FATHOM_CLASS]
        if not runs:
            raise BadInput("--federated: none of the planned methods is FATHOM or one of its ablations")
    check_methods(runs)
    summed = [r.key for r in runs if r.config()["method"]["hparams"].get("task_reduction", "mean") != "mean"]
    if summed:  # the nodes weight their loss as a share of a mean over tasks (session.py)
        raise BadInput(f"--federated: {summed[0]} sums the task losses (the Keras scripts under `paper`); "
                       "federated runs support task losses averaged over tasks (corrected, forecast)")
    runs = [FederatedRunSpec.of(r, nodes) for r in runs]
    rank = rank_from_env(nodes)
    if rank:
        for run in runs:
            run_node(run, rank, nodes, data_dir, timeout)
        return runs, None
    return runs, partial(train_federated, nodes=nodes, timeout=timeout)


def federated_reproduce(planned, opts):
    """`reproduce --federated`: the table's FATHOM runs (every method named in --methods must be one)."""
    if os.environ.get("RANK") not in (None, "0"):
        raise BadInput("reproduce --federated: runs on one machine (nodes on 127.0.0.1); across machines, "
                       "use `train --federated` with RANK, MASTER_ADDR and MASTER_PORT")
    runs, train = federated_runs(planned, opts.federated, opts.federated_timeout, opts.data_dir,
                                 keep_others=not opts.methods)
    return runs, train
