"""This machine: `--jobs 1` runs in this process, one run after another; `--jobs N` runs N at once,
each in its own spawned process with the run's own thread count (OMP/MKL pinned before torch
loads, `torch.set_num_threads` per run), so records are bit-identical to `--jobs 1` on CPU.

Stopping the grid (Ctrl-C, SIGTERM) kills its workers: a worker left alone would finish its fit and
then take the next queued run. Their checkpoints keep the fits for the next invocation. Workers of a
grid killed outright (SIGKILL) exit by themselves (`start_worker`)."""

from __future__ import annotations

import multiprocessing
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Iterator

from ...errors import BadInput
from .task import Outcome, RunTask, execute, start_worker


class Executor:
    def __init__(self, jobs: int = 1, threads: int = 1, **_other):
        self.jobs, self.threads = jobs, threads

    def check(self) -> None:
        if self.jobs < 1:
            raise BadInput(f"--jobs: needs at least 1, not {self.jobs}")

    def run(self, tasks: list[RunTask]) -> Iterator[Outcome]:
        if self.jobs == 1 or len(tasks) <= 1:
            for task in tasks:
                yield execute(task)
            return
        pool = ProcessPoolExecutor(max_workers=min(self.jobs, len(tasks)), initializer=start_worker,
                                   initargs=(self.threads,), mp_context=multiprocessing.get_context("spawn"))
        try:
            futures = {pool.submit(execute, task): task for task in tasks}
            pending = set(futures)
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    try:
                        yield future.result()
                    except BadInput:
                        raise
                    except BrokenProcessPool as exc:  # a worker died (killed, out of memory): no record
                        yield Outcome(futures[future].run.key, "lost", f"worker process died: {exc}")
        except (KeyboardInterrupt, SystemExit, GeneratorExit):  # stopped, or the grid stopped reading
            _kill_workers(pool)
            raise
        finally:
            pool.shutdown(wait=True, cancel_futures=True)


def _kill_workers(pool: ProcessPoolExecutor) -> None:
    """SIGKILL every worker now: queued runs already handed to a worker cannot be cancelled, and a
    run under way would otherwise keep the grid waiting until its fit ends."""
    if hasattr(pool, "kill_workers"):  # Python 3.14
        pool.kill_workers()
        return
    for process in list((getattr(pool, "_processes", None) or {}).values()):
        if process.is_alive():
            process.kill()
