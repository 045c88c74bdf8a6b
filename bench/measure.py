"""Rounds, medians, figures and memory readings shared by every benchmark.

A figure is always a ratio against a baseline measured in the same run: the machine is shared
and noisy, so absolute numbers drift while same-run ratios hold. Contenders run alternately,
round after round, their order rotated each round so none always runs first (or right after a
noisy neighbour's burst).

A whole benchmark runs several times (``--runs``, 3 by default): each run takes its figures in
its own alternated rounds, and what is reported is the median of the runs with their min and
max, so a figure that one run caught on a noisy minute shows as a wide spread, not as a result.
"""

from __future__ import annotations

import json
import os
import platform
import socket
import statistics
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Target:
    """One condition a figure must meet: on its value or on its ratio to the baseline."""

    on: str  # "value" or "ratio"
    op: str  # ">=" or "<=" or "=="
    limit: float
    unit: str = ""

    def met(self, value: float, ratio: float | None) -> bool | None:
        x = value if self.on == "value" else ratio
        if x is None:
            return None
        if self.op == ">=":
            return x >= self.limit
        if self.op == "<=":
            return x <= self.limit
        return abs(x - self.limit) < 1e-9

    def __str__(self) -> str:
        limit = f"{self.limit:g}"
        if self.on == "ratio":
            return f"ratio {self.op} {limit}"
        return f"{self.op} {limit}{' ' + self.unit if self.unit else ''}"


def at_least(limit: float, *, ratio: bool = True, unit: str = "") -> Target:
    return Target("ratio" if ratio else "value", ">=", limit, unit)


def at_most(limit: float, *, ratio: bool = True, unit: str = "") -> Target:
    return Target("ratio" if ratio else "value", "<=", limit, unit)


def equal(limit: float, *, ratio: bool = True) -> Target:
    return Target("ratio" if ratio else "value", "==", limit)


@dataclass
class Figure:
    """One line of the results: a median, its baseline's median and the target."""

    name: str
    value: float
    unit: str
    baseline: str
    baseline_value: float | None
    targets: tuple[Target, ...] = ()
    detail: str = ""
    samples: list[float] = field(default_factory=list)
    baseline_samples: list[float] = field(default_factory=list)

    @property
    def ratio(self) -> float | None:
        if self.baseline_value in (None, 0):
            return None
        return self.value / self.baseline_value

    @property
    def met(self) -> bool | None:
        if not self.targets:
            return None
        results = [target.met(self.value, self.ratio) for target in self.targets]
        if any(result is None for result in results):
            return None
        return all(results)

    @property
    def target(self) -> str | None:
        return " and ".join(str(t) for t in self.targets) or None

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "value": _rounded(self.value),
            "unit": self.unit,
            "baseline": self.baseline,
            "baseline_value": _rounded(self.baseline_value),
            "ratio": _rounded(self.ratio),
            "target": self.target,
            "met": self.met,
            "detail": self.detail,
            "samples": [_rounded(s) for s in self.samples],
            "baseline_samples": [_rounded(s) for s in self.baseline_samples],
        }

    def line(self) -> str:
        ratio = "" if self.ratio is None else f"{self.ratio:7.2f}x"
        baseline = "" if self.baseline_value is None else _number(self.baseline_value)
        verdict = {True: "met", False: "MISSED", None: ""}[self.met]
        target = self.target or ""
        return (
            f"{self.name:<34} {_number(self.value):>10} {self.unit:<9} "
            f"{baseline:>10} {ratio:>8}  {target:<32} {verdict:<6} {self.baseline}"
        )


HEADER = (
    f"r {'figure':<34} {'median':>10} {'unit':<9} {'baseline':>10} {'ratio':>8}  "
    f"{'target':<32} {'':<6} baseline"
)


def _number(x: float | None) -> str:
    if x is None:
        return ""
    if abs(x) >= 100:
        return f"{x:,.0f}"
    if abs(x) >= 10:
        return f"{x:.1f}"
    return f"{x:.3g}"


def _rounded(x: float | None) -> float | None:
    if x is None:
        return None
    return float(f"{x:.4g}")


def median(samples: list[float]) -> float:
    return statistics.median(samples)


def alternate(
    rounds: int, contenders: Mapping[str, Callable[[], float]], *, warmup: bool = True
) -> dict[str, list[float]]:
    """Run each contender once per round, rotating the order; return their samples.

    A contender returns the number it measured (seconds, files/s...). With ``warmup``, one
    unrecorded round first fills caches and starts lazy imports in every process.
    """
    names = list(contenders)
    samples: dict[str, list[float]] = {name: [] for name in names}
    if warmup:
        for name in names:
            contenders[name]()
    for index in range(rounds):
        shift = index % len(names)
        for name in names[shift:] + names[:shift]:
            samples[name].append(contenders[name]())
    return samples


