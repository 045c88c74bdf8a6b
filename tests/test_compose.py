"""docker-compose.yml, the Dockerfile and .env.example agree with the project.

No Docker engine runs here, so the files are read rather than run. Each check is a function
that returns its problems as sentences naming the offending service; the tests assert that the
real files have none, and that a broken copy of them is caught and named.
"""

import copy
import importlib
import importlib.util
import re
import shlex
import tomllib
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml
from celery import Celery
from celery.bin.celery import celery as celery_cli
from django.core.management import get_commands
from django.urls import Resolver404, resolve
from packaging.specifiers import SpecifierSet
from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
ENV_EXAMPLE = ROOT / ".env.example"
SETTINGS_FILE = ROOT / "secondopinion" / "settings.py"

REQUIRED_SERVICES = ("postgres", "redis", "minio", "minio-init", "migrate", "web", "worker", "beat")
APP_SERVICES = ("migrate", "web", "worker", "beat")
CONDITIONS = {"service_started", "service_healthy", "service_completed_successfully"}
# What the app containers must wait for, and how.
APP_WAITS_FOR = {
    "web": {
        "postgres": "service_healthy",
        "redis": "service_healthy",
        "minio": "service_healthy",
        "minio-init": "service_completed_successfully",
        "migrate": "service_completed_successfully",
    },
    "migrate": {"postgres": "service_healthy"},
}
APP_WAITS_FOR["worker"] = APP_WAITS_FOR["beat"] = APP_WAITS_FOR["web"]
# Programs the app containers may start, and the module that must import for each.
PROGRAMS = {"celery": "celery", "gunicorn": "gunicorn", "python": None}
FLOATING_TAGS = {"latest", "stable", "edge", "main", "master", "lts", "alpine", "slim"}

