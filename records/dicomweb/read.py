"""Reading a case's stored DICOM files for DICOMweb: as stored, a chunk at a time, or parsed."""

from collections.abc import Iterator
from typing import IO

from django.core.files.storage import default_storage

from .. import studyzip


def open_stored(key: str) -> IO[bytes]:
    return default_storage.open(key, "rb")


def chunks(key: str) -> Iterator[bytes]:
    """The stored bytes of one file, unchanged, a chunk at a time (the study zip's reader)."""
    return studyzip.stored_chunks(key)
