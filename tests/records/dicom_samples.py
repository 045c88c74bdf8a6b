"""Helpers shared by the records.dicom tests: problem codes of a result, pydicom's sample files,
and an image of a written CD by its number."""

from __future__ import annotations

from pathlib import Path

from pydicom import dcmread
from pydicom.data import get_testdata_file

from records.dicom import FileResult, Report
from records.problems import Problem


def codes(result: FileResult | Report | list[Problem]) -> list[str]:
    found = result if isinstance(result, list) else result.problems
    return [problem.code for problem in found]


def sample(name: str) -> Path:
    return Path(get_testdata_file(name))


def image_number(cd: Path, number: int) -> Path:
    """The CD file holding InstanceNumber ``number`` (FileSet picks its own file names)."""
    for path in cd.rglob("IM*"):
        if dcmread(path, stop_before_pixels=True).InstanceNumber == number:
            return path
    raise LookupError(number)
