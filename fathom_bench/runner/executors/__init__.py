"""Where a run executes: one module per executor, found by name (no registry to edit).

An executor module defines `Executor(**options)` with
- `check()`: raises `BadInput` (one line) when it cannot start; called before anything is submitted;
- `run(tasks) -> Iterator[Outcome]`: runs `task.execute` on every `RunTask` and yields one
  `Outcome` per task as it finishes (or, for a detached submission, none).
The grid plans, resumes and shows progress; executors only run. Every executor writes the same
atomic records through `task.execute`.
"""

from __future__ import annotations

import importlib
import pkgutil

from ...errors import BadInput

NOT_EXECUTORS = {"task"}


def available() -> list[str]:
    """Names of the executor modules in this package."""
    return sorted(m.name for m in pkgutil.iter_modules(__path__) if m.name not in NOT_EXECUTORS
                  and not m.name.startswith("_"))


def get_executor(name: str, **options):
    if name not in available():
        raise BadInput(f"--executor: unknown executor {name!r}; choose one of {', '.join(available())}")
    module = importlib.import_module(f"{__name__}.{name}")
    return module.Executor(**options)
