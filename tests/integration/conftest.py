"""Alice's brain-MRI request and her browser's uploader, for the tests with a real worker."""

from pathlib import Path

import pytest

from records.models import Upload
from tests.conftest import make_case
from tests.records.test_multipart import Patient

# Until tests/conftest.py loads the plugin (`pytest_plugins = ["tests.services"]`): a
# `pytest_plugins` line here would break collection of the whole suite (pytest allows it in the
# top-level conftest only), so the one fixture these tests need is imported instead.
from tests.services import celery_worker  # noqa: F401


class Uploader(Patient):
    """The browser's uploader, sending a whole folder as a patient picks it."""

    def send_folder(self, folder: Path) -> Upload:
        """Every file under `folder`, paths relative to its parent (as webkitRelativePath)."""
        batch = self.start()
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            self.send(batch, path.relative_to(folder.parent).as_posix(), path.read_bytes())
        response = self.finish(batch)
        assert response.status_code == 200, response.content
        return Upload.objects.get(code=batch["upload"])


@pytest.fixture
def case(alice):
    """Alice's complete request, for the patient and the exam date the synthetic studies show
    (DOE^JANE, 1970; taken 2024-01-15)."""
    return make_case(
        alice,
        complete=True,
        patient_name="Jane Doe",
        patient_birth_date="1970-01-01",
        exam_date="2024-01-15",
    )


@pytest.fixture
def patient(client, case):
    client.force_login(case.patient)
    return Uploader(client, case)
