"""Rounds, medians, figures and memory readings shared by every benchmark.

A figure is always a ratio against a baseline measured in the same run: the machine is shared
and noisy, so absolute numbers drift while same-run ratios hold. Contenders run alternately,
round after round, their order rotated each round so none always runs first (or right after a
noisy neighbour's burst).
"""

from __future__ import annotations

import json
import os
import platform
import socket
import statistics
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
    f"{'figure':<34} {'median':>10} {'unit':<9} {'baseline':>10} {'ratio':>8}  "
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


@dataclass
class Results:
    """What a run found: its figures, the figures it skipped (and why), the machine."""

    figures: list[Figure] = field(default_factory=list)
    skipped: list[dict[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    started: float = field(default_factory=time.time)

    def add(self, figure: Figure) -> Figure:
        self.figures.append(figure)
        print(figure.line(), flush=True)
        return figure

    def skip(self, name: str, reason: str) -> None:
        self.skipped.append({"name": name, "reason": reason})
        print(f"{name:<34} skipped: {reason}", flush=True)

    def note(self, text: str) -> None:
        self.notes.append(text)
        print(f"note: {text}", flush=True)

    def write(self, path: Path, *, options: Mapping[str, Any], machine_before: dict) -> None:
        after = machine()
        document = {
            "machine": {**machine_before, "load_average_end": after["load_average"]},
            "started_at": datetime.fromtimestamp(self.started, UTC).isoformat(),
            "duration_s": round(time.time() - self.started, 1),
            "options": dict(options),
            "figures": [figure.to_json() for figure in self.figures],
            "skipped": self.skipped,
            "notes": self.notes,
        }
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(".tmp")
        temporary.write_text(json.dumps(document, indent=2) + "\n")
        temporary.replace(path)


def as_dict(obj: Any) -> dict[str, Any]:
    return asdict(obj)
