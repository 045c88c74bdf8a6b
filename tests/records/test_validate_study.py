"""``manage.py validate_study``: the worker's checks and routing on a local folder, file or zip.

Exit codes and stdout purity are checked on a real process. That process reads the routing rules
from the test database pytest-django created and migrated (the seeded rules are committed there
by the migrations, so it sees what a deployment sees); the fallback without a database is
tested separately, against an unreachable server and an unmigrated SQLite file.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import warnings
import zipfile
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote

import pytest
from django.apps import apps
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from pydicom import dcmread
from pydicom.data import get_testdata_file
from pydicom.uid import generate_uid

from records import validation
from records.dicom import validate_path
from requests_app import flow, services
from reviewers.management.commands.validate_study import study_facts
from reviewers.routing import NEEDS_COORDINATOR_BELOW, StudyFacts
from tests.conftest import make_case, upload_folder
from tests.records import dicom_factory as factory

PROJECT = Path(__file__).resolve().parents[2]
TOP_KEYS = {"valid", "studies", "files", "problems"}
STUDY_KEYS = {
    "study_instance_uid",
    "patient_id",
    "modalities",
    "body_parts",
    "description",
    "series_count",
    "instance_count",
    "subspecialty",
    "routing_confidence",
}
FILE_KEYS = {"dicom", "ignored", "rejected"}
PROBLEM_KEYS = {"path", "code", "severity", "message"}
FALLBACK_NOTE = "Routing rules could not be read from the database"

Run = Callable[..., subprocess.CompletedProcess[str]]


def sample(name: str) -> Path:
    return Path(get_testdata_file(name))


def codes(data: dict) -> list[str]:
    return [problem["code"] for problem in data["problems"]]


def parse(stdout: str) -> dict:
    """The one JSON document on stdout; json.loads refuses anything before or after it."""
    data = json.loads(stdout)
    assert isinstance(data, dict)
    return data


def assert_shape(data: dict) -> None:
    assert set(data) == TOP_KEYS
    assert set(data["files"]) == FILE_KEYS
    for study in data["studies"]:
        assert set(study) == STUDY_KEYS
    for problem in data["problems"]:
        assert set(problem) == PROBLEM_KEYS


@pytest.fixture(scope="session")
def subprocess_database_url(django_db_setup) -> str:
    """The migrated test database, as a URL a subprocess can use."""
    db = connection.settings_dict  # NAME is the test database's once django_db_setup ran
    assert db["ENGINE"] == "django.db.backends.postgresql"
    password = f":{quote(db['PASSWORD'], safe='')}" if db["PASSWORD"] else ""
    user = f"{quote(db['USER'], safe='')}{password}@" if db["USER"] else ""
    return f"postgres://{user}{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


@pytest.fixture
def migrated_rows(subprocess_database_url: str, django_db_blocker) -> None:
    """The data migrations' rows (routing rules) in the database the subprocess reads.

    A transactional test empties every table when it ends, and serialized rollback puts the
    rows back only when the next such test starts; this test reads them from another process.
    """
    from reviewers.models import RoutingRule

    with django_db_blocker.unblock():
        if not RoutingRule.objects.exists():
            connection.creation.deserialize_db_from_string(connection._test_serialized_contents)


@pytest.fixture
def run(subprocess_database_url: str, migrated_rows: None) -> Run:
    """Run ``manage.py validate_study`` as a separate process; ``env`` overrides variables."""

    def run(*args: object, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "manage.py", "validate_study", *map(str, args)],
            cwd=PROJECT,
            env={**os.environ, "DATABASE_URL": subprocess_database_url, **(env or {})},
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    return run


def call(*args: object) -> tuple[int, str, str]:
    """Run the command in this process: (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command("validate_study", *map(str, args), stdout=out, stderr=err)
    except SystemExit as exit:
        return int(exit.code), out.getvalue(), err.getvalue()
    return 0, out.getvalue(), err.getvalue()


@pytest.fixture
def mr_brain(tmp_path: Path) -> Path:
    """A CD-like folder with one valid 10-slice MR brain series."""
    folder = tmp_path / "cd"
    factory.write_series(folder / "DICOM" / "SERIES1", n=10)
    return folder


def zip_folder(folder: Path, archive: Path) -> Path:
    with zipfile.ZipFile(archive, "w") as zipped:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                zipped.write(path, path.relative_to(folder).as_posix())
    return archive


def listing(root: Path) -> list[str]:
    return sorted(path.relative_to(root).as_posix() for path in root.rglob("*"))


# --- a real process: exit codes and the JSON contract --------------------------------------------


def test_valid_mr_brain_folder_exits_0_with_exactly_the_documented_json(run, mr_brain):
    done = run(mr_brain, "--json")

    assert done.returncode == 0, done.stderr
    data = parse(done.stdout)
    assert_shape(data)
    assert data["valid"] is True
    assert data["files"] == {"dicom": 10, "ignored": 0, "rejected": 0}
    assert data["problems"] == []
    [study] = data["studies"]
    assert (study["modalities"], study["body_parts"]) == (["MR"], ["BRAIN"])
    assert (study["series_count"], study["instance_count"]) == (1, 10)
    assert study["patient_id"] == factory.PATIENT_ID  # the JSON shape is fixed; text omits it
    assert study["subspecialty"] == "neuroradiology"
    assert study["routing_confidence"] >= NEEDS_COORDINATOR_BELOW
    assert FALLBACK_NOTE not in done.stderr  # routed with the database's rules


def test_zip_of_the_folder_reports_the_same_study(run, mr_brain, tmp_path):
    archive = zip_folder(mr_brain, tmp_path / "portal-download.zip")

    from_folder, from_zip = run(mr_brain, "--json"), run(archive, "--json")

    assert (from_folder.returncode, from_zip.returncode) == (0, 0), from_zip.stderr
    folder_data, zip_data = parse(from_folder.stdout), parse(from_zip.stdout)
    assert_shape(zip_data)
    assert zip_data["studies"] == folder_data["studies"]
    assert zip_data["studies"][0]["subspecialty"] == "neuroradiology"
    assert zip_data["files"]["dicom"] == 10 and zip_data["valid"] is True


def test_pydicom_dicomdir_folder_is_walked_and_the_index_is_not_an_instance(run):
    folder = sample("DICOMDIR").parent
    images = [
        path
        for path in folder.rglob("*")
        if path.is_file() and not path.name.startswith(("DICOMDIR", "README"))
    ]

    done = run(folder, "--json")

    data = parse(done.stdout)
    assert_shape(data)
    # pydicom's test CD holds several patients on purpose: an error, so exit 1.
    assert data["valid"] is False and "multiple_patients" in codes(data)
    assert done.returncode == 1
    assert data["files"]["dicom"] == len(images) == 81
    assert sum(study["instance_count"] for study in data["studies"]) == len(images)
    assert data["files"]["ignored"] >= 8  # the DICOMDIR, its variants, the READMEs
    assert not any("DICOMDIR" in problem["path"] for problem in data["problems"])
    assert "dicomdir_missing_file" not in codes(data)


def test_truncated_file_exits_1_with_truncated(run):
    done = run(sample("MR_truncated.dcm"), "--json")

    assert done.returncode == 1
    data = parse(done.stdout)
    assert_shape(data)
    assert data["valid"] is False
    assert "truncated" in codes(data)
    assert data["files"]["rejected"] == 1 and data["studies"] == []


def test_folder_with_only_a_text_file_exits_1_with_empty_upload(run, tmp_path):
    (tmp_path / "readme.txt").write_text("Insert the CD and run the viewer.\n")

    done = run(tmp_path, "--json")

    assert done.returncode == 1
    data = parse(done.stdout)
    assert "empty_upload" in codes(data)
    assert data["files"]["dicom"] == 0


@pytest.mark.parametrize(
    "args",
    [
        pytest.param(["/nonexistent/cd"], id="path-does-not-exist"),
        pytest.param([], id="path-missing"),
        pytest.param(["{cd}", "--exam-type", "spaceship"], id="bad-exam-type"),
        pytest.param(["{cd}", "--region", "elbowish"], id="bad-region"),
        pytest.param(["{cd}", "--age", "forty"], id="age-not-a-number"),
        pytest.param(["{cd}", "--age", "-3"], id="negative-age"),
    ],
)
def test_usage_errors_exit_2_with_nothing_on_stdout(run, mr_brain, args):
    done = run(*(arg.format(cd=mr_brain) for arg in args), "--json")

    assert done.returncode == 2, done.stderr
    assert done.stdout == ""
    assert done.stderr.strip()


def test_json_stdout_stays_one_document_when_pydicom_would_warn(run, tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pydicom warns while we build the file, too
        too_long = factory.make_dataset(study_description="MRI BRAIN " + "X" * 70)
    path = factory.write_dataset(too_long, tmp_path / "IM0001")
    with pytest.warns(UserWarning, match="exceeds the maximum length"):
        _ = dcmread(path).StudyDescription  # the precondition: this file makes pydicom warn
    (tmp_path / "NOTES").write_text("burned by the hospital\n")  # a stray file: a warning

    done = run(tmp_path, "--json", env={"PYTHONWARNINGS": "always"})

    assert done.returncode == 0, done.stderr
    data = parse(done.stdout)
    assert_shape(data)
    assert data["valid"] is True and "not_dicom" in codes(data)


def test_process_writes_nothing_outside_its_temporary_folder(run, mr_brain, tmp_path):
    archive = zip_folder(mr_brain, tmp_path / "study.zip")  # unpacking needs scratch space
    var, scratch = tmp_path / "var", tmp_path / "scratch"
    before = listing(tmp_path)
    scratch.mkdir()

    done = run(archive, "--json", env={"VAR_DIR": str(var), "TMPDIR": str(scratch)})

    assert done.returncode == 0, done.stderr
    assert listing(scratch) == []  # validate_path removed what it unpacked
    for folder in ("media", "work", "multipart"):
        assert not (var / folder).exists()
    # Settings create VAR_DIR; with SECRET_KEY and a Redis broker set, nothing inside it.
    created = {entry for entry in listing(var) if not entry.startswith(("broker", "secret_key"))}
    assert created == set()
    assert [p for p in listing(tmp_path) if not p.startswith(("var", "scratch"))] == before


@pytest.mark.parametrize(
    "database_url",
    [
        pytest.param("postgres://postgres@127.0.0.1:1/nowhere", id="server-unreachable"),
        pytest.param("sqlite:///{tmp}/never-migrated.sqlite3", id="not-migrated"),
    ],
)
def test_without_a_database_it_routes_with_the_shipped_rules_and_says_so(
    run, tmp_path, database_url
):
    env = {"DATABASE_URL": database_url.format(tmp=tmp_path), "VAR_DIR": str(tmp_path / "var")}
    studies = tmp_path / "studies"
    factory.write_series(studies / "brain", n=3, body_part="BRAIN")
    factory.write_series(
        studies / "knee", n=3, body_part="KNEE", study_description="MRI LEFT KNEE W/O"
    )
    factory.write_series(
        studies / "chest", n=3, modality="CT", body_part="CHEST", study_description="CT CHEST"
    )
    factory.write_mammogram(studies / "mammogram")
    expected = {
        "brain": ("neuroradiology", 85),
        "knee": ("musculoskeletal", 85),
        "chest": ("cardiothoracic", 85),
        "mammogram": ("breast", 99),
    }

    for name, routed in expected.items():
        done = run(studies / name, "--json", env=env)

        assert done.returncode == 0, done.stderr
        [note] = [line for line in done.stderr.splitlines() if FALLBACK_NOTE in line]
        assert "rules shipped with SecondOpinion" in note
        data = parse(done.stdout)
        assert_shape(data)
        [study] = data["studies"]
        assert (study["subspecialty"], study["routing_confidence"]) == routed, name


# --- in this process ------------------------------------------------------------------------------


def test_single_valid_file(db):
    status, out, _ = call(sample("CT_small.dcm"), "--json")

    assert status == 0
    data = parse(out)
    assert_shape(data)
    assert data["files"] == {"dicom": 1, "ignored": 0, "rejected": 0}
    [study] = data["studies"]
    assert (study["modalities"], study["instance_count"]) == (["CT"], 1)


def test_each_study_gets_its_own_routing_decision(db, tmp_path):
    factory.write_series(tmp_path / "MRI", n=5)
    factory.write_mammogram(tmp_path / "MAMMO")

    status, out, _ = call(tmp_path, "--json")

    assert status == 0
    by_modality = {tuple(s["modalities"]): s["subspecialty"] for s in parse(out)["studies"]}
    assert by_modality == {("MR",): "neuroradiology", ("MG",): "breast"}


def test_series_descriptions_count_for_routing(db, tmp_path):
    # No BodyPartExamined and a vague study description: only the series says "spine".
    factory.write_series(
        tmp_path,
        n=5,
        body_part=None,
        study_description="OUTSIDE STUDY",
        series_description="SAG T2 C-SPINE",
    )

    status, out, _ = call(tmp_path, "--json")

    assert status == 0
    assert parse(out)["studies"][0]["subspecialty"] == "neuroradiology"


def test_command_routes_a_study_as_the_worker_routes_its_case(alice, tmp_path):
    case = make_case(alice, complete=True, body_region="spine")
    study_uid = generate_uid()
    factory.write_series(
        tmp_path / "S1",
        n=6,
        study_uid=study_uid,
        body_part=None,
        study_description="MR",
        series_description="SAG T1 L-SPINE",
    )
    factory.write_series(
        tmp_path / "S2",
        n=6,
        study_uid=study_uid,
        series_number=2,
        body_part="LSPINE",
        series_description="AX T2",
    )
    upload = upload_folder(case, tmp_path)
    services.submit_case(case, by=case.patient, missing=[])
    flow.check_upload(upload.pk)
    case.refresh_from_db()
    age = case.patient_age

    status, out, _ = call(
        tmp_path, "--json", "--exam-type", case.exam_type, "--region", "spine", "--age", age
    )

    assert status == 0
    [study] = parse(out)["studies"]
    assert (study["subspecialty"], study["routing_confidence"]) == (
        case.queue_id,
        case.routing_confidence,
    )
    [summary] = validate_path(tmp_path, check_pixels=False).studies
    records = validation.case_records(case)
    assert study_facts(summary) == StudyFacts(
        records.modalities, records.body_parts, records.descriptions
    )


def test_human_summary_shows_the_study_and_no_patient_identity(db, mr_brain):
    status, out, err = call(mr_brain)

    assert status == 0
    assert out.startswith("VALID")
    for expected in ("MRI BRAIN WITHOUT CONTRAST", "MR", "BRAIN", "10 images", "neuroradiology"):
        assert expected in out
    for secret in ("DOE", "JANE", factory.PATIENT_ID, factory.BIRTH_DATE, "20240115"):
        assert secret not in out and secret not in err


def test_human_summary_lists_each_problem_and_exits_1(db, tmp_path):
    factory.write_series(tmp_path, n=4)
    factory.truncate(tmp_path / "IM0002", 200)

    status, out, _ = call(tmp_path)

    assert status == 1
    assert out.startswith("NOT VALID")
    assert "ERROR" in out and "truncated" in out and "IM0002" in out


def test_human_summary_escapes_control_characters_from_names_and_headers(db, tmp_path):
    factory.write_series(tmp_path, n=3, series_description="T1\x1b]0;owned\x07")
    (tmp_path / "notes\x1b[2J.rar").write_bytes(b"Rar!")

    status, out, _ = call(tmp_path)

    assert status == 0  # another archive format is only a warning
    assert "\x1b" not in out and "\x07" not in out
    assert "notes\\x1b[2J.rar" in out and "T1\\x1b]0;owned\\x07" in out


def test_command_sends_only_selects_and_adds_no_rows(db, mr_brain, tmp_path):
    archive = zip_folder(mr_brain, tmp_path / "study.zip")
    models = [
        model
        for label in ("records", "requests_app", "reviewers")
        for model in apps.get_app_config(label).get_models()
    ]
    before = {model: model.objects.count() for model in models}

    with CaptureQueriesContext(connection) as queries:
        status, out, _ = call(archive, "--json")

    assert status == 0 and parse(out)["valid"] is True
    assert [q["sql"] for q in queries if not q["sql"].lstrip().upper().startswith("SELECT")] == []
    assert len(queries) == 1  # load_rules
    assert {model: model.objects.count() for model in models} == before


def test_an_internal_error_is_a_problem_of_the_same_json_and_exits_1(db, mr_brain, monkeypatch):
    def bug(*args: object, **kwargs: object) -> None:
        raise TypeError("a bug of ours")

    monkeypatch.setattr("records.dicom.inspect._fill_fields", bug)

    status, out, _ = call(mr_brain, "--json")

    assert status == 1
    data = parse(out)
    assert_shape(data)
    assert (data["valid"], data["studies"]) == (False, [])
    assert data["files"] == {"dicom": 0, "ignored": 0, "rejected": 10}
    # Not "empty_upload": whether the folder holds images is what our code failed to find out.
    assert codes(data) == ["internal_error"] * 10
    assert {problem["severity"] for problem in data["problems"]} == {"error"}
