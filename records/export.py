"""Everything of a case's records for its patient, as one zip: the images laid out as a DICOM
File-set with its DICOMDIR (PS3.10), so that viewers on a CD or a hospital's import open it, and
whatever documents the caller adds (the reports), with a README.

The DICOMDIR is built from what the database knows of each image and a few elements of one
header per study: stand-in files of the headers only are written to a scratch folder, never the
images. The images themselves are sent from storage into the zip as `studyzip` does, at the
paths the DICOMDIR names, so the archive's exact length is known before the first byte.
"""

import io
import secrets
import tempfile
import uuid
import zipfile
from collections import Counter
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import NamedTuple

import pydicom
from django.core.files import File
from django.core.files.storage import default_storage
from django.utils import timezone
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.fileset import FileSet

from requests_app.models import Case

from . import studyzip
from .dicom import deid
from .models import Document, Instance, Study, UploadFile
from .storedzip import Entry, StoredZip

# Elements of the records the database does not keep, read from one header of each study.
_STUDY_HEADER = ["PatientID", "PatientName", "StudyTime", "StudyID", "AccessionNumber"]
# Images whose class the default directory records do not take go here, outside the File-set.
OTHER_FOLDER = "OTHER"


class Extra(NamedTuple):
    """A document to put beside the images: its path in the zip, how to read it, its size."""

    arcname: str
    chunks: Callable[[], Iterable[bytes]]
    size: int


def original_reports(case: Case) -> list[Document]:
    """The reports of the imaging that the patient sent with the request."""
    return list(case.documents.filter(kind=Document.Kind.ORIGINAL_REPORT))


def _study_header(study: Study, instance: Instance) -> Dataset:
    with default_storage.open(instance.file.key, "rb") as handle:
        return pydicom.dcmread(
            handle, stop_before_pixels=True, specific_tags=_STUDY_HEADER, force=True
        )


def _stand_in(instance: Instance, header: Dataset) -> Dataset:
    """The headers of one image a directory record needs, from the database and its study."""
    series, study = instance.series, instance.series.study
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = (
        instance.transfer_syntax_uid or pydicom.uid.ExplicitVRLittleEndian
    )
    ds.file_meta.MediaStorageSOPClassUID = instance.sop_class_uid
    ds.file_meta.MediaStorageSOPInstanceUID = instance.sop_instance_uid
    ds.SOPClassUID = instance.sop_class_uid
    ds.SOPInstanceUID = instance.sop_instance_uid
    ds.PatientID = str(header.get("PatientID") or "") or "UNKNOWN"
    ds.PatientName = str(header.get("PatientName") or "") or study.patient_name
    ds.StudyInstanceUID = study.study_instance_uid
    # Type 1 in a STUDY record, though often empty in the images: a stand-in value then.
    ds.StudyDate = study.study_date or "19000101"
    ds.StudyTime = str(header.get("StudyTime") or "") or "000000"
    ds.StudyID = str(header.get("StudyID") or "") or "1"
    ds.AccessionNumber = str(header.get("AccessionNumber") or "")
    ds.StudyDescription = study.description
    ds.SeriesInstanceUID = series.series_instance_uid
    ds.Modality = series.modality or "OT"
    ds.SeriesNumber = series.series_number if series.series_number is not None else 1
    ds.InstanceNumber = instance.instance_number if instance.instance_number is not None else 1
    return ds


def fileset(case: Case) -> tuple[bytes, list[tuple[str, UploadFile]]]:
    """The DICOMDIR's bytes, and each stored image file with its path in the File-set (or in
    `OTHER_FOLDER` when no default directory record takes its class)."""
    instances = list(
        Instance.objects.filter(series__study__case=case, file__status=UploadFile.Status.COMPLETE)
        .select_related("series__study", "file__upload__case")
        .order_by(
            "series__study__pk", "series__series_number", "series__pk", "instance_number", "pk"
        )
    )
    fs = FileSet()
    headers: dict[int, Dataset] = {}
    seen: set[str] = set()
    by_uid: dict[str, UploadFile] = {}
    others: list[UploadFile] = []
    for instance in instances:
        if instance.sop_instance_uid in seen:
            continue
        seen.add(instance.sop_instance_uid)
        study = instance.series.study
        if study.pk not in headers:
            headers[study.pk] = _study_header(study, instance)
        try:
            fs.add(_stand_in(instance, headers[study.pk]))
        except ValueError:
            others.append(instance.file)
            continue
        by_uid[instance.sop_instance_uid] = instance.file
    if not by_uid:
        return b"", [(f"{OTHER_FOLDER}/{row.code}.dcm", row) for row in others]
    with tempfile.TemporaryDirectory() as scratch:
        fs.write(scratch)
        dicomdir = (Path(scratch) / "DICOMDIR").read_bytes()
        files = [(inst.FileID.replace("\\", "/"), by_uid[inst.SOPInstanceUID]) for inst in fs]
    files.sort(key=lambda entry: entry[0])
    files += [(f"{OTHER_FOLDER}/{row.code}.dcm", row) for row in others]
    return dicomdir, files


