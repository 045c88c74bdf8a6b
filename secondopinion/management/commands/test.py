import os
import sys

from django.core.management.base import BaseCommand

from secondopinion import toolchain

CLOCK = "--clock="


class Command(BaseCommand):
    help = (
        "Run the whole test suite with pytest, after installing or starting what it needs on "
        "this machine (secondopinion/toolchain.py). --clock=+400d runs it with the clock moved "
        "ahead (libfaketime). Any other argument is passed on to pytest."
    )

    def run_from_argv(self, argv: list[str]) -> None:
        args = argv[2:]
        clocks = [arg.removeprefix(CLOCK) for arg in args if arg.startswith(CLOCK)]
        args = [arg for arg in args if not arg.startswith(CLOCK)]
        try:
            toolchain.prepare_tests()
            env = toolchain.shifted_clock_environment(clocks[-1]) if clocks else os.environ
        except toolchain.SetupError as exc:
            self.stderr.write(str(exc))
            sys.exit(1)
        os.execve(sys.executable, [sys.executable, "-m", "pytest", *args], env)
