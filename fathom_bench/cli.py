"""Command line: parse, call, print. Exit codes: 0 ok, 1 check found a regression (or runs failed),
2 bad input (one line on stderr naming the file, column or option)."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from .errors import BadInput
from .federated.options import add_arguments as add_federated_arguments
from .runner.execution import add_options as add_execution_options


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, exit 2, no usage dump
        raise BadInput(f"{self.prog}: {message} (see --help)")


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--protocol", default="corrected",
                   help="corrected (default) | paper | forecast (regression datasets only) | all (the three) | both (corrected and paper)")
    p.add_argument("--data-dir", help="data home (default: $FATHOM_BENCH_DATA, else datasets/ of the checkout)")
    p.add_argument("--out", help="output folder (records under <out>/runs)")
    p.add_argument("--wandb", help="offline | online | disabled (default: $WANDB_MODE, else "
                   "online with an API key, else offline)")
    p.add_argument("--max-epochs", type=int, help="override the epoch budget")
    p.add_argument("--save-predictions", action="store_true", help="also write test predictions (.npz)")
    p.add_argument("--save-attention", action="store_true",
                   help="also write FATHOM's task and temporal attention on the test windows (.attention.npz)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.add_argument("--threads", type=int, default=1,
                   help="torch threads per run (default 1: bit-identical results whatever the core count)")
    _set_option(p)
    add_execution_options(p)


def _set_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", dest="set",
                   help="override a method hyperparameter (repeatable; enters the config hash), "
                        "e.g. --set shared_from=lstm")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="fathom_bench", description=__doc__)
    sub = parser.add_subparsers(dest="command", parser_class=_Parser)

    p = sub.add_parser("datasets", help="status of the datasets; `datasets download NAME` fetches one; "
                       "`datasets cards` rewrites the cards' generated impossible-value tables")
    p.add_argument("action", nargs="?", choices=["download", "cards"], help="download NAME | cards")
    p.add_argument("name", nargs="?")
    p.add_argument("--data-dir")

    p = sub.add_parser("reproduce", help="run a table's grid and write the table")
    p.add_argument("--table", default="3", help="3 (Table III), a table config name, or a path to one")
    p.add_argument("--budget", default="standard", help="quick | standard (default: each dataset's budget "
                   "chosen by the budget study) | full (the scripts' epochs and patience)")
    p.add_argument("--quick", action="store_true", help="alias of --budget quick: the full grid on a small "
                   "budget (marked quick; never ranked)")
    p.add_argument("--seeds", type=int, help="number of paired seeds (default: the table's per protocol, Table III 10 and paper 3; 2 with --quick)")
    p.add_argument("--datasets", nargs="+")
    p.add_argument("--methods", nargs="+")
    p.add_argument("--figures", action="store_true", help="then draw the paper's figures (see `figures`)")
    p.add_argument("--plan", action="store_true", help="print the runs left and their estimated cost; train nothing")
    _common(p)
    add_federated_arguments(p)

    p = sub.add_parser("budget-study", help="every dataset x method at the full budget (seed 0, per-epoch "
                       "validation metrics); writes results/budget-study.md/.csv/.png and the standard budget it supports")
    p.add_argument("--table", default="3")
    p.add_argument("--datasets", nargs="+")
    p.add_argument("--methods", nargs="+", help="default: the table's methods")
    p.add_argument("--protocol", nargs="+", default=None, help="corrected and/or forecast (default both)")
    p.add_argument("--out", help="records folder (default results/budget-study)")
    p.add_argument("--report", help="folder for budget-study.md/.csv/.png (default results/)")
    p.add_argument("--report-only", action="store_true", help="write the report from the records; train nothing")
    p.add_argument("--max-epochs", type=int, help="cap every run's epochs (a shorter study; the report says "
                   "what each run's budget was)")
    p.add_argument("--plan", action="store_true", help="print the runs left and their estimated cost; train nothing")
    p.add_argument("--data-dir")
    p.add_argument("--wandb")
    p.add_argument("--no-progress", action="store_true")
    add_execution_options(p)

    p = sub.add_parser("train", help="one run")
    p.add_argument("--dataset", required=True)
    p.add_argument("--method", required=True)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--budget", default="full", help="quick | standard | full (default: the scripts' budget)")
    p.add_argument("--quick", action="store_true", help="alias of --budget quick")
    _common(p)
    add_federated_arguments(p)

    sub.add_parser("methods", help="every known method with its source and paper")

    p = sub.add_parser("evaluate", help="run a method with the stored runs' paired seeds; update the leaderboard")
    p.add_argument("--method", required=True)
    p.add_argument("--seeds", type=int)
    p.add_argument("--datasets", nargs="+")
    p.add_argument("--results", default=None, help="stored runs (default: results/reference)")
    p.add_argument("--protocol", default="corrected")
    p.add_argument("--data-dir")
    p.add_argument("--wandb")
    p.add_argument("--out", help="folder for leaderboard.md (default: results/ for the reference runs, "
                   "else the --results folder)")
    p.add_argument("--allow-quick", action="store_true", help="pair with quick-budget records and rank them "
                   "(marked QUICK); without it the leaderboard refuses them")
    p.add_argument("--no-progress", action="store_true")
    _set_option(p)
    add_execution_options(p)

    p = sub.add_parser("leaderboard", help="rank every method from run records")
    p.add_argument("--results", default=None, help="run records (default: results/reference)")
    p.add_argument("--protocol", default="corrected")
    p.add_argument("--format", nargs="+", default=["md"], choices=["md", "csv", "html"])
    p.add_argument("--allow-quick", action="store_true", help="rank quick-budget records anyway (every page "
                   "then says QUICK); without it they are refused")
    p.add_argument("--out", help="folder for leaderboard.* (default: results/ for the reference runs, "
                   "else the --results folder)")

    p = sub.add_parser("check", help="compare run metrics with a committed reference; exit 1 on a regression")
    p.add_argument("--results", required=True)
    p.add_argument("--reference", required=True)
    p.add_argument("--rtol", type=float)
    p.add_argument("--atol", type=float)
    p.add_argument("--statistical", action="store_true",
                   help="re-run seeds vs reference seeds on a table's columns: one family per column, one-sided")
    p.add_argument("--table", default="3", help="--statistical: the table whose columns are tested (default 3)")
    p.add_argument("--alpha", type=float, default=0.05)
    p.add_argument("--write", action="store_true", help="write the reference from --results instead")

    p = sub.add_parser("figures", help="the paper's Figs. 2-4 from saved attention and records (no training)")
    p.add_argument("--results", default=None, help="a results folder with runs/ (default: results/reference)")
    p.add_argument("--out", help="folder for figures/ (default: the --results folder)")
    p.add_argument("--protocol", help="only this protocol's runs (default: every protocol found)")

    p = sub.add_parser("publish", help="from results/reference alone: its Table III files, results/leaderboard.*, "
                       "results/errata.* and README.md's Table III and findings block")
    p.add_argument("--results", default=None, help="run records (default: results/reference)")
    p.add_argument("--out", help="folder for leaderboard and errata (default: results/)")
    p.add_argument("--tables-out", help="folder for the Table III files (default: the --results folder)")
    p.add_argument("--readme", help="the file whose block is rewritten (default: README.md of the checkout)")

    p = sub.add_parser("errata", help="every published Table III cell: its source, our values, a verdict")
    p.add_argument("--results", default=None, help="run records (default: results/reference)")
    p.add_argument("--sources", help="the sources file (default: configs/tables/table3_sources.csv)")
    p.add_argument("--out", help="folder for errata.md and errata.csv (default: results/)")
    return parser


def _interrupt_on_sigterm(signum, frame):
    raise KeyboardInterrupt("SIGTERM")


def main(argv: list[str] | None = None) -> int:
    from . import commands

    # SIGTERM (a scheduler's cancel, `kill`, the end of a session) stops like Ctrl-C: executors
    # stop their workers, and the message and exit status say what happened
    in_main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _interrupt_on_sigterm) if in_main_thread else None
    try:
        args = build_parser().parse_args(argv)
        if not args.command:
            build_parser().print_help()
            return 2
        return getattr(commands, args.command.replace("-", "_"))(args)
    except BadInput as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # output piped into `head` and closed: not an error
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:
        print("interrupted: finished runs are recorded; run the same command again to resume", file=sys.stderr)
        return 130
    finally:
        if in_main_thread:
            signal.signal(signal.SIGTERM, previous)
