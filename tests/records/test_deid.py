"""The de-identified copy (records/dicom/deid.py): no patient name, ID, birth date or accession
number survives anywhere in a file, sequences and private elements included; UIDs are replaced
the same way in every file; dates move together; reports and burned-in series are left out.
Every hostile image of the bad-input catalogue is either copied clean or left out with a reason."""

import logging
from datetime import date
from io import BytesIO

import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.uid import EncapsulatedPDFStorage, MRImageStorage, generate_uid

from records.dicom import deid
from records.dicom.damage import Quiet
from tests.records.dicom_factory import (
    BIRTH_DATE,
    PATIENT_ID,
    PATIENT_NAME,
    _add_vendor_noise,
    make_dataset,
)
from tests.security.test_bad_inputs import DICOM_CASES, Hostile

ACCESSION = "SYNACC1"
IDENTIFIERS = [PATIENT_NAME, "JANE", PATIENT_ID, BIRTH_DATE, ACCESSION]


def _item(**values) -> Dataset:
    item = Dataset()
    for keyword, value in values.items():
        setattr(item, keyword, value)
    return item


def _identified(study: str, series: str, *, refers_to: str = "", n: int = 1) -> Dataset:
    """An image whose identifiers also hide in sequences, private elements and free text."""
    ds = make_dataset(study_uid=study, series_uid=series, instance_number=n, seed=n)
    ds.AccessionNumber = ACCESSION
    ds.StudyDate, ds.SeriesDate = "20240310", "20240312"
    ds.AcquisitionDateTime = "20240312101500"
    ds.InstitutionName = "Springfield General"
    ds.ReferringPhysicianName = "HOUSE^GREGORY"
    ds.OtherPatientIDsSequence = Sequence([_item(PatientID=PATIENT_ID)])
    # A sequence the profile keeps, with identifiers inside it.
    ds.ProcedureCodeSequence = Sequence(
        [
            _item(
                CodeValue="MRBR",
                CodingSchemeDesignator="L",
                CodeMeaning=f"MRI for {PATIENT_NAME} {PATIENT_ID} born {BIRTH_DATE}",
            )
        ]
    )
    ds.RequestAttributesSequence = Sequence([_item(AccessionNumber=ACCESSION)])
    if refers_to:
        ds.ReferencedImageSequence = Sequence(
            [_item(ReferencedSOPClassUID=MRImageStorage, ReferencedSOPInstanceUID=refers_to)]
        )
    _add_vendor_noise(ds)
    block = ds.private_block(0x0031, "SYNTHETIC PATIENT", create=True)
    block.add_new(0x10, "LO", PATIENT_NAME)
    block.add_new(0x11, "SQ", Sequence([_item(PatientName=PATIENT_NAME, PatientID=PATIENT_ID)]))
    ds.add_new(0x00211099, "LO", f"Accession {ACCESSION}")  # private, without a creator
    ds.ImageComments = f"Patient {PATIENT_NAME}"
    ds.DerivationDescription = ACCESSION
    ds.ContentLabel = f"{PATIENT_ID}"  # a text element the profile keeps
    return ds


def _bytes(ds: Dataset) -> bytes:
    out = BytesIO()
    ds.save_as(out, enforce_file_format=True)
    return out.getvalue()


def _every_value(ds: Dataset) -> str:
    values = [str(element.value) for element in ds.file_meta.iterall()]
    values += [str(element.value) for element in ds.iterall() if element.tag != 0x7FE00010]
    return "\n".join(values).upper()


def test_no_identifier_survives_in_any_element():
    study, series = generate_uid(), generate_uid()
    recipe = deid.new_recipe(b"secret")
    first = _identified(study, series)
    before = _bytes(first)
    for identifier in IDENTIFIERS:
        assert identifier.encode() in before  # the test's file does hold them
    copy = deid.deidentify(first, recipe)
    assert copy is not None
    written = _bytes(copy)
    reread = pydicom.dcmread(BytesIO(written))
    text = _every_value(reread)
    for identifier in [*IDENTIFIERS, "SPRINGFIELD", "HOUSE"]:
        assert identifier not in text, identifier
        assert identifier.encode() not in written.upper(), identifier
    assert not any(element.tag.is_private for element in reread.iterall())
    assert "PatientBirthDate" not in reread and "AccessionNumber" not in reread
    assert reread.PatientIdentityRemoved == "YES"
    assert reread.PatientID == recipe.pseudonym and reread.PatientName == "ANONYMOUS"
    assert reread.DeidentificationMethodCodeSequence[0].CodeValue == "113100"
    assert reread.ProcedureCodeSequence[0].CodeValue == "MRBR"
    assert "ContentLabel" not in reread


def test_uids_are_replaced_the_same_way_in_every_file_and_dates_move_together():
    study, series = generate_uid(), generate_uid()
    one = _identified(study, series, n=1)
    original_sop = one.SOPInstanceUID
    two = _identified(study, series, refers_to=original_sop, n=2)
    recipe = deid.new_recipe(b"secret")
    one, two = deid.deidentify(one, recipe), deid.deidentify(two, recipe)
    assert one.StudyInstanceUID == two.StudyInstanceUID != study
    assert one.SeriesInstanceUID == two.SeriesInstanceUID != series
    assert one.SOPInstanceUID != original_sop
    assert two.ReferencedImageSequence[0].ReferencedSOPInstanceUID == one.SOPInstanceUID
    assert one.file_meta.MediaStorageSOPInstanceUID == one.SOPInstanceUID
    assert one.SOPClassUID == MRImageStorage  # DICOM's own UIDs stay
    assert two.ReferencedImageSequence[0].ReferencedSOPClassUID == MRImageStorage
    assert pydicom.uid.UID(one.SOPInstanceUID).is_valid

    assert -365 <= recipe.shift_days <= -30
    study_day = date.fromisoformat(
        one.StudyDate[:4] + "-" + one.StudyDate[4:6] + "-" + one.StudyDate[6:]
    )
    assert (date(2024, 3, 10) - study_day).days == -recipe.shift_days
    assert one.StudyDate == two.StudyDate
    series_day = date.fromisoformat(
        one.SeriesDate[:4] + "-" + one.SeriesDate[4:6] + "-" + one.SeriesDate[6:]
    )
    assert (series_day - study_day).days == 2
    assert one.AcquisitionDateTime[:8] == one.SeriesDate and one.AcquisitionDateTime[8:] == "101500"
    # Another copy (another secret) has other UIDs: copies cannot be linked by them.
    other = deid.deidentify(_identified(study, series), deid.new_recipe(b"another"))
    assert other.StudyInstanceUID != one.StudyInstanceUID


