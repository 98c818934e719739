"""A federated run is its single-process run plus the number of nodes (part of its config hash, so
a federated record never stands in for a single-process one, nor the other way round)."""

from __future__ import annotations

from dataclasses import dataclass

from ..runner.spec import RunSpec


@dataclass(frozen=True)
class FederatedRunSpec(RunSpec):
    nodes: int = 1

    @classmethod
    def of(cls, run: RunSpec, nodes: int) -> "FederatedRunSpec":
        return cls(run.dataset, run.method, run.seed, run.protocol, run.trainer, dict(run.hparam_overrides), nodes)

    def config(self) -> dict:
        return {**super().config(), "federated": {"nodes": self.nodes}}
