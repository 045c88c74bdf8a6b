"""Figure 5: the patient's case page, the reviewer queue and the admin case list under load.

The pages are served by gunicorn (2 sync workers, as in the Dockerfile) on the run's PostgreSQL
database holding ``--cases`` cases, and loaded over loopback by wrk (or the Python generator)
with the session cookie of a patient, a neuroradiologist and a coordinator. The baseline is a
bare Django template page (``bench/urls.py``) served by the same server in the same rounds.

Query counts come from the Django test client in this process, once with a tenth of the cases
in the database and once with all of them: a count that grows with the cases is an N+1.
"""

from __future__ import annotations

import http.client

from . import database, load
from .logins import logged_in_client, session_cookie
from .measure import Figure, Results, alternate, at_least, at_most, equal, median
from .processes import PYTHON, free_port, wait_http
from .tools import ensure_command

PAGES = ("case", "queue", "admin", "bare")
_seeded: dict[int, tuple[int, dict[str, int]]] = {}  # per workspace: a tenth, its queries
# The case page reads in at most 12 queries; the lists as many with all the cases as a tenth.
QUERY_TARGETS = {
    "case": (at_most(12, ratio=False, unit="queries"),),
    "queue": (equal(1.0),),
    "admin": (equal(1.0),),
}
LABELS = {
    "case": "patient's case page",
    "queue": "reviewer queue",
    "admin": "admin case list",
    "bare": "bare template page",
}


def _query_count(url: str, user) -> int:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client = logged_in_client(user)
    client.get(url)  # first request fills per-process caches (content types, permissions...)
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    if response.status_code != 200:
        raise RuntimeError(f"{url} answered {response.status_code} in the test client")
    return len(captured)


def _check(port: int, path: str, cookie: str) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    connection.request("GET", path, headers={"Cookie": cookie})
    response = connection.getresponse()
    body = response.read()
    connection.close()
    if response.status != 200:
        raise RuntimeError(f"GET {path} answered {response.status}: {body[:300]!r}")
    return len(body)


def run(results: Results, workspace, options) -> None:
    database.setup(workspace)
    from . import seed

    people = seed.people()
    case = seed.patient_case(people)
    # A case reaches awaiting insurance through the flow, which stores its coverage check.
    from insurance.services import refresh_coverage

    refresh_coverage(case)
    urls = {
        "case": f"/cases/{case.code}/",
        "queue": "/reviewer/",
        "admin": "/admin/requests_app/case/",
        "bare": "/bench/bare/",
    }
    users = {
        "case": people.patient,
        "queue": people.reviewer,
        "admin": people.coordinator,
        "bare": people.patient,
    }
    if id(workspace) not in _seeded:  # once per bench: a second run finds the cases there
        few = max(options.cases // 10, 50)
        print(f"bench: seeding {few:,} cases, then {options.cases - few:,} more ...", flush=True)
        seed.cases(people, few, seed=1)
        queries_few = {name: _query_count(urls[name], users[name]) for name in PAGES}
        seed.cases(people, options.cases - few, seed=2)
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
        _seeded[id(workspace)] = (few, queries_few)
    few, queries_few = _seeded[id(workspace)]
    queries_all = {name: _query_count(urls[name], users[name]) for name in PAGES}
    cookies = {name: session_cookie(users[name]) for name in PAGES}

    port = free_port()
    argv = [PYTHON, "-m", "gunicorn", "secondopinion.wsgi:application"]
    argv += ["--bind", f"127.0.0.1:{port}", "--workers", "2", "--timeout", "120"]
    argv += ["--no-control-socket"]  # gunicorn's default socket is one per user, shared
    server = workspace.start("gunicorn-pages", argv, env=database.python_env())
    try:
        wait_http(server, port, "/healthz")
        sizes = {name: _check(port, urls[name], cookies[name]) for name in PAGES}
        wrk, why = ensure_command("wrk", "wrk", install=options.install)
        if wrk is None:
            results.note(f"pages: {why}; using the Python load generator")
        seconds = 2.0 if options.quick else 8.0

        def hit(name: str, duration: float) -> load.Load:
            url = f"http://127.0.0.1:{port}{urls[name]}"
            if wrk:
                return load.with_wrk(wrk, url, cookies[name], duration)
            return load.with_python(url, cookies[name], duration)

        loads: dict[str, list[load.Load]] = {name: [] for name in PAGES}

        def contender(name: str):
            def measure() -> float:
                measured = hit(name, seconds)
                if measured.errors:
                    raise RuntimeError(f"{urls[name]}: {measured.errors} failed requests")
                loads[name].append(measured)
                return measured.requests_per_s

            return measure

        for name in PAGES:  # warm both workers' caches and connections
            hit(name, 1.0)
        alternate(options.rounds, {name: contender(name) for name in PAGES}, warmup=False)
    finally:
        workspace.stop(server)

    generator = "wrk" if wrk else "python generator"
    bare = loads["bare"]
    bare_rate = median([x.requests_per_s for x in bare])
    bare_p99 = median([x.p99_ms for x in bare])
    for name in ("case", "queue", "admin"):
        mine = loads[name]
        rate = [x.requests_per_s for x in mine]
        p99 = [x.p99_ms for x in mine]
        p50 = [x.p50_ms for x in mine]
        detail = (
            f"{LABELS[name]} {urls[name]}, {sizes[name]:,} bytes, {options.cases:,} cases, "
            f"{generator} {load.CONNECTIONS} connections x {seconds:g} s"
        )
        results.add(
            Figure(
                f"pages.{name}.req_per_s",
                median(rate),
                "req/s",
                f"bare page ({generator})",
                bare_rate,
                (at_least(0.4),) if name != "admin" else (),
                detail=detail,
                samples=rate,
                baseline_samples=[x.requests_per_s for x in bare],
            )
        )
        results.add(
            Figure(
                f"pages.{name}.p50",
                median(p50),
                "ms",
                "bare page p50",
                median([x.p50_ms for x in bare]),
                (),
                detail=detail,
                samples=p50,
                baseline_samples=[x.p50_ms for x in bare],
            )
        )
        targets = (at_most(2.0),) if name != "admin" else (at_most(300, ratio=False, unit="ms"),)
        results.add(
            Figure(
                f"pages.{name}.p99",
                median(p99),
                "ms",
                "bare page p99",
                bare_p99,
                targets,
                detail=detail,
                samples=p99,
                baseline_samples=[x.p99_ms for x in bare],
            )
        )
        results.add(
            Figure(
                f"pages.{name}.queries",
                queries_all[name],
                "queries",
                f"same page with {few:,} cases",
                queries_few[name],
                QUERY_TARGETS[name],
                detail=f"SQL queries of one request with {options.cases:,} cases",
            )
        )
