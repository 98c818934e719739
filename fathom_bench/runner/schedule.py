"""When the runs left would run, from `cost.estimate`'s RunCosts: the `--deadline` rule (which runs
start before it) and the `reproduce --plan` report (runs left per cell, CPU-hours, wall time on
the slots given, whether the jobs fit in memory)."""

from __future__ import annotations

import heapq
import os
import time
from collections import Counter, defaultdict
from pathlib import Path

from . import cost
from .cost import SCALE_CELLS, RunCost
from .memory import peak_rss_mb

#: --deadline: a run starts only while this many times its estimated duration fits before the deadline
#: (estimates are means over seeds; FitRec seeds of one method took 0.5x to 1.25x the mean, S-LSTM up to 2x)
DEADLINE_MARGIN = 1.25


def makespan(seconds: list[float], slots: int) -> float:
    """Wall time of the runs on `slots` parallel workers, longest run first to the least busy slot."""
    loads = [0.0] * max(1, slots)
    for s in sorted(seconds, reverse=True):
        heapq.heapreplace(loads, loads[0] + s)
    return max(loads)


def clock(seconds: float) -> str:
    """An epoch second as local date and time, as --deadline lines print it."""
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(seconds))


def start_by(run: RunCost, deadline: float) -> float:
    """The latest epoch second at which a run may start under --deadline (the grid's rule)."""
    return deadline - DEADLINE_MARGIN * run.seconds


def before_deadline(costs: list[RunCost], slots: int, now: float, deadline: float) -> tuple[list[RunCost], float]:
    """The runs that start before `deadline` when `slots` workers take them in order, each skipping
    a run whose start_by has passed (as the grid does), and when the last of them ends (estimate)."""
    free = [now] * max(1, slots)
    started, last = [], now
    for c in costs:
        at = heapq.heappop(free)
        if at <= start_by(c, deadline):
            started.append(c)
            at += c.seconds
            last = max(last, at)
        heapq.heappush(free, at)
    return started, last


def available_memory_mb() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (ValueError, OSError):
        return None


def plan_text(todo: list, planned: int, out: Path, execution, data_dir=None) -> str:
    """The --plan report of `reproduce` and `budget-study`: `todo` (the RunSpecs left of `planned`)
    costed and scheduled as `execution` (ExecutionOptions) would run them: a scheduler runs them as
    an array of `jobs` concurrent tasks."""
    read, records = cost.checkpoint_reader(), cost.known_records(out)  # each read once, for time and memory
    costs = cost.estimate(todo, out, data_dir, read=read, records=records)
    memory = peak_rss_mb([(c.dataset, c.method, c.protocol) for c in costs], out, read=read, records=records)
    return render_plan(costs, planned, execution.jobs, out, deadline=execution.deadline,
                       array_tasks=execution.jobs if execution.executor != "local" else None, memory=memory)


def render_plan(costs: list[RunCost], planned: int, jobs: int, out: Path, array_tasks: int | None = None,
                deadline: float | None = None, now: float | None = None, memory: dict | None = None) -> str:
    """The --plan report: runs left and their cost per dataset x protocol x method, totals, wall time,
    memory (`memory`: `memory.peak_rss_mb` of the cells, which `plan_text` reads; none: not measured),
    and with `deadline` which of them would start before it. It reads nothing itself."""
    lines = [f"{len(costs)} of {planned} runs left (the rest have valid records under {out / 'runs'})"]
    if not costs:
        return "\n".join(lines)
    groups: dict[tuple, list[RunCost]] = defaultdict(list)
    for c in costs:
        # one row per protocol: the same budget stops at very different epochs under each; and one per
        # source, so a run that resumes from its checkpoint is not shown as its cell's fresh runs
        groups[(c.dataset, c.protocol, c.method, c.epochs_source, c.epoch_seconds_from)].append(c)
    lines += ["", "| dataset | protocol | method | runs | epochs (source) | s/epoch from | min/run | CPU-hours |",
              "|---|---|---|---:|---|---|---:|---:|"]
    for (ds, proto, m, source, seconds_from), cs in groups.items():
        hours = sum(c.seconds for c in cs) / 3600
        lines.append(f"| {ds} | {proto} | {m} | {len(cs)} | {sum(c.epochs for c in cs) / len(cs):.0f} ({source}) | "
                     f"{seconds_from} | {hours * 60 / len(cs):.1f} | {hours:.2f} |")
    seconds = [c.seconds for c in costs]
    lines.append("")
    lines.append(f"total: {sum(seconds) / 3600:.2f} CPU-hours (one thread per run)")
    slots = array_tasks or jobs
    where = f"an array of {slots} concurrent tasks" if array_tasks else f"--jobs {jobs}"
    lines.append(f"wall time with {where}: {makespan(seconds, slots) / 3600:.2f} h "
                 f"(longest run: {max(seconds) / 60:.1f} min)")
    if deadline is not None:
        started, last = before_deadline(costs, slots, time.time() if now is None else now, deadline)
        left = Counter(c.method for c in costs) - Counter(c.method for c in started)
        lines.append(f"with --deadline {clock(deadline)}: {len(started)} of {len(costs)} runs start "
                     f"({sum(c.seconds for c in started) / 3600:.2f} CPU-hours, the last ending about {clock(last)}); "
                     "left for later: " + (", ".join(f"{m} {n}" for m, n in left.items()) or "none"))
    rss = memory or {}
    if rss:
        worst = max(v for v, _ in rss.values())
        lines.append("memory per job (measured peak RSS, the most of the cells left): "
                     + ", ".join(f"{d} {v / 1024:.1f} GiB ({whence})" for d, (v, whence) in rss.items()))
        free = available_memory_mb()
        if not array_tasks and free is not None and jobs * worst > free:
            lines.append(f"WARNING: --jobs {jobs} x {worst / 1024:.1f} GiB may not fit in the "
                         f"{free / 1024:.1f} GiB available; use --jobs {max(1, int(free // worst))}")
    else:
        lines.append("memory per job: not measured yet (no record with peak_rss_mb; see results/benchmarks)")
    lines.append("assumptions: seconds per epoch of finished runs of the cell (this processor's first), else "
                 "of its seeds saved mid-fit, else the budget study's (scaled by the median ratio of this processor's to the study's over the "
                 f"dataset's other cells, when >= {SCALE_CELLS}), else measured one-thread windows/s (results/benchmarks/windows_per_second.json) with "
                 "forward = 1/3 of a training step; epochs from finished records of the same budget (same protocol "
                 "first), else the budget study replayed at it (the method's own run; under paper, which has no study, its "
                 "corrected run times the median paper/corrected epochs of the dataset's other methods; else the dataset's other "
                 "methods: a guess), else max_epochs (an upper bound with early stopping); never fewer than "
                 "the cell's seeds saved mid-fit will train")
    return "\n".join(lines)
