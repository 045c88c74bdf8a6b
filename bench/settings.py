"""The application's settings plus one bench-only page (see ``bench/urls.py``).

Used by the servers the benchmarks start; the product's settings and routes are unchanged.
"""

from secondopinion.settings import *  # noqa: F403
from secondopinion.settings import BASE_DIR, TEMPLATES

ROOT_URLCONF = "bench.urls"
TEMPLATES[0]["DIRS"] = [*TEMPLATES[0]["DIRS"], BASE_DIR / "bench" / "templates"]
