"""Fixtures shared by the records tests: one synthetic DICOM instance, and a CD with a DICOMDIR."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.records import dicom_factory as factory


@pytest.fixture
def instance(tmp_path: Path) -> Path:
    return factory.write_instance(tmp_path / "IM0001")


@pytest.fixture
def cd(tmp_path: Path) -> Path:
    """A CD written by pydicom's FileSet: DICOMDIR + PT000000/ST000000/SE000000/IM00000n."""
    sources = factory.write_series(tmp_path / "src", 5)
    root = tmp_path / "cd"
    factory.write_cd(root, sources)
    shutil.rmtree(tmp_path / "src")
    return root
