"""A study's images are written with COPY on PostgreSQL: every value comes back as it went in."""

import pytest
from django.db import connection

from records import validation
from records.models import Instance, Series, Study, Upload, UploadFile
from tests.conftest import make_case


@pytest.mark.parametrize("count", [validation.COPY_FROM - 1, validation.COPY_FROM + 10])
def test_many_images_are_inserted_with_every_value_intact(alice, count):
    case = make_case(alice, complete=True)
    upload = Upload.objects.create(case=case, uploaded_by=alice)
    study = Study.objects.create(case=case, upload=upload, study_instance_uid="1.2.3")
    series = Series.objects.create(study=study, series_instance_uid="1.2.3.4")
    files = UploadFile.objects.bulk_create(
        UploadFile(upload=upload, relative_path=f"CD/IM{n}", size=n) for n in range(count)
    )
    odd = "a\tb\\c\nd\re \\N"  # what COPY's text format must escape, and its null marker
    rows = [
        Instance(
            series=series,
            file=file,
            sop_instance_uid=f"1.2.3.4.{n}",
            sop_class_uid=odd if n == 0 else "1.2.840.10008.5.1.4.1.1.4",
            instance_number=None if n == 1 else n,
            transfer_syntax_uid="",
            rows=512,
            columns=None,
            frames=n + 1,
        )
        for n, file in enumerate(files)
    ]

    validation._insert_rows(Instance, rows)

    stored = Instance.objects.filter(series=series).order_by("sop_instance_uid")
    names = [
        "file_id",
        "sop_instance_uid",
        "sop_class_uid",
        "instance_number",
        "rows",
        "columns",
        "frames",
        "transfer_syntax_uid",
    ]
    expected = [
        tuple(getattr(r, name) for name in names)
        for r in sorted(rows, key=lambda r: r.sop_instance_uid)
    ]
    assert list(stored.values_list(*names)) == expected
    assert connection.vendor == "postgresql"  # the COPY path is the one exercised above
