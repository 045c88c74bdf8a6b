"""README's results block is generated from a results file: every figure, its median of the
runs, min-max, target and verdict, and nothing outside the markers changes."""

import json
from pathlib import Path

import pytest

from bench import report

FIXTURE = Path(__file__).resolve().parent / "bench_data" / "latest.json"
README = f"# Title\n\nBefore.\n\n{report.START}\nstale table\n{report.END}\n\nAfter.\n"


def _rows(block: str) -> dict[str, list[str]]:
    rows = {}
    for line in block.splitlines():
        if line.startswith("| `"):
            cells = [cell.strip() for cell in line.strip("|").split("|")]
            rows[cells[0].strip("`")] = cells
    return rows


def test_every_figure_gets_a_row_with_median_spread_target_and_verdict():
    document = report.load(FIXTURE)
    rows = _rows(report.table(document))

    assert set(rows) == {figure["name"] for figure in document["figures"]}
    mr = rows["validation.mr.study_time_vs_raw"]
    assert mr[1] == "0.125 s (0.12-0.131)"
    assert mr[2] == "raw read of every byte, 2 processes: 0.1 s"
    assert mr[3] == "1.25x (1.1-1.4)"
    assert mr[4:] == ["ratio <= 1.5", "met"]
    assert rows["validation.mg.study_time_vs_raw"][3:] == [
        "4.5x (4-5.25)",
        "ratio <= 3",
        "**missed**",
    ]
    memory = rows["validation.mr.peak_memory"]
    assert memory[1] == "21.0 MB (20.5-23.0)" and memory[3] == "" and memory[5] == "met"


def test_the_block_says_where_the_figures_come_from_and_the_days_speed():
    block = report.table(report.load(FIXTURE))

    assert "3 runs of 5 alternated rounds" in block
    assert "2026-01-02 03:04 UTC" in block
    assert "dcmtk `dcmdump` header read 1,796 files/s (1,700-1,850)" in block
    assert "Skipped: pages: failed in run 2" in block


def test_rewrite_replaces_only_the_marked_block(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text(README)

    report.rewrite_readme(readme, FIXTURE)

    text = readme.read_text()
    assert "stale table" not in text
    assert text.startswith("# Title\n\nBefore.\n\n" + report.START + "\n")
    assert text.endswith(report.END + "\n\nAfter.\n")
    assert "`validation.mg.study_time_vs_raw`" in text
    # Run again: the same text, not a second table.
    report.rewrite_readme(readme, FIXTURE)
    assert readme.read_text() == text


def test_a_verdict_comes_from_the_file_not_from_the_generator(tmp_path):
    document = json.loads(FIXTURE.read_text())
    document["figures"][0]["met"] = False
    rows = _rows(report.table(document))
    assert rows["validation.mr.study_time_vs_raw"][5] == "**missed**"


def test_a_readme_without_markers_is_refused():
    with pytest.raises(ValueError, match="bench:results:start"):
        report.rewrite("# no markers\n", report.load(FIXTURE))


def test_figures_of_another_run_join_the_table_with_when_they_were_taken():
    document = report.load(FIXTURE)
    other = json.loads(json.dumps(document))
    other["started_at"] = "2026-02-03T04:05:00+00:00"
    other["options"]["figures"] = ["scale"]
    other["skipped"] = []
    for figure in other["figures"]:
        figure["name"] = figure["name"].replace("validation.", "scale.")
    block = report.table(document, [other])

    rows = _rows(block)
    assert set(rows) == {f["name"] for f in document["figures"] + other["figures"]}
    assert rows["scale.mr.study_time_vs_raw"][1:] == rows["validation.mr.study_time_vs_raw"][1:]
    assert "- run of 2026-02-03 04:05 UTC" in block
    assert "modules scale" in block
