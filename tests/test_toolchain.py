"""README's test command sets up what the suite needs, or says in one sentence what to run."""

import subprocess
import sys

import pytest

from secondopinion import toolchain
from tests.services import real_clock_environment

MISSING = toolchain.Tool("Imaginary viewer", "a test", ("imaginary-viewer",), lambda: False)


def test_every_tool_the_suite_needs_is_on_this_machine():
    """The suite runs after the setup: whatever the list names, the setup put in place."""
    assert [tool.name for tool in toolchain.TOOLS if not tool.present()] == []


def test_a_missing_tool_without_root_stops_with_the_command_to_run(monkeypatch):
    monkeypatch.setattr(toolchain.os, "geteuid", lambda: 1000)

    with pytest.raises(toolchain.SetupError) as raised:
        toolchain.install((MISSING,))

    message = str(raised.value)
    assert "Imaginary viewer (for a test)" in message
    assert "`sudo apt-get install -y imaginary-viewer`" in message
    assert message.count(".") == 1  # one sentence


def test_nothing_is_installed_when_nothing_is_missing(monkeypatch):
    monkeypatch.setattr(toolchain.os, "geteuid", lambda: 1000)
    present = toolchain.Tool("Python", "everything", ("python3",), lambda: True)

    toolchain.install((present,))  # no SetupError: there is nothing to ask for


def test_a_database_elsewhere_that_does_not_answer_is_named_not_started(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgres://postgres@192.0.2.1:1/secondopinion")

    with pytest.raises(toolchain.SetupError, match=r"PostgreSQL does not answer on 192\.0\.2\.1:1"):
        toolchain.start_servers()


def _clock_of_a_process(env: dict[str, str]) -> float:
    done = subprocess.run(
        [sys.executable, "-c", "import time; print(time.time())"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return float(done.stdout)


def test_the_shifted_clock_moves_a_process_ahead():
    # Compared with a process on the real clock: this one may itself run shifted (CI does).
    real = _clock_of_a_process(real_clock_environment())
    shifted = _clock_of_a_process(toolchain.shifted_clock_environment("+400d"))

    assert round((shifted - real) / 86400) == 400
