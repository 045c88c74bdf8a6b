"""``python -m bench``: run the benchmarks, print one line per figure, write results/latest.json.

    .venv/bin/python -m bench                 # everything, full sizes, 3 runs
    .venv/bin/python -m bench --quick         # small sizes, two rounds a run
    .venv/bin/python -m bench --only validation --runs 5 --rounds 7
    .venv/bin/python -m bench --readme        # README.md's results table from latest.json
    .venv/bin/python -m bench --readme --readme-also results/scale.json  # and an --only run's

The whole benchmark runs ``--runs`` times; in each run every figure and its baseline run
alternately for ``--rounds`` rounds and the run's figure is the median of its rounds. What is
reported is the median of the runs, with their min and max; the ratio to the baseline is what to
compare across days and machines.
"""

from __future__ import annotations

import argparse
import importlib
import signal
import sys
import time
from pathlib import Path

from . import report, speed
from .measure import HEADER, Results, machine
from .processes import Workspace
from .studies import Sizes

FIGURES = ("validation", "pipeline", "upload", "download", "pages", "viewer", "scale")
RESULTS = Path(__file__).resolve().parent / "results" / "latest.json"
README = Path(__file__).resolve().parent.parent / "README.md"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes and two rounds")
    parser.add_argument("--only", default="", help=f"comma-separated subset of {','.join(FIGURES)}")
    parser.add_argument("--rounds", type=int, default=None, help="rounds per run (5; quick 2)")
    parser.add_argument("--runs", type=int, default=3, help="full runs of every module (3)")
    parser.add_argument(
        "--readme",
        action="store_true",
        help="only rewrite README.md's results block from the JSON (--out), measuring nothing",
    )
    parser.add_argument(
        "--no-install",
        dest="install",
        action="store_false",
        help="never apt-get install dcmtk or wrk; skip those baselines instead",
    )
    parser.add_argument(
        "--readme-also",
        type=Path,
        action="append",
        default=[],
        metavar="JSON",
        help="with --readme: another results file (an --only run) whose figures join the table",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (logs)")
    parser.add_argument("--out", type=Path, default=RESULTS, help="where to write the JSON")
    sizes = parser.add_argument_group("sizes (ignored with --quick)")
    default = Sizes()
    sizes.add_argument("--mr-slices", type=int, default=default.mr_slices)
    sizes.add_argument("--ct-slices", type=int, default=default.ct_slices)
    sizes.add_argument("--side", type=int, default=default.mr_side, help="MR/CT slice side")
    sizes.add_argument("--mg-rows", type=int, default=default.mg_rows)
    sizes.add_argument("--mg-columns", type=int, default=default.mg_columns)
    sizes.add_argument("--upload-mb", type=int, default=2048, help="size of the upload (MiB)")
    sizes.add_argument("--cases", type=int, default=10_000, help="cases in the database")
    sizes.add_argument(
        "--scale-cases", type=int, default=100_000, help="cases in the scale figure's database"
    )
    return parser


def _options(argv: list[str]) -> argparse.Namespace:
    options = _parser().parse_args(argv)
    wanted = [name.strip() for name in options.only.split(",") if name.strip()] or list(FIGURES)
    unknown = sorted(set(wanted) - set(FIGURES))
    if unknown:
        _parser().error(f"unknown figure(s): {', '.join(unknown)}; choose from {FIGURES}")
    options.figures = [name for name in FIGURES if name in wanted]
    if options.rounds is None:
        options.rounds = 2 if options.quick else 5
    if options.runs < 1 or options.rounds < 1:
        _parser().error("--runs and --rounds must be at least 1")
    options.sizes = Sizes(
        mr_slices=options.mr_slices,
        mr_side=options.side,
        ct_slices=options.ct_slices,
        ct_side=options.side,
        mg_rows=options.mg_rows,
        mg_columns=options.mg_columns,
    )
    if options.quick:
        options.sizes = Sizes.quick()
        options.upload_mb = min(options.upload_mb, 64)
        options.cases = min(options.cases, 500)
        options.scale_cases = min(options.scale_cases, 2_000)
    return options


def _terminate(signum, frame):  # a SIGTERM cleans up like Ctrl-C does
    raise KeyboardInterrupt


def main(argv: list[str]) -> int:
    options = _options(argv)
    if options.readme:
        report.rewrite_readme(README, options.out, options.readme_also)
        print(f"bench: rewrote the results block of {README} from {options.out}")
        return 0
    signal.signal(signal.SIGTERM, _terminate)
    before = machine()
    print(
        f"bench: {before['cpu']} x{before['cores']}, {before['memory_gib']} GiB, "
        f"load {before['load_average']}; runs={options.runs} rounds={options.rounds}"
        + (" (quick)" if options.quick else ""),
        flush=True,
    )
    results = Results()
    workspace = Workspace(keep=options.keep)
    failed = False
    try:
        for run in range(1, options.runs + 1):
            results.start_run()
            print(f"bench: run {run} of {options.runs}", flush=True)
            try:
                speed.measure(results, workspace, options)
            except KeyboardInterrupt:
                raise
            except Exception as exc:  # the day's speed is context, not a figure
                results.note(f"machine speed not measured in run {run}: {exc!r}")
            print(HEADER, flush=True)
            for name in options.figures:
                module = importlib.import_module(f"bench.{name}")
                started = time.perf_counter()
                try:
                    module.run(results, workspace, options)
                except KeyboardInterrupt:
                    raise
                except Exception as exc:  # one broken figure must not hide the others
                    failed = True
                    results.skip(name, f"failed in run {run}: {exc!r}")
                    import traceback

                    traceback.print_exc()
                print(f"bench: {name} took {time.perf_counter() - started:.0f} s", flush=True)
    except KeyboardInterrupt:
        print("bench: interrupted; cleaning up", file=sys.stderr)
        failed = True
    finally:
        workspace.close()
    results.write(options.out, options=_recorded(options), machine_before=before)
    print(f"bench: wrote {options.out}")
    print(report.summary_lines(report.load(options.out)), flush=True)
    return 1 if failed else 0


def _recorded(options: argparse.Namespace) -> dict:
    return {
        "quick": options.quick,
        "runs": options.runs,
        "rounds": options.rounds,
        "figures": options.figures,
        "sizes": vars(options.sizes),
        "upload_mb": options.upload_mb,
        "cases": options.cases,
        "scale_cases": options.scale_cases,
    }


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
