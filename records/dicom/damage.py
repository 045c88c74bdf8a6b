"""Damaged file, or a failure of our own code: the rule every reader of a patient's bytes follows.

``Reject`` and ``Damaged`` are verdicts on the file; anything else raised is a bug of ours and
becomes ``internal_error``. ``Quiet`` silences pydicom, whose warnings and log lines quote values.
"""

from __future__ import annotations

import errno
import logging
import threading
import traceback
import warnings
from typing import ClassVar, Final

from records.problems import INTERNAL_ERROR, Problem, make

_PYDICOM_LOGGER: Final = logging.getLogger("pydicom")
# One logger for the whole package: what selects "records.dicom" (alerts, log filters) sees every
# internal error, whichever of its modules met it.
logger = logging.getLogger("records.dicom")

# Errors of our own machine, not of the patient's file: let the task fail and retry.
INFRASTRUCTURE_ERRNOS: Final = frozenset(
    {errno.ENOENT, errno.EACCES, errno.EPERM, errno.EIO, errno.EMFILE, errno.ENFILE}
)


# Damaged file, or a failure of our own code? A file gets a verdict (truncated, not_dicom...)
# only when something about its bytes was found wrong:
# * our own parsing code checks every offset and length itself and raises Reject with the code;
# * a third-party parser or codec (pydicom, zlib, numpy, Pillow, pylibjpeg, gdcm) reading the
#   file's bytes runs inside ``with third_party:``, which turns what it raises into Damaged;
# * an OSError while reading the file is the file's (our machine's own errors go to the task).
# Any other exception is a bug of ours, whatever its type: a struct.error or an IndexError in our
# parser means a bounds check is missing. It becomes internal_error, logged with its type and
# place, and never tells the patient that their file is damaged.


class Reject(Exception):
    """Stops inspecting a file with the code that explains why."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


class Damaged(Exception):
    """A third-party parser or codec gave up on the patient's bytes: a verdict on the file."""


class _ThirdParty:
    """``with third_party:`` around a call into pydicom, zlib, numpy, Pillow or a codec on the
    patient's bytes. Crafted files make these raise almost anything (struct.error, ValueError,
    KeyError, OverflowError, RecursionError on nested sequences, MemoryError on absurd lengths,
    zlib.error...): it is all raised again as Damaged. Keep each block to the library call: a
    bug of ours inside one would be blamed on the file. A class, not a generator: it runs for
    every file of an upload.
    """

    __slots__ = ()

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: object, exc: BaseException | None, tb: object) -> None:
        if not isinstance(exc, Exception) or isinstance(exc, (Reject, Damaged)):
            return  # no exception, an interrupt, or a verdict already
        if isinstance(exc, OSError) and exc.errno in INFRASTRUCTURE_ERRNOS:
            return  # our machine's error: the task retries
        raise Damaged from exc


third_party: Final = _ThirdParty()
_OUR_PACKAGE: Final = __name__.partition(".")[0] + "."


def internal_error(exc: Exception, shown: str) -> Problem:
    """A failure of our own code while checking ``shown``: logged, and reported as internal_error.

    The log names the exception's type and the innermost place in our code it passed through,
    never its message (it may quote a header value) nor ``shown`` (folders on a CD are often
    named after the patient).
    """
    logger.error(
        "%s while checking a file: %s at %s", INTERNAL_ERROR, _type_name(exc), _raised_at(exc)
    )
    return make(INTERNAL_ERROR, shown)


def _type_name(exc: BaseException) -> str:
    kind = type(exc)
    if kind.__module__ == "builtins":
        return kind.__qualname__
    return f"{kind.__module__}.{kind.__qualname__}"


def _raised_at(exc: BaseException) -> str:
    """module:function:line of the innermost frame of our own code the exception passed through."""
    where = "unknown"
    for frame, line in traceback.walk_tb(exc.__traceback__):
        module = frame.f_globals.get("__name__", "")
        if module.startswith(_OUR_PACKAGE):
            where = f"{module}:{frame.f_code.co_qualname}:{line}"
    return where


class Quiet(warnings.catch_warnings):
    """pydicom quotes odd values (a name, an ID) in its warnings AND its log: silence both.

    Its pixel decoders log through loggers of their own ("pydicom.pixels.decoders.base", with
    the codec's exception), which ``disabled`` on "pydicom" does not reach: not propagating
    stops them at pydicom's own NullHandler.
    """

    # Threads share the logger: the first to enter silences it, the last to leave restores it.
    _lock: ClassVar = threading.Lock()
    _inside: ClassVar[int] = 0
    _was: ClassVar[tuple[bool, bool]] = (False, True)

    def __enter__(self) -> None:
        super().__enter__()
        warnings.simplefilter("ignore")
        with Quiet._lock:
            if Quiet._inside == 0:
                Quiet._was = (_PYDICOM_LOGGER.disabled, _PYDICOM_LOGGER.propagate)
                _PYDICOM_LOGGER.disabled, _PYDICOM_LOGGER.propagate = True, False
            Quiet._inside += 1

    def __exit__(self, *exc_info: object) -> None:
        with Quiet._lock:
            Quiet._inside -= 1
            if Quiet._inside == 0:
                _PYDICOM_LOGGER.disabled, _PYDICOM_LOGGER.propagate = Quiet._was
        super().__exit__(*exc_info)
