#!/usr/bin/env python3
"""Django's command-line utility, which also prepares the project's own environment.

Run with any Python 3.11: on first use it creates .venv, installs the project with its test
tools, and re-runs itself inside it; when pyproject.toml changes it installs again.
"""

import hashlib
import importlib.util
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
VENV_PYTHON = VENV / "bin" / "python"


def use_project_environment() -> None:
    inside_ours = Path(sys.prefix).resolve() == VENV.resolve()
    if not inside_ours and importlib.util.find_spec("django") is not None:
        return  # an environment managed elsewhere: a container image, an activated venv
    stamp = VENV / "installed-from.sha256"
    wanted = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if not stamp.exists() or stamp.read_text() != wanted:
        if not VENV_PYTHON.exists():
            print("Creating .venv ...", flush=True)
            venv.create(VENV, with_pip=True)
        print("Installing SecondOpinion and its tools into .venv ...", flush=True)
        pip = [str(VENV_PYTHON), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
        subprocess.run([*pip, "-e", f"{ROOT}[dev]"], check=True)
        stamp.write_text(wanted)
    if not inside_ours:
        os.execv(VENV_PYTHON, [str(VENV_PYTHON), *sys.argv])


def main() -> None:
    use_project_environment()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "secondopinion.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
