"""`python -m bench --quick` keeps working: the cheapest figure runs and its results file has
the documented shape. No timing is asserted: the numbers depend on the machine and its load."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FIELDS = {"name", "unit", "baseline", "target", "met", "on", "median", "min", "max", "runs"}


def test_quick_validation_benchmark_writes_results_of_the_documented_shape(tmp_path):
    out = tmp_path / "latest.json"
    argv = ["--quick", "--only", "validation", "--no-install", "--runs", "2", "--rounds", "1"]
    done = subprocess.run(
        [sys.executable, "-m", "bench", *argv, "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]

    results = json.loads(out.read_text())
    assert results["machine"]["cores"] >= 1 and results["options"]["quick"] is True
    assert results["runs"] == 2 and results["options"]["runs"] == 2
    figures = {figure["name"]: figure for figure in results["figures"]}
    for name in ("study_time_vs_raw", "files_per_s_1_worker", "files_per_s_2_workers"):
        assert f"validation.mr.{name}" in figures
    assert "validation.mg.peak_memory" in figures
    for figure in figures.values():
        assert set(figure) >= FIELDS
        assert len(figure["runs"]) == 2 and figure["min"] <= figure["median"] <= figure["max"]
        assert figure["met"] in (True, False, None)
        headline = figure["ratio"] if figure["on"] == "ratio" else figure["value"]
        assert headline["median"] == figure["median"]
        if figure["baseline_value"]:
            # each run's ratio comes from its own rounds (none where the baseline measured 0)
            pairs = zip(figure["value"]["runs"], figure["baseline_value"]["runs"], strict=True)
            expected = [value / baseline for value, baseline in pairs if baseline]
            ratios = figure["ratio"]["runs"] if figure["ratio"] else []
            assert len(ratios) == len(expected)
            for ratio, wanted in zip(ratios, expected, strict=True):
                assert abs(ratio - wanted) < 0.01 * (ratio + 1)
    assert "validation.mr.study_time_vs_raw" in done.stdout  # one printed line per figure