def timed(action: Callable[[], object]) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


# --- memory of a process (Linux /proc) ------------------------------------------------------


def _status_kib(pid: int | str, key: str) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def rss_mb(pid: int | str = "self") -> float:
    return _status_kib(pid, "VmRSS") / 1024


def peak_rss_mb(pid: int | str = "self") -> float:
    """The high-water mark of the resident set since start (or since reset_peak_rss)."""
    return _status_kib(pid, "VmHWM") / 1024


def reset_peak_rss(pid: int | str = "self") -> None:
    """Linux resets VmHWM to the current RSS when "5" is written to clear_refs."""
    with open(f"/proc/{pid}/clear_refs", "w") as refs:
        refs.write("5")


def tree_pids(root: int) -> list[int]:
    """``root`` and every live descendant (forked helpers included), from /proc."""
    found, frontier = [], [root]
    while frontier:
        pid = frontier.pop()
        found.append(pid)
        try:
            with open(f"/proc/{pid}/task/{pid}/children") as children:
                frontier.extend(int(child) for child in children.read().split())
        except OSError:  # it ended while we looked
            continue
    return found


def pss_mb(pid: int) -> float:
    """The process's proportional set size: its private pages plus its share of shared ones,
    so the processes of a tree sum to the memory they use together (a forked helper's pages
    shared with its parent count once, not twice)."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as rollup:
            for line in rollup:
                if line.startswith("Pss:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def tree_pss_mb(root: int) -> float:
    return sum(pss_mb(pid) for pid in tree_pids(root))


class TreeMemory:
    """The peak of the SUM of a process tree's memory while a block runs, sampled from /proc.

    Peak memory of one process (VmHWM) misses what forked helpers hold at the same time; a sum
    of each process's own peak overstates it (peaks at different moments, shared pages counted
    in every process). This samples the whole tree's PSS every ``interval`` seconds from a
    thread and keeps the largest sum, minus the tree's memory before the block (or ``since``:
    the (PSS, RSS) of the root when it started, so that memory it kept from earlier calls
    counts too). A spike shorter than the interval (a frame read and freed within milliseconds)
    can fall between samples, so the root's own high-water mark (VmHWM, reset on entry) above
    the same start is a floor: the figure is the larger of the two.
    """

    def __init__(
        self, root: int, interval: float = 0.005, since: tuple[float, float] | None = None
    ) -> None:
        self.root, self.interval, self.since = root, interval, since
        self.start = self.peak = self.own_start = self.own_peak = 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, tree_pss_mb(self.root))
            self._stop.wait(self.interval)

    def __enter__(self) -> TreeMemory:
        reset_peak_rss(self.root)
        self.own_start = rss_mb(self.root)
        self.start = self.peak = tree_pss_mb(self.root)
        if self.since is not None:
            self.start, self.own_start = self.since
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.own_peak = peak_rss_mb(self.root)

    @property
    def above_start_mb(self) -> float:
        return max(self.peak - self.start, self.own_peak - self.own_start, 0.0)


# --- the machine ----------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory_kib = 0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory_kib = int(line.split()[1])
    except OSError:
        pass
    return {
        "hostname": socket.gethostname(),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": round(memory_kib / 1024 / 1024, 1),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }


def spread(values: list[float]) -> dict[str, Any]:
    """The median of the runs' values, their min and max, and the values themselves."""
    return {
        "median": _rounded(statistics.median(values)),
        "min": _rounded(min(values)),
        "max": _rounded(max(values)),
        "runs": [_rounded(v) for v in values],
    }


