"""Log lines carry codes and ids: never an exception's message, never a search typed in a URL."""

import logging

from secondopinion.celery import app

FOLDER = "JOHANNA_QUINTERO_DOB_1961-07-04"


def _lay_out() -> None:
    raise FileExistsError(17, "File exists", f"/var/work/upload-1/files/{FOLDER}/IM1")


def test_an_exception_keeps_its_type_and_place_but_not_its_message(every_log_record):
    try:
        try:
            _lay_out()
        except OSError as exc:
            raise RuntimeError(f"could not place {FOLDER}") from exc
    except RuntimeError as exc:
        logging.getLogger("records.validation").exception("upload %s: %s", "3f2a", exc)

    text = every_log_record.text()
    assert "upload 3f2a: RuntimeError" in text
    assert "FileExistsError [Errno 17]" in text and "RuntimeError (message withheld" in text
    assert f'File "{__file__}"' in text and "in _lay_out" in text
    assert FOLDER not in text


@app.task(name="tests.security.lay_out")
def lay_out_task() -> None:
    _lay_out()


def test_a_failed_task_is_logged_by_celery_with_its_type_only(every_log_record):
    assert lay_out_task.apply().state == "FAILURE"

    failures = [r for r in every_log_record.records if r.name == "celery.app.trace"]
    assert failures, every_log_record.text()
    text = every_log_record.text()
    assert "raised unexpected: FileExistsError [Errno 17]" in text
    assert "in _lay_out" in text
    assert FOLDER not in text


def test_a_retried_task_says_so_and_names_the_error_by_its_type_only(every_log_record):
    # Celery's retry line, as celery.app.trace writes it: the reason as text.
    reason = f"Retry in 2s: OperationalError('could not write {FOLDER}/IM1 (disk full)')"
    logging.getLogger("celery.app.trace").info(
        "Task %(name)s[%(id)s] retry: %(exc)s",
        {"name": "requests_app.tasks.validate_upload_task", "id": "5c6a", "exc": reason},
    )

    text = every_log_record.text()
    assert "validate_upload_task[5c6a] retry: Retry in 2s: OperationalError" in text
    assert FOLDER not in text and "disk full" not in text


def test_access_lines_lose_their_query_strings(every_log_record):
    # runserver's line, and gunicorn's with its atoms (request line, query, referrer)
    logging.getLogger("django.server").info(
        '"%s" %s %s', "GET /admin/requests_app/case/?q=Johanna+Quintero HTTP/1.1", "200", "512"
    )
    logging.getLogger("gunicorn.access").info(
        '%(h)s "%(r)s" %(s)s "%(f)s" %(q)s',
        {
            "h": "10.0.0.7",
            "r": "GET /admin/auth/user/?q=johanna.qp%40example.com&o=1 HTTP/1.1",
            "s": "200",
            "f": "https://secondopinion.example/admin/?q=Quintero",
            "q": "q=Quintero",
        },
    )

    text = every_log_record.text()
    assert '"GET /admin/requests_app/case/ HTTP/1.1" 200 512' in text
    assert (
        '10.0.0.7 "GET /admin/auth/user/ HTTP/1.1" 200 "https://secondopinion.example/admin/"'
        in text
    )
    assert "Johanna" not in text and "johanna.qp" not in text and "Quintero" not in text


def test_a_share_links_token_is_in_no_log_line(client, db, every_log_record):
    token = "Zq3tR0kVb1yWm8X4nH6pLcJ2sD9fG5aE7uQoIiTxYw0"
    assert client.get(f"/s/{token}/").status_code == 404  # Django's "Not Found: <path>"
    logging.getLogger("gunicorn.access").info(
        '%(h)s "%(r)s" %(s)s', {"h": "10.0.0.7", "r": f"GET /s/{token}/ HTTP/1.1", "s": "404"}
    )
    text = every_log_record.text()
    assert '"GET /s/…/ HTTP/1.1" 404' in text and "Not Found: /s/…/" in text
    assert token not in text
