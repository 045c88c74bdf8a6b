import os
import sys

from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Run the whole test suite with pytest; any arguments are passed on to pytest."

    def run_from_argv(self, argv: list[str]) -> None:
        os.execv(sys.executable, [sys.executable, "-m", "pytest", *argv[2:]])