@dataclass
class Summary:
    """One figure over every run: each run measured it in its own alternated rounds.

    The figure is the median of the runs; min and max say how far the runs spread. A target on
    the ratio is judged on the median of the runs' ratios (each run's ratio comes from its own
    rounds), a target on the value on the median of their values.
    """

    name: str
    unit: str
    baseline: str
    targets: tuple[Target, ...]
    detail: str
    values: list[float] = field(default_factory=list)
    baseline_values: list[float] = field(default_factory=list)
    ratios: list[float] = field(default_factory=list)
    samples: list[list[float]] = field(default_factory=list)
    baseline_samples: list[list[float]] = field(default_factory=list)

    @classmethod
    def of(cls, figures: list[Figure]) -> Summary:
        first = figures[0]
        summary = cls(first.name, first.unit, first.baseline, first.targets, first.detail)
        for figure in figures:
            summary.values.append(figure.value)
            if figure.baseline_value is not None:
                summary.baseline_values.append(figure.baseline_value)
            if figure.ratio is not None:
                summary.ratios.append(figure.ratio)
            summary.samples.append(list(figure.samples))
            summary.baseline_samples.append(list(figure.baseline_samples))
        return summary

    @property
    def on(self) -> str:
        """What the headline figure is: the ratio when there is a baseline, else the value."""
        if self.ratios and (not self.targets or any(t.on == "ratio" for t in self.targets)):
            return "ratio"
        return "value"

    @property
    def met(self) -> bool | None:
        if not self.targets or not self.values:
            return None
        value = statistics.median(self.values)
        ratio = statistics.median(self.ratios) if self.ratios else None
        verdicts = [target.met(value, ratio) for target in self.targets]
        if any(verdict is None for verdict in verdicts):
            return None
        return all(verdicts)

    @property
    def target(self) -> str | None:
        return " and ".join(str(t) for t in self.targets) or None

    def to_json(self) -> dict[str, Any]:
        headline = self.ratios if self.on == "ratio" else self.values
        return {
            "name": self.name,
            "unit": self.unit,
            "baseline": self.baseline,
            "target": self.target,
            "met": self.met,
            "on": self.on,
            **spread(headline),
            "value": spread(self.values),
            "baseline_value": spread(self.baseline_values) if self.baseline_values else None,
            "ratio": spread(self.ratios) if self.ratios else None,
            "detail": self.detail,
            "samples": [[_rounded(s) for s in run] for run in self.samples],
            "baseline_samples": [[_rounded(s) for s in run] for run in self.baseline_samples],
        }


@dataclass
class Results:
    """What a run found: its figures run by run, the figures it skipped (and why), the machine's
    speed on the day (measured once per run)."""

    runs: list[list[Figure]] = field(default_factory=list)
    skipped: list[dict[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    speed: dict[str, dict[str, Any]] = field(default_factory=dict)
    started: float = field(default_factory=time.time)

    def start_run(self) -> int:
        self.runs.append([])
        return len(self.runs)

    @property
    def figures(self) -> list[Figure]:
        return [figure for run in self.runs for figure in run]

    def add(self, figure: Figure) -> Figure:
        if not self.runs:
            self.start_run()
        self.runs[-1].append(figure)
        print(f"{len(self.runs)} {figure.line()}", flush=True)
        return figure

    def skip(self, name: str, reason: str) -> None:
        entry = {"name": name, "reason": reason}
        if entry not in self.skipped:
            self.skipped.append(entry)
        print(f"{name:<34} skipped: {reason}", flush=True)

    def note(self, text: str) -> None:
        self.notes.append(text)
        print(f"note: {text}", flush=True)

    def record_speed(self, name: str, value: float, unit: str, how: str) -> None:
        """One run's reading of how fast the machine is today (not a figure: no target)."""
        entry = self.speed.setdefault(name, {"unit": unit, "how": how, "values": []})
        entry["values"].append(value)
        print(f"speed: {name} {_number(value)} {unit} ({how})", flush=True)

    def summaries(self) -> list[Summary]:
        by_name: dict[str, list[Figure]] = {}
        for figure in self.figures:
            by_name.setdefault(figure.name, []).append(figure)
        return [Summary.of(figures) for figures in by_name.values()]

    def document(self, *, options: Mapping[str, Any], machine_before: dict) -> dict[str, Any]:
        after = machine()
        return {
            "machine": {**machine_before, "load_average_end": after["load_average"]},
            "started_at": datetime.fromtimestamp(self.started, UTC).isoformat(),
            "duration_s": round(time.time() - self.started, 1),
            "options": dict(options),
            "runs": len(self.runs),
            "speed": {
                name: {"unit": entry["unit"], "how": entry["how"], **spread(entry["values"])}
                for name, entry in self.speed.items()
            },
            "figures": [summary.to_json() for summary in self.summaries()],
            "skipped": self.skipped,
            "notes": self.notes,
        }

    def write(self, path: Path, *, options: Mapping[str, Any], machine_before: dict) -> None:
        document = self.document(options=options, machine_before=machine_before)
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(".tmp")
        temporary.write_text(json.dumps(document, indent=2) + "\n")
        temporary.replace(path)


def as_dict(obj: Any) -> dict[str, Any]:
    return asdict(obj)
