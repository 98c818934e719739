"""Moving tensors between the central node (rank 0) and the nodes (ranks 1..N).

Two transports with one interface, blocking point-to-point `send(tensor, dst, kind)` and
`recv(src, shape, dtype, kind)`:
- `InProcessHub.transport(rank)`: queues between threads of one process (unit tests);
- `DistTransport`: torch.distributed send/recv (gloo on CPU; NCCL when every process has a GPU,
  the tensors then travel through the GPU).
`Metered` wraps either and counts bytes, seconds blocked and every message (`kind` names what a
tensor is: the wire test reads this log).
"""

from __future__ import annotations

import queue
import threading
import time
from dataclasses import dataclass, field

import torch


class PeerLost(RuntimeError):
    """A peer did not answer in time or its connection closed: `rank` says which."""

    def __init__(self, rank: int, cause: str):
        super().__init__(f"rank {rank}: {cause}")
        self.rank, self.cause = rank, cause


class InProcessHub:
    """Queues for every (src, dst) pair of `world` ranks; `transport(rank)` is one rank's end."""

    def __init__(self, world: int, timeout: float = 60.0):
        self.world, self.timeout = world, timeout
        self.queues = {(s, d): queue.Queue() for s in range(world) for d in range(world) if s != d}
        self.closed = threading.Event()

    def transport(self, rank: int) -> "InProcessTransport":
        return InProcessTransport(self, rank)


class InProcessTransport:
    def __init__(self, hub: InProcessHub, rank: int):
        self.hub, self.rank, self.world = hub, rank, hub.world

    def send(self, tensor: torch.Tensor, dst: int, kind: str = "") -> None:
        self.hub.queues[(self.rank, dst)].put(tensor.detach().clone())

    def recv(self, src: int, shape, dtype=torch.float32, kind: str = "") -> torch.Tensor:
        try:
            out = self.hub.queues[(src, self.rank)].get(timeout=self.hub.timeout)
        except queue.Empty:
            raise PeerLost(src, f"sent nothing for {self.hub.timeout:g} s") from None
        if tuple(out.shape) != tuple(shape) or out.dtype != dtype:
            raise PeerLost(src, f"sent a {tuple(out.shape)} {out.dtype} tensor, expected {tuple(shape)} {dtype}")
        return out


class DistTransport:
    """torch.distributed point-to-point; the process group is initialised by the caller."""

    def __init__(self, rank: int, world: int, device: torch.device | None = None):
        self.rank, self.world = rank, world
        self.device = device or torch.device("cpu")

    def send(self, tensor: torch.Tensor, dst: int, kind: str = "") -> None:
        import torch.distributed as dist

        try:
            dist.send(tensor.detach().contiguous().to(self.device), dst)
        except RuntimeError as exc:
            raise PeerLost(dst, _cause(exc)) from None

    def recv(self, src: int, shape, dtype=torch.float32, kind: str = "") -> torch.Tensor:
        import torch.distributed as dist

        buf = torch.empty(tuple(shape), dtype=dtype, device=self.device)
        try:
            dist.recv(buf, src)
        except RuntimeError as exc:
            raise PeerLost(src, _cause(exc)) from None
        return buf.cpu()


def _cause(exc: Exception) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    if "timed out" in text.lower() or "timeout" in text.lower():
        return "no answer within the timeout (" + text[:120] + ")"
    return "connection lost (" + text[:160] + ")"


@dataclass
class Message:
    direction: str  # "sent" | "received"
    peer: int
    kind: str
    shape: tuple
    dtype: str
    nbytes: int
    step: int | None


@dataclass
class Metered:
    """Counts what crosses the wire: bytes each way, seconds blocked in the transport, each message."""

    inner: object
    keep_log: bool = False
    bytes_sent: int = 0
    bytes_received: int = 0
    seconds: float = 0.0
    step: int | None = None
    log: list[Message] = field(default_factory=list)

    @property
    def rank(self) -> int:
        return self.inner.rank

    def send(self, tensor: torch.Tensor, dst: int, kind: str = "") -> None:
        started = time.perf_counter()
        self.inner.send(tensor, dst, kind)
        self.seconds += time.perf_counter() - started
        nbytes = tensor.numel() * tensor.element_size()
        self.bytes_sent += nbytes
        if self.keep_log:
            self.log.append(Message("sent", dst, kind, tuple(tensor.shape), str(tensor.dtype), nbytes, self.step))

    def recv(self, src: int, shape, dtype=torch.float32, kind: str = "") -> torch.Tensor:
        started = time.perf_counter()
        out = self.inner.recv(src, shape, dtype, kind)
        self.seconds += time.perf_counter() - started
        nbytes = out.numel() * out.element_size()
        self.bytes_received += nbytes
        if self.keep_log:
            self.log.append(Message("received", src, kind, tuple(out.shape), str(out.dtype), nbytes, self.step))
        return out

    def counters(self) -> tuple[int, int, float]:
        return self.bytes_sent, self.bytes_received, self.seconds


def send_json(transport, obj, dst: int, kind: str) -> None:
    """A small JSON document (handshakes, evaluation summaries) as a length and a uint8 tensor."""
    import json

    data = torch.frombuffer(bytearray(json.dumps(obj).encode()), dtype=torch.uint8)
    transport.send(torch.tensor([data.numel()], dtype=torch.int64), dst, kind + ":length")
    transport.send(data, dst, kind)


def recv_json(transport, src: int, kind: str):
    import json

    n = int(transport.recv(src, (1,), torch.int64, kind + ":length")[0])
    return json.loads(bytes(transport.recv(src, (n,), torch.uint8, kind).tolist()).decode())
