"""``python -m bench``: run the benchmarks, print one line per figure, write results/latest.json.

    .venv/bin/python -m bench                 # everything, full sizes (10-12 minutes on 2 cores)
    .venv/bin/python -m bench --quick         # small sizes, two rounds (~1.5 minutes)
    .venv/bin/python -m bench --only validation,pages --rounds 7

Every figure is the median of several rounds in which the benchmark and its baseline ran
alternately; the ratio between them is what to compare across runs and machines.
"""

from __future__ import annotations

import argparse
import importlib
import signal
import sys
import time
from pathlib import Path

from .measure import HEADER, Results, machine
from .processes import Workspace
from .studies import Sizes

FIGURES = ("validation", "pipeline", "upload", "download", "pages")
RESULTS = Path(__file__).resolve().parent / "results" / "latest.json"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes and two rounds")
    parser.add_argument("--only", default="", help=f"comma-separated subset of {','.join(FIGURES)}")
    parser.add_argument("--rounds", type=int, default=None, help="rounds per figure (5; quick 2)")
    parser.add_argument(
        "--no-install",
        dest="install",
        action="store_false",
        help="never apt-get install dcmtk or wrk; skip those baselines instead",
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
    return options


def _terminate(signum, frame):  # a SIGTERM cleans up like Ctrl-C does
    raise KeyboardInterrupt


def main(argv: list[str]) -> int:
    options = _options(argv)
    signal.signal(signal.SIGTERM, _terminate)
    before = machine()
    print(
        f"bench: {before['cpu']} x{before['cores']}, {before['memory_gib']} GiB, "
        f"load {before['load_average']}; rounds={options.rounds}"
        + (" (quick)" if options.quick else ""),
        flush=True,
    )
    results = Results()
    workspace = Workspace(keep=options.keep)
    failed = False
    try:
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
                results.skip(name, f"failed: {exc!r}")
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
    return 1 if failed else 0


def _recorded(options: argparse.Namespace) -> dict:
    return {
        "quick": options.quick,
        "rounds": options.rounds,
        "figures": options.figures,
        "sizes": vars(options.sizes),
        "upload_mb": options.upload_mb,
        "cases": options.cases,
    }


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
