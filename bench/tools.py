"""Outside programs some baselines need (dcmtk's dcmdump, wrk), installed from Debian if missing."""

from __future__ import annotations

import os
import shutil
import subprocess


def ensure_command(command: str, package: str, *, install: bool) -> tuple[str | None, str]:
    """The program's path, installing its Debian package when allowed; else (None, why not)."""
    found = shutil.which(command)
    if found:
        return found, ""
    if not install:
        return None, f"{command} is not installed (apt-get install {package}); --no-install given"
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        return None, f"{command} is not installed and apt-get cannot run here (not root)"
    print(f"bench: installing {package} from Debian for {command} ...", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    argv = ["apt-get", "install", "-y", "-q", "--no-install-recommends", package]
    for attempt in range(2):
        if attempt:  # the package lists may be missing or stale on a fresh machine
            subprocess.run(["apt-get", "update", "-q"], env=env, capture_output=True, check=False)
        done = subprocess.run(argv, env=env, capture_output=True, check=False)
        if done.returncode == 0 and shutil.which(command):
            return shutil.which(command), ""
    return None, f"{command} could not be installed (apt-get install {package} failed)"
