"""Load on a page over loopback: wrk when it is installed, else a small Python generator.

Both keep a few connections open and send requests back to back for a fixed time; both report
requests/s and latency percentiles. Every request goes to 127.0.0.1 and the loop stops on its own.
"""

from __future__ import annotations

import http.client
import re
import subprocess
import threading
import time
from dataclasses import dataclass

CONNECTIONS = 4  # two sync gunicorn workers, each with one request queued behind it
TIMEOUT = 60  # seconds; a page slower than this is broken, not slow


@dataclass
class Load:
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    errors: int


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def _ms(text: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()  # type: ignore[union-attr]
    return float(number) * _UNITS[unit]


def with_wrk(wrk: str, url: str, cookie: str, seconds: float) -> Load:
    argv = [wrk, "-t1", f"-c{CONNECTIONS}", f"-d{max(int(seconds), 1)}s", "--latency"]
    argv += ["--timeout", f"{TIMEOUT}s"]  # wrk's default (2 s) counts a slow page as an error
    argv += ["-H", f"Cookie: {cookie}", url]
    out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p50 = _ms(re.search(r"\s50%\s+(\S+)", out).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"\s99%\s+(\S+)", out).group(1))  # type: ignore[union-attr]
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errors = re.search(r"Socket errors:.*", out)
    count = int(bad.group(1)) if bad else 0
    if errors:
        count += sum(int(n) for n in re.findall(r"\d+", errors.group(0)))
    return Load(rate, p50, p99, count)


def with_python(url: str, cookie: str, seconds: float) -> Load:
    match = re.fullmatch(r"http://([^:/]+):(\d+)(/.*)", url)
    host, port, path = match.group(1), int(match.group(2)), match.group(3)  # type: ignore[union-attr]
    deadline = time.perf_counter() + seconds
    latencies: list[list[float]] = [[] for _ in range(CONNECTIONS)]
    errors = [0] * CONNECTIONS

    def client(index: int) -> None:
        connection = http.client.HTTPConnection(host, port, timeout=TIMEOUT)
        mine = latencies[index]
        while time.perf_counter() < deadline:
            start = time.perf_counter()
            try:
                connection.request("GET", path, headers={"Cookie": cookie})
                response = connection.getresponse()
                response.read()
                if response.status != 200:
                    errors[index] += 1
            except (OSError, http.client.HTTPException):
                errors[index] += 1
                connection.close()
                connection = http.client.HTTPConnection(host, port, timeout=TIMEOUT)
                continue
            mine.append((time.perf_counter() - start) * 1000)
        connection.close()

    started = time.perf_counter()
    threads = [threading.Thread(target=client, args=(i,)) for i in range(CONNECTIONS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    every = sorted(x for mine in latencies for x in mine)
    if not every:
        return Load(0.0, 0.0, 0.0, sum(errors))
    pick = lambda q: every[min(len(every) - 1, int(q * len(every)))]  # noqa: E731
    return Load(len(every) / elapsed, pick(0.50), pick(0.99), sum(errors))