ENV_CALL = re.compile(r"\benv(?:\.\w+)?\(")
ENV_NAME = re.compile(r"\benv(?:\.\w+)?\(\s*[\"']([A-Z][A-Z0-9_]*)[\"']")
INTERPOLATION = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?+])([^}]*))?\}")
WSGI_TARGET = re.compile(r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*:[A-Za-z_]\w*")
# Options of the celery command that take a value, before the subcommand.
CELERY_VALUE_OPTIONS = {
    *("-A", "--app", "-b", "--broker", "--result-backend", "--loader", "--config", "--workdir"),
}


# Reading the files -----------------------------------------------------------------------------


def load_compose() -> dict:
    return yaml.safe_load(COMPOSE_FILE.read_text())


def interpolate(value: str) -> str:
    """What compose makes of a value with no .env: the ${VAR:-default} defaults, else <VAR>."""

    def substitute(match: re.Match) -> str:
        name, operator, argument = match.groups()
        if operator in (":-", "-"):
            return argument
        return f"<{name}>"

    # "$$" is a literal "$" for the container's shell: leave what follows it alone.
    return "$".join(INTERPOLATION.sub(substitute, part) for part in value.split("$$"))


def compose_variables(text: str) -> set[str]:
    """Names docker-compose.yml takes from the environment or .env (not $$-escaped ones)."""
    return {match.group(1) for match in INTERPOLATION.finditer(text.replace("$$", ""))}


def settings_variables(source: str | None = None) -> set[str]:
    """Names of the environment variables settings.py reads through django-environ."""
    source = SETTINGS_FILE.read_text() if source is None else source
    return set(ENV_NAME.findall(source))


def service_environment(service: dict) -> dict[str, str]:
    environment = service.get("environment") or {}
    if isinstance(environment, list):
        environment = dict(item.partition("=")[::2] for item in environment)
    return {key: "" if value is None else str(value) for key, value in environment.items()}


def as_argv(command) -> list[str]:
    if command is None:
        return []
    return shlex.split(command) if isinstance(command, str) else [str(part) for part in command]


def depends_on(service: dict) -> dict[str, str]:
    """{service: condition}; the short list form means service_started."""
    value = service.get("depends_on") or {}
    if isinstance(value, list):
        return dict.fromkeys(value, "service_started")
    return {name: (spec or {}).get("condition", "service_started") for name, spec in value.items()}


def option(argv: list[str], *names: str) -> str | None:
    """The value of --name VALUE / --name=VALUE / -n VALUE in argv."""
    for index, argument in enumerate(argv):
        for name in names:
            if argument == name and index + 1 < len(argv):
                return argv[index + 1]
            if argument.startswith(f"{name}="):
                return argument.split("=", 1)[1]
    return None


# Checks: each returns a list of problems, empty when all is well -------------------------------


def image_problem(image: str) -> str | None:
    """Why an image reference is not pinned to a version, or None when it is."""
    if "@sha256:" in image:
        return None
    name = image.rsplit("/", 1)[-1]
    if ":" not in name:
        return "has no tag (Docker would use :latest)"
    tag = name.split(":", 1)[1]
    if tag.lower() in FLOATING_TAGS or tag.lower().startswith("latest"):
        return f"uses the floating tag {tag!r}"
    if not (re.search(r"\d+\.\d+", tag) or re.fullmatch(r"RELEASE\.\d{4}-\d\d-\d\dT[\d-]+Z", tag)):
        return f"tag {tag!r} names no exact version (major.minor[.patch] or a RELEASE date)"
    return None


def compose_image_problems(compose: dict) -> list[str]:
    problems = []
    for name, service in compose.get("services", {}).items():
        if "image" not in service:
            if "build" not in service:
                problems.append(f"service {name!r} has neither an image nor a build")
            continue
        image = interpolate(str(service["image"]))
        if (why := image_problem(image)) is not None:
            problems.append(f"service {name!r}: image {image!r} {why}")
    return problems


def missing_service_problems(compose: dict) -> list[str]:
    services = compose.get("services", {})
    return [f"service {name!r} is missing" for name in REQUIRED_SERVICES if name not in services]


def depends_on_problems(compose: dict) -> list[str]:
    services = compose.get("services", {})
    problems = []
    for name, service in services.items():
        for target, condition in depends_on(service).items():
            if target not in services:
                problems.append(f"service {name!r} depends on {target!r}, which does not exist")
                continue
            if condition not in CONDITIONS:
                problems.append(f"service {name!r} waits for {target!r} with {condition!r}")
            elif condition == "service_healthy" and "healthcheck" not in services[target]:
                problems.append(
                    f"service {name!r} waits for {target!r} to be healthy, "
                    f"but {target!r} has no healthcheck"
                )
            elif condition == "service_completed_successfully" and str(
                services[target].get("restart", "no")
            ) not in ("no", "on-failure"):
                problems.append(
                    f"service {name!r} waits for {target!r} to complete, but {target!r} "
                    f"restarts {services[target]['restart']!r} and so never completes"
                )
    for name, wanted in APP_WAITS_FOR.items():
        if name not in services:
            continue
        actual = depends_on(services[name])
        for target, condition in wanted.items():
            if actual.get(target) != condition:
                problems.append(
                    f"service {name!r} must wait for {target!r} with {condition!r}, "
                    f"not {actual.get(target)!r}"
                )
    return problems


def command_problem(argv: list[str]) -> str | None:
    """Why a container command names something the project does not have, or None."""
    if not argv:
        return "has no command"
    program = argv[0]
    if program not in PROGRAMS:
        return f"runs {program!r}, which is not one of {sorted(PROGRAMS)}"
    if PROGRAMS[program] is not None and importlib.util.find_spec(PROGRAMS[program]) is None:
        return f"runs {program!r}, which is not installed"
    if program == "celery":
        return celery_problem(argv)
    if program == "gunicorn":
        return gunicorn_problem(argv)
    return manage_problem(argv)


def celery_problem(argv: list[str]) -> str | None:
    app_name = option(argv, "-A", "--app")
    if app_name is None:
        return "starts celery without -A/--app"
    if not (ROOT / app_name / "celery.py").is_file():
        return f"starts celery with -A {app_name}, but {app_name}/celery.py does not exist"
    app = getattr(importlib.import_module(f"{app_name}.celery"), "app", None)
    if not isinstance(app, Celery) or app.main != app_name:
        return (
            f"starts celery with -A {app_name}, whose celery.py defines no Celery app of that name"
        )
    arguments = iter(argv[1:])
    for argument in arguments:
        if argument in CELERY_VALUE_OPTIONS:
            next(arguments, None)
        elif not argument.startswith("-"):
            if argument not in celery_cli.commands:
                return f"starts celery with {argument!r}, which is no celery subcommand"
            return None
    return f"starts celery with no subcommand ({' '.join(argv)})"


def gunicorn_problem(argv: list[str]) -> str | None:
    targets = [arg for arg in argv[1:] if WSGI_TARGET.fullmatch(arg)]
    if len(targets) != 1:
        return f"starts gunicorn without one module:attribute target ({' '.join(argv)})"
    module_name, attribute = targets[0].split(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        return f"starts gunicorn with {targets[0]}, whose module does not import ({exc})"
    if not callable(getattr(module, attribute, None)):
        return (
            f"starts gunicorn with {targets[0]}, but {module_name} has no WSGI callable {attribute}"
        )
    return None


def manage_problem(argv: list[str]) -> str | None:
    if len(argv) < 3 or argv[1] != "manage.py":
        return f"runs python without manage.py COMMAND ({' '.join(argv)})"
    if not (ROOT / "manage.py").is_file():
        return "runs manage.py, which does not exist"
    if argv[2] not in get_commands():
        return f"runs manage.py {argv[2]}, which is not a Django management command"
    return None


def app_command_problems(compose: dict) -> list[str]:
    services = compose.get("services", {})
    problems = []
    for name in APP_SERVICES:
        if name in services and (why := command_problem(as_argv(services[name].get("command")))):
            problems.append(f"service {name!r} {why}")
    return problems


def app_environment_problems(compose: dict, known: set[str]) -> list[str]:
    services = compose.get("services", {})
    problems = []
    environments = {
        name: service_environment(services[name]) for name in APP_SERVICES if name in services
    }
    for name, environment in environments.items():
        unknown = sorted(set(environment) - known)
        if unknown:
            problems.append(f"service {name!r} sets {unknown}, which settings.py never reads")
    reference = environments.get("web", {})
    for name, environment in environments.items():
        if environment != reference:
            differing = sorted(
                key
                for key in set(environment) | set(reference)
                if environment.get(key) != reference.get(key)
            )
            problems.append(f"service {name!r} has another environment than 'web': {differing}")
    return problems


def app_environment_value_problems(compose: dict) -> list[str]:
    """The production values: no debug, and the URLs point at services of this file."""
    services = compose.get("services", {})
    problems = []
    for name in APP_SERVICES:
        if name not in services:
            continue
        environment = {k: interpolate(v) for k, v in service_environment(services[name]).items()}
        if environment.get("DEBUG", "false").lower() not in ("false", "0", "no", "off"):
            problems.append(f"service {name!r} runs with DEBUG={environment['DEBUG']}")
        if environment.get("STORAGE_BACKEND") != "s3":
            problems.append(f"service {name!r} does not store files in S3 (MinIO)")
        for variable, host in (
            ("DATABASE_URL", "postgres"),
            ("CELERY_BROKER_URL", "redis"),
            ("AWS_S3_ENDPOINT_URL", "minio"),
        ):
            value = environment.get(variable)
            if value is None or urlsplit(value).hostname != host or host not in services:
                problems.append(
                    f"service {name!r}: {variable}={value!r} does not point at {host!r}"
                )
    return problems


def redis_problems(compose: dict) -> list[str]:
    redis = compose.get("services", {}).get("redis")
    if redis is None:
        return ["service 'redis' is missing"]
    problems = []
    argv = as_argv(redis.get("command"))
    if option(argv, "--appendonly") != "yes":
        problems.append(f"service 'redis' does not run with --appendonly yes ({' '.join(argv)!r})")
    if not any(str(volume).split(":")[1:2] == ["/data"] for volume in redis.get("volumes", [])):
        problems.append("service 'redis' keeps its append-only file outside a volume on /data")
    return problems


def volume_problems(compose: dict) -> list[str]:
    declared = set(compose.get("volumes") or {})
    problems = []
    for name, service in compose.get("services", {}).items():
        for volume in service.get("volumes", []):
            source = str(volume).split(":")[0] if isinstance(volume, str) else volume.get("source")
            if source and not source.startswith((".", "/", "~")) and source not in declared:
                problems.append(f"service {name!r} mounts volume {source!r}, which is not declared")
    for name in ("postgres", "minio"):
        if not compose.get("services", {}).get(name, {}).get("volumes"):
            problems.append(f"service {name!r} keeps its data outside a volume")
    return problems


def web_problems(compose: dict) -> list[str]:
    """gunicorn's port is the one published and probed, and the probe's path is /healthz."""
    web = compose.get("services", {}).get("web")
    if web is None:
        return ["service 'web' is missing"]
    problems = []
    bind = option(as_argv(web.get("command")), "--bind", "-b") or ""
    port = bind.rpartition(":")[2]
    published = [
        str(mapping.get("target")) if isinstance(mapping, dict) else str(mapping).rsplit(":", 1)[-1]
        for mapping in web.get("ports", [])
    ]
    if port not in published:
        problems.append(f"service 'web' binds gunicorn to {bind!r} but publishes {published}")
    probe = " ".join(as_argv((web.get("healthcheck") or {}).get("test")))
    urls = re.findall(r"https?://[^\s'\"]+", probe)
    if not urls:
        return [*problems, "service 'web' has no healthcheck URL"]
    url = urlsplit(urls[0])
    if str(url.port) != port:
        problems.append(f"service 'web' probes port {url.port}, but gunicorn listens on {port!r}")
    if "curl" in probe.split() or "wget" in probe.split():
        problems.append("service 'web' probes with curl/wget, which the slim image lacks")
    try:
        match = resolve(url.path)
    except Resolver404:
        problems.append(f"service 'web' probes {url.path!r}, which no URL pattern serves")
    else:
        if match.url_name != "healthz":
            problems.append(f"service 'web' probes {url.path!r}, which is not the health endpoint")
    return problems


def env_example_problems(text: str, needed: set[str], used: set[str] | None = None) -> list[str]:
    """Every needed variable is listed, and every listed one is used (by `used`, if given)."""
    documented = set(re.findall(r"^\s*#?\s*([A-Z][A-Z0-9_]*)=", text, flags=re.MULTILINE))
    problems = [f".env.example does not list {name}" for name in sorted(needed - documented)]
    if used is not None:
        problems += [
            f".env.example lists {name}, which neither settings.py nor docker-compose.yml uses"
            for name in sorted(documented - used)
        ]
    return problems


def dockerfile_problems(text: str) -> list[str]:
    problems = []
    stages = set()
    bases = []
    for line in text.splitlines():
        match = re.match(r"\s*FROM\s+(?:--\S+\s+)*(\S+)(?:\s+AS\s+(\S+))?", line, re.IGNORECASE)
        if match:
            bases.append(match.group(1))
            if match.group(2):
                stages.add(match.group(2))
    if not bases:
        return ["the Dockerfile has no FROM line"]
    for base in bases:
        if base in stages:
            continue
        if (why := image_problem(base)) is not None:
            problems.append(f"the Dockerfile's base image {base!r} {why}")
    final = bases[-1]
    version = re.match(r"python:(\d+\.\d+(?:\.\d+)?)", final)
    requires = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    if version is None or Version(version.group(1)) not in SpecifierSet(requires):
        problems.append(f"the Dockerfile's base image {final!r} is not a Python {requires}")
    if re.search(r"^\s*USER\s+(?!root\b|0\b)\S+", text, re.MULTILINE) is None:
        problems.append("the Dockerfile never switches to a non-root USER")
    cmd = re.search(r"^\s*CMD\s+(\[.*\])\s*$", text, re.MULTILINE)
    if cmd is None:
        problems.append("the Dockerfile has no exec-form CMD")
    elif (why := command_problem(yaml.safe_load(cmd.group(1)))) is not None:
        problems.append(f"the Dockerfile's CMD {why}")
    return problems


# The real files ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def compose() -> dict:
    return load_compose()


def test_settings_variables_are_all_found():
    source = SETTINGS_FILE.read_text()
    assert len(ENV_NAME.findall(source)) == len(ENV_CALL.findall(source)), (
        "an env(...) call in settings.py names its variable in a way this test cannot read"
    )
    found = settings_variables(source)
    assert {"SECRET_KEY", "DATABASE_URL", "CELERY_BROKER_URL", "STORAGE_BACKEND"} <= found


def test_every_image_is_pinned(compose):
    assert compose_image_problems(compose) == []


def test_the_stack_has_every_service(compose):
    assert missing_service_problems(compose) == []


def test_depends_on_names_services_with_valid_conditions(compose):
    assert depends_on_problems(compose) == []


def test_app_commands_name_what_the_project_has(compose):
    assert app_command_problems(compose) == []


def test_app_environment_is_read_by_settings(compose):
    assert app_environment_problems(compose, settings_variables()) == []


def test_app_environment_is_production_shaped(compose):
    assert app_environment_value_problems(compose) == []


def test_env_example_lists_every_setting():
    assert env_example_problems(ENV_EXAMPLE.read_text(), settings_variables()) == []


def test_env_example_lists_what_compose_takes_from_env_and_nothing_else():
    needed = compose_variables(COMPOSE_FILE.read_text())
    used = settings_variables() | needed
    assert env_example_problems(ENV_EXAMPLE.read_text(), needed, used) == []


def test_redis_keeps_queued_tasks(compose):
    assert redis_problems(compose) == []


def test_volumes_are_declared(compose):
    assert volume_problems(compose) == []


def test_web_serves_and_probes_healthz(compose):
    assert web_problems(compose) == []


def test_dockerfile_base_is_pinned_and_runs_the_app():
    assert dockerfile_problems(DOCKERFILE.read_text()) == []


def test_dockerignore_keeps_local_state_out():
    ignored = {
        line.strip().rstrip("/") for line in (ROOT / ".dockerignore").read_text().splitlines()
    }
    assert {".venv", "var", "node_modules", ".git", ".env"} <= ignored


# The checks catch what they are for --------------------------------------------------------------


def _set(path: tuple, value):
    def mutate(compose: dict) -> None:
        *parents, last = path
        node = compose
        for key in parents:
            node = node[key]
        node[last] = value

    return mutate


def _delete(path: tuple):
    def mutate(compose: dict) -> None:
        *parents, last = path
        node = compose
        for key in parents:
            node = node[key]
        del node[last]

    return mutate


def _add_env(service: str, name: str):
    def mutate(compose: dict) -> None:
        compose["services"][service]["environment"] = {
            **compose["services"][service]["environment"],
            name: "1",
        }

    return mutate


BREAKAGES = [
    (
        "latest tag",
        _set(("services", "redis", "image"), "redis:latest"),
        compose_image_problems,
        ["'redis'", "latest"],
    ),
    (
        "no tag",
        _set(("services", "postgres", "image"), "postgres"),
        compose_image_problems,
        ["'postgres'"],
    ),
    (
        "major-only tag",
        _set(("services", "minio", "image"), "quay.io/minio/minio:7"),
        compose_image_problems,
        ["'minio'"],
    ),
    ("missing service", _delete(("services", "beat")), missing_service_problems, ["'beat'"]),
    (
        "unknown dependency",
        _set(("services", "web", "depends_on", "ghost"), {"condition": "service_started"}),
        depends_on_problems,
        ["'web'", "'ghost'"],
    ),
    (
        "invalid condition",
        _set(("services", "worker", "depends_on", "redis"), {"condition": "service_ready"}),
        depends_on_problems,
        ["'worker'", "service_ready"],
    ),
    (
        "unhealthy wait",
        _delete(("services", "redis", "healthcheck")),
        depends_on_problems,
        ["'redis'", "healthcheck"],
    ),
    (
        "restarting one-shot",
        _set(("services", "migrate", "restart"), "unless-stopped"),
        depends_on_problems,
        ["'migrate'", "never completes"],
    ),
    (
        "migrations not awaited",
        _delete(("services", "beat", "depends_on", "migrate")),
        depends_on_problems,
        ["'beat'", "'migrate'"],
    ),
    (
        "wrong celery app",
        _set(("services", "worker", "command"), ["celery", "-A", "nosuchapp", "worker"]),
        app_command_problems,
        ["'worker'", "nosuchapp"],
    ),
    (
        "celery without subcommand",
        _set(("services", "beat", "command"), ["celery", "-A", "secondopinion", "bleat"]),
        app_command_problems,
        ["'beat'"],
    ),
    (
        "unknown management command",
        _set(("services", "migrate", "command"), ["python", "manage.py", "migrat", "--noinput"]),
        app_command_problems,
        ["'migrate'", "migrat"],
    ),
    (
        "unknown wsgi callable",
        _set(
            ("services", "web", "command"),
            ["gunicorn", "secondopinion.wsgi:app", "--bind", "[::]:8000"],
        ),
        app_command_problems,
        ["'web'", "secondopinion.wsgi:app"],
    ),
    (
        "unknown wsgi module",
        _set(("services", "web", "command"), ["gunicorn", "secondopinion.wgsi:application"]),
        app_command_problems,
        ["'web'", "does not import"],
    ),
    (
        "variable settings.py never reads",
        _add_env("beat", "DJANGO_DEBUG"),
        lambda compose: app_environment_problems(compose, settings_variables()),
        ["'beat'", "DJANGO_DEBUG"],
    ),
    (
        "debug on",
        _set(("services", "web", "environment", "DEBUG"), "true"),
        app_environment_value_problems,
        ["'web'", "DEBUG"],
    ),
    (
        "broker elsewhere",
        _set(("services", "worker", "environment", "CELERY_BROKER_URL"), "redis://cache:6379/0"),
        app_environment_value_problems,
        ["'worker'", "CELERY_BROKER_URL"],
    ),
    (
        "redis without appendonly",
        _set(("services", "redis", "command"), ["redis-server"]),
        redis_problems,
        ["'redis'", "appendonly"],
    ),
    (
        "undeclared volume",
        _set(("services", "postgres", "volumes"), ["pgdata:/var/lib/postgresql/data"]),
        volume_problems,
        ["'postgres'", "pgdata"],
    ),
    (
        "probe on the wrong port",
        _set(("services", "web", "ports"), ["127.0.0.1:8000:8080"]),
        web_problems,
        ["'web'"],
    ),
    (
        "probe of a missing page",
        _set(
            ("services", "web", "healthcheck", "test"),
            ["CMD", "python", "-c", "'http://127.0.0.1:8000/health'"],
        ),
        web_problems,
        ["'web'", "/health"],
    ),
]


@pytest.fixture
def pristine_compose(compose) -> dict:
    fresh = copy.deepcopy(compose)
    # The anchors make the app services share one environment mapping: unshare them, so
    # that breaking one service leaves the others as they were.
    for name in APP_SERVICES:
        fresh["services"][name]["environment"] = dict(fresh["services"][name]["environment"])
        fresh["services"][name]["depends_on"] = copy.deepcopy(fresh["services"][name]["depends_on"])
    return fresh


@pytest.mark.parametrize(
    ("breakage", "check", "named"),
    [pytest.param(mutate, check, named, id=case) for case, mutate, check, named in BREAKAGES],
)
def test_a_broken_compose_file_is_caught(pristine_compose, breakage, check, named):
    assert check(pristine_compose) == [], "the check fails on the real file already"
    breakage(pristine_compose)
    problems = check(pristine_compose)
    assert problems, "the check did not notice the breakage"
    assert any(all(word in problem for word in named) for problem in problems), problems


def test_an_env_example_missing_a_setting_is_caught():
    text = ENV_EXAMPLE.read_text()
    broken = re.sub(r"^# CELERY_VISIBILITY_TIMEOUT=.*$", "", text, flags=re.MULTILINE)
    assert broken != text
    assert env_example_problems(broken, settings_variables()) == [
        ".env.example does not list CELERY_VISIBILITY_TIMEOUT"
    ]


def test_an_env_example_listing_an_unused_variable_is_caught():
    text = ENV_EXAMPLE.read_text() + "# DJANGO_SECRET=\n"
    used = settings_variables() | compose_variables(COMPOSE_FILE.read_text())
    assert env_example_problems(text, set(), used) == [
        ".env.example lists DJANGO_SECRET, which neither settings.py nor docker-compose.yml uses"
    ]


def test_compose_variables_skip_escaped_dollars():
    text = 'a: "${ONE:-x}" b: "$${TWO}" c: "${THREE:?required}" d: "$$HOME ${FOUR}"'
    assert compose_variables(text) == {"ONE", "THREE", "FOUR"}
    assert interpolate('"$${HOSTNAME}" ${ONE:-x} ${THREE:?no}') == '"${HOSTNAME}" x <THREE>'


def test_settings_variables_are_read_from_the_source():
    source = 'A = env("ONE", default=1)\nB = env.bool("TWO")\nC = env.list(\n    "THREE")\n'
    assert settings_variables(source) == {"ONE", "TWO", "THREE"}


@pytest.mark.parametrize(
    ("dockerfile", "named"),
    [
        ("FROM python:latest\nUSER app\nCMD []\n", "floating tag 'latest'"),
        ("FROM python:3-slim-bookworm\nUSER app\n", "names no exact version"),
        ("FROM python:3.10.14-slim-bookworm\nUSER app\n", "is not a Python"),
        ("FROM python:3.11.17-slim-bookworm\n", "non-root USER"),
        (
            "FROM python:3.11.17-slim-bookworm\nUSER app\n"
            'CMD ["gunicorn", "secondopinion.wsgi:nope"]\n',
            "no WSGI callable nope",
        ),
    ],
)
def test_a_broken_dockerfile_is_caught(dockerfile, named):
    assert any(named in problem for problem in dockerfile_problems(dockerfile))
