"""What the test suite needs from this machine beyond Python packages, and how to get it.

One list, read by ``manage.py test`` before it starts pytest (CI runs that same command): the
browser, the libraries WeasyPrint loads, the servers the integration tests talk to, and the npm
packages. On Debian, as root, what is missing is installed (one line printed for each); anywhere
else the command stops with one sentence naming what to run. ``manage.py up`` needs none of it.
"""

from __future__ import annotations

import functools
import glob
import os
import shutil
import socket
import subprocess
import sys
import time
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = Path("/usr/bin/chromium")
# How the browser tests and the viewer benchmark start it: headless, no GPU, nothing phoning home,
# and no address-bar popup: Chromium builds it as two WebUI pages (about 400 chrome:// files) in
# every new window, on the same cores as the page under test, and a headless window never shows it.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--disable-features=WebUIOmniboxPopup,WebUIOmniboxAimPopup",
]
FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
LIBFAKETIME = "/usr/lib/*/faketime/libfaketime.so.1"


class SetupError(Exception):
    """Something the suite needs is missing and cannot be installed from here."""


@functools.cache
def _shared_libraries() -> str:
    return subprocess.run(["ldconfig", "-p"], capture_output=True, text=True, check=False).stdout


def _library(soname: str) -> Callable[[], bool]:
    return lambda: soname in _shared_libraries()


def _command(name: str) -> Callable[[], bool]:
    return lambda: shutil.which(name) is not None


@dataclass(frozen=True)
class Tool:
    """A program or library from Debian's packages, and what in the suite needs it."""

    name: str
    needed_for: str
    packages: tuple[str, ...]
    present: Callable[[], bool]


TOOLS: tuple[Tool, ...] = (
    Tool("Chromium", "the browser tests", ("chromium",), CHROMIUM.exists),
    Tool("Node.js and npm", "installing axe-core", ("nodejs", "npm"), _command("npm")),
    Tool(
        "Pango",
        "the PDFs (WeasyPrint)",
        ("libpango-1.0-0", "libpangoft2-1.0-0"),
        _library("libpangoft2-1.0.so.0"),
    ),
    Tool(
        "HarfBuzz's subsetter",
        "the PDFs (WeasyPrint)",
        ("libharfbuzz-subset0",),
        _library("libharfbuzz-subset.so.0"),
    ),
    Tool("DejaVu fonts", "the PDFs (WeasyPrint)", ("fonts-dejavu-core",), FONT.exists),
    Tool(
        "the PostgreSQL server",
        "the database tests",
        ("postgresql",),
        lambda: Path("/etc/postgresql").is_dir(),
    ),
    Tool("the Redis server", "the broker tests", ("redis-server",), _command("redis-server")),
)
FAKETIME = Tool(
    "libfaketime",
    "moving the suite's clock",
    ("faketime",),
    lambda: bool(glob.glob(LIBFAKETIME)),
)


def say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def install(tools: tuple[Tool, ...]) -> None:
    """Install the tools this machine lacks from Debian's packages, or say how to."""
    missing = [tool for tool in tools if not tool.present()]
    if not missing:
        return
    packages = [package for tool in missing for package in tool.packages]
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        names = ", ".join(f"{tool.name} (for {tool.needed_for})" for tool in missing)
        raise SetupError(
            f"The tests need {names}: run `sudo apt-get install -y {' '.join(packages)}`, "
            "then this command again."
        )
    for tool in missing:
        say(f"Installing {tool.name} for {tool.needed_for}: {' '.join(tool.packages)}")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    quiet = {"env": env, "check": True, "stdout": subprocess.DEVNULL}
    subprocess.run(["apt-get", "update", "-qq"], **quiet)
    subprocess.run(
        ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *packages], **quiet
    )
    _shared_libraries.cache_clear()


def install_npm_packages() -> None:
    """`npm ci` when node_modules is missing or older than package-lock.json."""
    lock = ROOT / "package-lock.json"
    installed = ROOT / "node_modules" / ".package-lock.json"
    if installed.exists() and installed.stat().st_mtime >= lock.stat().st_mtime:
        return
    say("Installing axe-core and the front-end packages: npm ci")
    subprocess.run(
        ["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"],
        cwd=ROOT,
        check=True,
        stdout=subprocess.DEVNULL,
    )


@dataclass(frozen=True)
class Server:
    name: str
    url: str
    default_port: int
    start: tuple[str, ...]


def _test_environment() -> dict[str, str]:
    """The variables pytest sets (pyproject.toml), with the ones of this shell winning."""
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    defaults = {}
    for entry in pyproject["tool"]["pytest"]["ini_options"]["env"]:
        name, _, value = entry.removeprefix("D:").partition("=")
        defaults[name] = value
    return {**defaults, **os.environ}


def _servers() -> tuple[Server, ...]:
    env = _test_environment()
    clusters = sorted(Path("/etc/postgresql").glob("*/main"))
    version = clusters[0].parent.name if clusters else "15"
    return (
        Server(
            "PostgreSQL",
            env["DATABASE_URL"],
            5432,
            ("pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "start"),
        ),
        Server(
            "Redis",
            env["CELERY_BROKER_URL"],
            6379,
            (
                "redis-server",
                "--daemonize",
                "yes",
                "--bind",
                "127.0.0.1",
                "-::1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                "/tmp",  # noqa: S108 (nothing is kept: no snapshots, no append-only file)
            ),
        ),
    )


def _answers(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def start_servers() -> None:
    """Start PostgreSQL and Redis when the tests use this machine's and they are down."""
    for server in _servers():
        parts = urlsplit(server.url)
        host, port = parts.hostname or "127.0.0.1", parts.port or server.default_port
        if _answers(host, port):
            continue
        command = " ".join(server.start)
        if host not in ("127.0.0.1", "localhost") or os.geteuid() != 0:
            raise SetupError(
                f"{server.name} does not answer on {host}:{port}: start it (on this machine: "
                f"`sudo {command}`), then run this command again."
            )
        say(f"Starting {server.name} on {host}:{port}: {command}")
        subprocess.run(server.start, check=True, stdout=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while not _answers(host, port):
            if time.monotonic() > deadline:
                raise SetupError(f"{server.name} did not start: see its log.")
            time.sleep(0.5)


def prepare_tests() -> None:
    """Everything the whole suite needs, installed or started when missing."""
    install(TOOLS)
    start_servers()
    install_npm_packages()


def shifted_clock_environment(offset: str) -> dict[str, str]:
    """The environment that runs a process with its clock moved by `offset` (e.g. "+400d").

    libfaketime moves every clock, the monotonic one included: left real while the wall clock is
    faked, Python's `time.sleep` fails with EINVAL in subprocess waits.
    """
    install((FAKETIME,))
    library = sorted(glob.glob(LIBFAKETIME))[0]
    preload = " ".join(filter(None, [library, os.environ.get("LD_PRELOAD", "")]))
    return {**os.environ, "LD_PRELOAD": preload, "FAKETIME": offset}
