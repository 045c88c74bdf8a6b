"""Long fuzzing of the DICOM and archive inspectors: the CI properties, with many more examples.

    .venv/bin/python fuzz/run.py --examples 200000     # rounds of 2,000 per property until then
    .venv/bin/python fuzz/run.py --minutes 5           # or for a while
    .venv/bin/python fuzz/run.py --only dicom          # properties whose name contains "dicom"

The properties are those of ``tests/security/test_fuzz.py`` (CI runs them derandomised, 10,000
examples); here every round draws fresh random examples. Prints one line per property, every
falsifying example hypothesis reports, and exits 1 if any property failed.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROUND = 2_000  # examples per property per round; each round draws new random examples
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ["FUZZ_ROUND_EXAMPLES"] = str(ROUND)

from tests.security import test_fuzz  # noqa: E402 (reads FUZZ_ROUND_EXAMPLES on import)

PROPERTIES: dict[str, Callable[..., None]] = {
    "mutated_dicom": test_fuzz.test_mutated_dicom_files_always_get_a_verdict,
    "generated_dicom": test_fuzz.test_generated_datasets_always_get_a_verdict,
    "after_dicm": test_fuzz.test_anything_after_a_dicm_marker_gets_a_verdict,
    "mutated_zip": test_fuzz.test_mutated_zips_always_get_a_verdict_and_never_escape,
    "generated_zip": test_fuzz.test_generated_zip_entries_always_get_a_verdict_and_never_escape,
}


@dataclass
class Tally:
    examples: int = 0
    seconds: float = 0.0
    failures: int = 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fuzz/run.py", description=__doc__.split("\n")[0])
    parser.add_argument("--examples", type=int, default=0, help="stop after this many in total")
    parser.add_argument("--minutes", type=float, default=0.0, help="stop after this long")
    parser.add_argument("--only", default="", help="run the properties whose name contains this")
    return parser


def run_round(name: str, prop: Callable[..., None], tally: Tally) -> None:
    """Run one round of fresh examples of one property, counting them and any failure."""
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="fuzz-") as work, test_fuzz.watched() as bounded:

        def counted(call):
            tally.examples += 1
            return bounded(call)

        try:
            prop(tmp_path=Path(work), bounded=counted)
        except Exception:  # a falsified property: report it and go on with the others
            tally.failures += 1
            print(f"FINDING in {name}:", file=sys.stderr)
            traceback.print_exc()
    tally.seconds += time.perf_counter() - started


def main(argv: list[str]) -> int:
    options = _parser().parse_args(argv)
    if not options.examples and not options.minutes:
        options.examples = 200_000
    chosen = {name: prop for name, prop in PROPERTIES.items() if options.only in name}
    tallies = {name: Tally() for name in chosen}
    deadline = time.monotonic() + options.minutes * 60 if options.minutes else None

    def done() -> bool:
        total = sum(t.examples for t in tallies.values())
        timed_out = deadline is not None and time.monotonic() > deadline
        return timed_out or bool(options.examples and total >= options.examples)

    while not done():
        for name, prop in chosen.items():
            if done():
                break
            run_round(name, prop, tallies[name])
    for name, tally in tallies.items():
        rate = tally.examples / tally.seconds if tally.seconds else 0.0
        print(
            f"{name:16s} {tally.examples:8,d} examples  {tally.seconds:7.1f} s  "
            f"{rate:6.0f}/s  findings: {tally.failures}"
        )
    total = sum(t.examples for t in tallies.values())
    findings = sum(t.failures for t in tallies.values())
    print(f"{'total':16s} {total:8,d} examples  findings: {findings}")
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
