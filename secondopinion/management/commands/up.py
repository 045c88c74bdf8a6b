import contextlib
import errno
import os
import signal
import socket
import subprocess
import sys
import time

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from secondopinion.processes import signal_group

# Ctrl-C ends everything within this many seconds: the worker is asked to stop at once, then
# killed (a check it was running is sent again by the sweeper, as after any crash).
STOP_WITHIN = 1.5
READY_WITHIN = 60.0


def _host_and_port(addr: str) -> tuple[str, int]:
    host, _, port = addr.rpartition(":")
    if not host or not port.isdigit():
        raise CommandError(f"--addr takes host:port, e.g. 127.0.0.1:8000, not {addr!r}.")
    return host.strip("[]"), int(port)


def _in_use(host: str, port: int) -> bool:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return True
            raise CommandError(f"Cannot serve on {host}:{port}: {exc.strerror}.") from None
    return False


def _answers(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


class Command(BaseCommand):
    help = (
        "Set up and run SecondOpinion on this machine: migrate, load the demo data, collect "
        "static files, then run the web server and a Celery worker (with beat) until Ctrl-C."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--addr",
            default="127.0.0.1:8000",
            help="host:port to serve on; links in e-mails point there too unless SITE_URL is set",
        )
        parser.add_argument("--no-demo", action="store_true", help="skip the demo data")

    def handle(self, *args, addr: str, no_demo: bool, **options) -> None:
        host, port = _host_and_port(addr)
        if _in_use(host, port):
            raise CommandError(
                f"Port {port} on {host} is already in use (another SecondOpinion, or another "
                f"program): choose another one, e.g. `python3 manage.py up --addr "
                f"{host}:{port + 1}`."
            )
        call_command("migrate", interactive=False, verbosity=1)
        if not no_demo:
            call_command("seed_demo")
        call_command("collectstatic", interactive=False, verbosity=0)
        # Links in e-mails lead where the site is served, unless the site's address is set.
        env = {"SITE_URL": f"http://{addr}", **os.environ}
        worker = [sys.executable, "-m", "celery", "-A", "secondopinion", "worker", "--beat"]
        worker += ["--loglevel=INFO", "--concurrency=2"]
        web = [sys.executable, str(settings.BASE_DIR / "manage.py"), "runserver", addr]
        web += ["--noreload"]
        # Each in a process group of its own (still in this session): Ctrl-C reaches this
        # command alone, which stops each group as it should be stopped, leaving nothing behind.
        processes = [
            subprocess.Popen(worker, env=env, process_group=0),
            subprocess.Popen(web, env=env, process_group=0),
        ]
        signal.signal(signal.SIGTERM, _interrupt)  # `kill` stops it as Ctrl-C does
        try:
            self._wait_until_served(host, port, processes)
            self.stdout.write(self.style.SUCCESS(f"SecondOpinion is running on http://{addr}/"))
            self.stdout.write("Press Ctrl-C to stop the web server and the worker.")
            while all(p.poll() is None for p in processes):
                time.sleep(0.5)
        except KeyboardInterrupt:
            pass
        finally:
            _stop(processes)

    def _wait_until_served(self, host: str, port: int, processes) -> None:
        deadline = time.monotonic() + READY_WITHIN
        while not _answers(host, port):
            if any(p.poll() is not None for p in processes) or time.monotonic() > deadline:
                raise CommandError("The web server did not start: see the lines above.")
            time.sleep(0.2)


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def _stop(processes: list[subprocess.Popen]) -> None:
    """Stop the worker (cold: SIGQUIT) and the web server (SIGTERM); kill what is left."""
    worker, web = processes
    for process, sig in ((worker, signal.SIGQUIT), (web, signal.SIGTERM)):
        signal_group(process.pid, sig)
    deadline = time.monotonic() + STOP_WITHIN
    for process in processes:
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
        # The pool and beat processes too, had the worker's main process not taken them along.
        signal_group(process.pid, signal.SIGKILL)
        process.wait()
