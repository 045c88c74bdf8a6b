"""`python -m bench --quick` keeps working: the cheapest figure runs and its results file has
the documented shape. No timing is asserted: the numbers depend on the machine and its load."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FIELDS = {"name", "value", "unit", "baseline", "baseline_value", "ratio", "target", "met"}


def test_quick_validation_benchmark_writes_results_of_the_documented_shape(tmp_path):
    out = tmp_path / "latest.json"
    argv = ["--quick", "--only", "validation", "--no-install", "--rounds", "1", "--out", str(out)]
    done = subprocess.run(
        [sys.executable, "-m", "bench", *argv],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]

    results = json.loads(out.read_text())
    assert results["machine"]["cores"] >= 1 and results["options"]["quick"] is True
    figures = {figure["name"]: figure for figure in results["figures"]}
    for name in ("files_per_s", "study_time", "study_time_cold", "peak_memory"):
        assert f"validation.mr.{name}" in figures
    for figure in figures.values():
        assert set(figure) >= FIELDS
        assert isinstance(figure["value"], int | float) and figure["unit"]
        assert figure["met"] in (True, False, None)
        if figure["baseline_value"]:
            assert abs(figure["ratio"] - figure["value"] / figure["baseline_value"]) < 0.01 * (
                figure["ratio"] + 1
            )
    assert "validation.mr.study_time" in done.stdout  # one printed line per figure
