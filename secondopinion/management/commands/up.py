import signal
import subprocess
import sys
import time

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = (
        "Set up and run SecondOpinion on this machine: migrate, load the demo data, collect "
        "static files, then run the web server and a Celery worker (with beat) until Ctrl-C."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--addr", default="127.0.0.1:8000", help="host:port to serve on")
        parser.add_argument("--no-demo", action="store_true", help="skip the demo data")

    def handle(self, *args, addr: str, no_demo: bool, **options) -> None:
        call_command("migrate", interactive=False, verbosity=1)
        if not no_demo:
            call_command("seed_demo")
        call_command("collectstatic", interactive=False, verbosity=0)
        worker = [sys.executable, "-m", "celery", "-A", "secondopinion", "worker", "--beat"]
        worker += ["--loglevel=INFO", "--concurrency=2"]
        web = [sys.executable, str(settings.BASE_DIR / "manage.py"), "runserver", addr]
        web += ["--noreload"]
        processes = [subprocess.Popen(worker), subprocess.Popen(web)]
        self.stdout.write(self.style.SUCCESS(f"SecondOpinion is running on http://{addr}/"))
        self.stdout.write("Press Ctrl-C to stop the web server and the worker.")
        try:
            while all(p.poll() is None for p in processes):
                time.sleep(0.5)
        except KeyboardInterrupt:
            pass
        finally:
            for process in processes:
                if process.poll() is None:
                    process.send_signal(signal.SIGTERM)
            for process in processes:
                try:
                    process.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    process.kill()