def test_reports_and_burned_in_series_are_left_out_unless_the_patient_insists():
    recipe = deid.new_recipe(b"secret")
    pdf = make_dataset(sop_class_uid=EncapsulatedPDFStorage)
    assert deid.deidentify(pdf, recipe) is None
    burned = make_dataset()
    burned.BurnedInAnnotation = "YES"
    assert deid.deidentify(burned, recipe) is None
    insisted = deid.new_recipe(b"secret", keep_burned_in=True)
    burned_again = make_dataset()
    burned_again.BurnedInAnnotation = "YES"
    kept = deid.deidentify(burned_again, insisted)
    assert kept is not None and "PatientBirthDate" not in kept
    clean = make_dataset()
    clean.BurnedInAnnotation = "NO"
    assert deid.deidentify(clean, recipe) is not None


# What a hostile file of the catalogue may hold of the patient: "DOE" and "JANE" alone too.
HOSTILE_IDENTIFIERS = [PATIENT_NAME, "DOE", "JANE", PATIENT_ID, BIRTH_DATE, ACCESSION]
REASONS = {
    "not a DICOM file",
    "a deflated file",
    "an unknown transfer syntax",
    "a damaged element",
    "a damaged or truncated file",
    "sequences nested too deeply",
    "not an image: no SOP instance",
    "burned-in annotation",
    "identifiers could not be removed",
}
# Those the recipe cannot clean with confidence: a copy of them would be a guess.
MUST_BE_LEFT_OUT = {
    "not_dicom": "not a DICOM file",
    "raw_dataset_no_preamble": "not a DICOM file",
    "deflate_bomb": "a deflated file",
    "nested_sequences_3000": "sequences nested too deeply",
    "nested_sequences_100000": "sequences nested too deeply",
    "bad_vr": "a damaged element",
    "unknown_transfer_syntax": "an unknown transfer syntax",
    "burned_in_annotation": "burned-in annotation",
}


@pytest.mark.parametrize("case", [pytest.param(c, id=n) for n, c in DICOM_CASES.items()])
def test_a_hostile_file_is_copied_clean_or_left_out_with_its_reason(
    case: Hostile, request, tmp_path, caplog
):
    name = request.node.callspec.id
    for data in case.build(tmp_path).values():
        caplog.clear()
        caplog.set_level(logging.DEBUG)
        outcome = deid.deidentify_file(data, deid.new_recipe(b"secret"))
        logged = caplog.text.upper() + "".join(str(r.args) for r in caplog.records).upper()
        assert not any(identifier in logged for identifier in HOSTILE_IDENTIFIERS), logged
        if outcome.data is None:
            assert outcome.reason in REASONS, outcome.reason
            assert outcome.reason == MUST_BE_LEFT_OUT.get(name, outcome.reason)
            continue
        assert name not in MUST_BE_LEFT_OUT and outcome.reason == ""
        for identifier in HOSTILE_IDENTIFIERS:
            assert identifier.encode() not in outcome.data.upper(), identifier
        assert outcome.data[:128] == bytes(128)  # no executable preamble rides along
        with Quiet():  # odd values the copy keeps (a frame count of 1e+20) are warned of
            reread = pydicom.dcmread(BytesIO(outcome.data))
            text = _every_value(reread)
        assert not any(identifier in text for identifier in HOSTILE_IDENTIFIERS), text
        assert not any(element.tag.is_private for element in reread.iterall())
        assert reread.PatientIdentityRemoved == "YES"


def test_an_identifier_that_survives_in_the_header_keeps_the_file_out(monkeypatch):
    """The last check, on the written bytes: were a rule of the recipe to miss one, the file is
    left out rather than given out."""
    monkeypatch.setattr(deid, "_holds_identifier", lambda element, recipe: False)
    ds = make_dataset()
    ds.ContentLabel = PATIENT_ID  # a text element the profile keeps
    outcome = deid.deidentify_file(_bytes(ds), deid.new_recipe(b"secret"))
    assert outcome == deid.Outcome(None, "identifiers could not be removed")


def test_a_value_far_longer_than_its_vr_allows_is_damage_but_a_small_overrun_is_not():
    recipe = deid.new_recipe(b"secret")
    slightly, swallowed = make_dataset(), make_dataset()
    with Quiet():  # pydicom warns of the invalid values: they are the point
        slightly.SliceThickness = "0.48828125000000001"  # a DS of 19 characters, as vendors write
        swallowed.Modality = "MR" + "X" * 100  # a CS that read on into the next elements
        slightly, swallowed = _bytes(slightly), _bytes(swallowed)
    assert deid.deidentify_file(slightly, recipe).reason == ""
    assert deid.deidentify_file(swallowed, recipe) == deid.Outcome(None, "a damaged element")