def build(case: Case, extras: Iterable[Extra], readme: str) -> StoredZip:
    """The sized, stored zip: README.txt, the DICOMDIR and images, then the extras."""
    entries = [Entry.of_bytes("README.txt", readme.encode())]
    dicomdir, files = fileset(case)
    if dicomdir:
        entries.append(Entry.of_bytes("DICOMDIR", dicomdir))
    entries += [studyzip.entry(row, arcname) for arcname, row in files]
    entries += [Entry(extra.arcname, extra.size, extra.chunks) for extra in extras]
    return StoredZip(entries, modified=timezone.localtime())


# --- A de-identified copy, made by a worker ------------------------------------------------------

DEID_README = """SecondOpinion: a de-identified copy of your images
==================================================

The images here were de-identified after DICOM PS3.15's Basic Application Level
Confidentiality Profile: names, IDs, birth date, accession numbers, institutions and private
elements are removed; every UID is replaced and every date moved by the same number of days.
Reports (PDF or structured) are not included.{burned}

Open the DICOMDIR file with an image viewer. Pixels are unchanged: check the images before you
share them, in case text was written into them.
"""


def deidentified_key(case: Case, copy: str) -> str:
    return f"cases/{case.code}/exports/deidentified-{copy}.zip"


def _left_out_note(left: Counter[str]) -> str:
    """What the README says of the files not copied, one line a reason."""
    if not left:
        return ""
    lines = [f"- {n} file{'s' if n > 1 else ''}: {reason}" for reason, n in left.items()]
    return "\nFiles left out of this copy, and why:\n" + "\n".join(sorted(lines)) + "\n"


def make_deidentified(case: Case, *, keep_burned_in: bool = False) -> tuple[str, int]:
    """Write a de-identified copy of the case's images to storage, as a zip of a DICOM File-set;
    returns its code and how many files it holds. Run by a worker: it reads every image."""
    recipe = deid.new_recipe(secrets.token_bytes(32), keep_burned_in=keep_burned_in)
    fs = FileSet()
    left: Counter[str] = Counter()
    with tempfile.TemporaryDirectory() as scratch:
        for row in studyzip.study_files(case):
            with default_storage.open(row.key, "rb") as handle:
                outcome = deid.deidentify_file(handle.read(), recipe)
            if outcome.data is None:
                left[outcome.reason] += 1
                continue
            ds = pydicom.dcmread(io.BytesIO(outcome.data))
            # Emptied or often empty, but a DICOMDIR's study record needs them: dummy values.
            ds.StudyID = str(ds.get("StudyID") or "") or "1"
            ds.StudyTime = str(ds.get("StudyTime") or "") or "000000"
            try:
                fs.add(ds)
            except ValueError:
                left["not an image a DICOMDIR can list"] += 1
        folder = Path(scratch) / "fileset"
        count = len(fs)
        if count:
            fs.write(folder)
        burned = (
            " Series marked as having text burned into the pixels were included, as you asked."
            if keep_burned_in
            else " Series marked as having text burned into the pixels were left out."
        )
        archive = Path(scratch) / "copy.zip"
        with zipfile.ZipFile(archive, "w", zipfile.ZIP_STORED) as out:
            out.writestr("README.txt", DEID_README.format(burned=burned) + _left_out_note(left))
            if count:
                for path in sorted(folder.rglob("*")):
                    if path.is_file():
                        out.write(path, path.relative_to(folder).as_posix())
        copy = str(uuid.uuid4())
        with archive.open("rb") as handle:
            default_storage.save(deidentified_key(case, copy), File(handle))
    return copy, count
