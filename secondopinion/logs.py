"""What reaches a log line: codes and ids, never a name, an e-mail, a file or a folder name.

Exception messages are where patients' words leak: `FileExistsError` names the path the patient
chose ("JOHN_Q_PATIENT_DOB_1961-07-04/IM1"), a database error quotes the row it refused. So every
log record is made safe where it is made, by a record factory installed with the logging
configuration: whichever handler or formatter writes it afterwards (ours, Celery's, gunicorn's,
a test's) sees the same safe record.

- An exception keeps its type (and errno) and the code it passed through (file, line,
  function), never its message or its source lines' values.
- An exception given as an argument becomes its type's name; so does the one Celery writes as
  text into its task-failure line, and the traceback text it keeps beside it goes.
- A web server's access line (runserver's, gunicorn's) loses the query strings of its request
  line and referrer: a search is typed there.
- A share link's token (in /s/<token>/, a key to a patient's report) is cut from every line
  (an access line, Django's "Not Found", a CSRF refusal).
"""

import logging
import logging.config
import re
import traceback
from collections.abc import Mapping, MutableMapping
from types import TracebackType

# Loggers whose lines quote the request line or the referrer.
ACCESS_LOGGERS = ("django.server", "gunicorn.access")
# Celery's task-failure lines: the exception's repr and its formatted traceback as text.
CELERY_TRACE = "celery.app.trace"
_QUERY = re.compile(r"\?[^\s\"]*")
_CALLED = re.compile(r"([A-Za-z_][\w.]*)\(")
_SHARE_TOKEN = re.compile(r"/s/[A-Za-z0-9_-]+")
_RETRY = re.compile(r"^Retry in [\d.]+s: ")


def configure(logging_settings: dict) -> None:
    """Django's LOGGING_CONFIG: make every record safe, then apply LOGGING."""
    install()
    logging.config.dictConfig(logging_settings)


def install() -> None:
    """Have every log record made safe as it is created (once per process)."""
    make = logging.getLogRecordFactory()
    if getattr(make, "makes_safe_records", False):
        return

    def safe_record(*args, **kwargs) -> logging.LogRecord:
        record = make(*args, **kwargs)
        make_safe(record)
        return record

    safe_record.makes_safe_records = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(safe_record)


def make_safe(record: logging.LogRecord) -> None:
    try:
        _make_safe(record)
    except Exception:  # a record that cannot be made safe is not written as it came
        record.msg, record.args = "log line withheld: it could not be made safe", ()
        record.exc_info, record.exc_text = None, None


def _make_safe(record: logging.LogRecord) -> None:
    exc_info = record.exc_info if isinstance(record.exc_info, tuple) else None
    if exc_info and exc_info[1] is not None:
        # Formatters use exc_text when it is there and exc_info is not: the record carries the
        # safe text only, so no handler can render the message.
        record.exc_text = describe(exc_info[1])
        record.exc_info = None
    if isinstance(record.msg, BaseException):
        record.msg = exception_name(record.msg)
    args = record.args
    if isinstance(args, Mapping) and not isinstance(args, MutableMapping):
        args = record.args = dict(args)
    if isinstance(args, MutableMapping):
        # Changed in place: Celery passes the same dict as `extra={"data": ...}`, which is
        # set on the record after this factory has run.
        for key, value in list(args.items()):
            args[key] = _safe_arg(value)
        if record.name == CELERY_TRACE:
            if "exc" in args:
                args["exc"] = _name_in_repr(str(args["exc"]), exc_info)
            if "traceback" in args:
                args["traceback"] = record.exc_text or ""
    elif isinstance(args, tuple):
        record.args = tuple(_safe_arg(value) for value in args)
    if record.name in ACCESS_LOGGERS:
        _strip_queries(record)
    _hide_share_tokens(record)


def exception_name(exc: BaseException) -> str:
    kind = type(exc)
    name = (
        kind.__qualname__
        if kind.__module__ == "builtins"
        else f"{kind.__module__}.{kind.__qualname__}"
    )
    errno = getattr(exc, "errno", None)
    return f"{name} [Errno {errno}]" if isinstance(errno, int) else name


def describe(exc: BaseException) -> str:
    """A traceback of `exc` (and the exceptions it was raised from) without any message."""
    chain: list[BaseException] = []
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        chain.append(current)
        cause = current.__cause__
        current = (
            cause
            if cause is not None
            else (None if current.__suppress_context__ else current.__context__)
        )
    blocks = []
    for item in reversed(chain):
        lines = ["Traceback (most recent call last):", *_frames(item.__traceback__)]
        lines.append(f"{exception_name(item)} (message withheld: it may quote patient data)")
        blocks.append("\n".join(lines))
    return "\n\nThe above exception led to the following one:\n\n".join(blocks)


def _frames(tb: TracebackType | None) -> list[str]:
    return [
        f'  File "{frame.filename}", line {frame.lineno}, in {frame.name}'
        for frame in traceback.extract_tb(tb)
    ]


def _safe_arg(value: object) -> object:
    return exception_name(value) if isinstance(value, BaseException) else value


def _name_in_repr(text: str, exc_info) -> str:
    """The exception's type from Celery's "FileExistsError(17, 'File exists')" text, after
    its "Retry in 2s: " when the task is retried."""
    retry = _RETRY.match(text)
    prefix = retry.group(0) if retry else ""
    if exc_info and exc_info[1] is not None:
        return prefix + exception_name(exc_info[1])
    called = _CALLED.search(text, len(prefix))
    return prefix + (called.group(1) if called else "error")


def _strip_queries(record: logging.LogRecord) -> None:
    args = record.args
    if isinstance(args, MutableMapping):
        for key, value in list(args.items()):
            if isinstance(value, str):
                args[key] = "" if key == "q" else _QUERY.sub("", value)
    elif isinstance(args, tuple):
        record.args = tuple(_QUERY.sub("", v) if isinstance(v, str) else v for v in args)
    if isinstance(record.msg, str) and not args:
        record.msg = _QUERY.sub("", record.msg)


def _hide_share_tokens(record: logging.LogRecord) -> None:
    def hide(value: object) -> object:
        return _SHARE_TOKEN.sub("/s/…", value) if isinstance(value, str) else value

    args = record.args
    if isinstance(args, MutableMapping):
        for key, value in list(args.items()):
            args[key] = hide(value)
    elif isinstance(args, tuple):
        record.args = tuple(hide(value) for value in args)
    record.msg = hide(record.msg)
